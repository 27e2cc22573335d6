"""handlers/base.py's token checks on the WebSockets: /ws/controller/telemetry (and the stream when required)
refuses a bad token with 1008, and nothing it sent is stored."""

from __future__ import annotations

import logging
import time

import pytest

from tests.helpers import SPEC_READING, TEST_SECRET

BAD_TOKENS = [
    pytest.param(lambda s: None, "missing token", id="missing"),
    pytest.param(lambda s: "not-a-jwt", "malformed token", id="malformed"),
    pytest.param(lambda s: s.forged_token(exp=int(time.time()) - 10), "token expired", id="expired"),
    pytest.param(lambda s: s.forged_token(secret="another-secret-of-sufficient-length-0123456789"),
                 "bad token signature", id="wrong-signature"),
    pytest.param(lambda s: s.forged_token(alg="none"), "token algorithm not allowed", id="alg-none"),
    pytest.param(lambda s: s.forged_token(alg="HS512"), "token algorithm not allowed", id="alg-hs512"),
    pytest.param(lambda s: s.forged_token(exp=None), "token lacks the exp claim", id="no-exp"),
    pytest.param(lambda s: s.token(role="viewer"), "role viewer may not use this endpoint", id="viewer-role"),
    pytest.param(lambda s: s.token(role="operator"), "role operator may not use this endpoint", id="operator-role"),
]


@pytest.mark.parametrize("make_token, reason", BAD_TOKENS)
@pytest.mark.gen_test
async def test_bad_token_is_closed_with_1008_and_nothing_is_stored(server, make_token, reason):
    stream = await server.connect_stream()
    controller = await server.connect_controller(token=make_token(server))

    # Sent at once, before the close can have reached the client.
    controller.send({**SPEC_READING, "seq": 1})

    assert await controller.closed() == (1008, reason)
    assert await stream.nothing_within(0.2)
    assert server.rows() == []
    assert (await server.health())[1]["controllers"] == 0


@pytest.mark.gen_test
async def test_admin_token_may_publish(server):
    controller = await server.connect_controller(token=server.token(role="admin"))
    controller.send({**SPEC_READING, "seq": 1})
    assert (await controller.receive())["type"] == "ack"


@pytest.mark.settings(access_log=True)
@pytest.mark.gen_test
async def test_tokens_never_reach_the_log(server, caplog):
    caplog.set_level(logging.DEBUG)
    token = server.token()
    controller = await server.connect_controller(token=token)
    controller.send({**SPEC_READING, "seq": 1})
    await controller.receive()
    refused = await server.connect_controller(token=server.forged_token(secret="x" * 40))
    await refused.closed()
    controller.close()
    await server.wait_for(lambda: "controller ctl-test@127.0.0.1 disconnected" in caplog.text)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "controller ctl-test@127.0.0.1 connected" in logged
    assert "refused 127.0.0.1: bad token signature" in logged
    assert "/ws/controller/telemetry" in logged  # the access log line, without its query
    assert token not in logged and token.split(".")[2] not in logged and TEST_SECRET not in logged


@pytest.mark.gen_test
async def test_stream_needs_no_token_by_default(server):
    await server.connect_stream()
    assert (await server.health())[1]["subscribers"] == 1


@pytest.mark.settings(stream_require_token=True)
@pytest.mark.gen_test
async def test_stream_requires_a_valid_token_when_configured(server):
    anonymous = await server.connect("/ws/datapoints/stream")
    assert await anonymous.closed() == (1008, "missing token")
    forged = await server.connect("/ws/datapoints/stream?token=" + server.forged_token(secret="y" * 40))
    assert await forged.closed() == (1008, "bad token signature")
    assert (await server.health())[1]["subscribers"] == 0

    viewer = await server.connect_stream("?token=" + server.token(role="viewer", subject="browser"))
    controller = await server.connect_controller()
    controller.send(SPEC_READING)
    assert (await viewer.receive())["event_public_id"] == "evt_temp01"


@pytest.mark.gen_test
async def test_without_access_log_only_failed_requests_are_logged(server, caplog):
    caplog.set_level(logging.INFO)
    await server.health()
    await server.api("GET", "/no/such/thing")
    access = [record.getMessage() for record in caplog.records if record.name == "tornado.access"]
    assert len(access) == 1 and access[0].startswith("404 GET /api/v1/no/such/thing"), access


@pytest.mark.settings(access_log=True)
@pytest.mark.gen_test
async def test_with_access_log_every_request_is_logged(server, caplog):
    caplog.set_level(logging.INFO)
    await server.health()
    access = [record.getMessage() for record in caplog.records if record.name == "tornado.access"]
    assert len(access) == 1 and access[0].startswith("200 GET /healthz"), access
