"""Registered controllers: one token each (shown once), a scope of events, provenance, and revocation that
closes their sockets on every server process."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect

from models.timestamps import format_timestamp
from tests.helpers import ROOT, SPEC_READING, USER_PASSWORD, Peer, run_app, serving, spec_shape

SECRET = "c" * 48


def reading(event: str, value: float) -> dict:
    return {**SPEC_READING, "event_public_id": event, "value": value}


async def register(server, token: str | None = None, **body) -> dict:
    status, answer = await server.api("POST", "/controllers", {"name": "Rig 1", **body},
                                      token=token or server.token(role="admin", subject="admin"))
    assert status == 201, answer
    return answer


@pytest.mark.gen_test
async def test_an_admin_registers_a_controller_whose_token_is_shown_once_and_never_again(server):
    admin, operator, viewer = (server.token(role=role, subject=role) for role in ("admin", "operator", "viewer"))
    created = await register(server, admin, events=["evt_temp01"])
    assert created["public_id"].startswith("ctl_") and created["events"] == ["evt_temp01"]
    assert created["token_type"] == "bearer" and not created["revoked"]

    status, listed = await server.api("GET", "/controllers", token=operator)
    assert status == 200 and [c["public_id"] for c in listed["data"]] == [created["public_id"]]
    status, one = await server.api("GET", f"/controllers/{created['public_id']}", token=operator)
    assert status == 200 and one == listed["data"][0]
    for shown in (json.dumps(listed), json.dumps(one)):
        assert created["access_token"] not in shown and "token" not in shown

    assert (await server.api("GET", "/controllers", token=viewer))[0] == 403
    assert (await server.api("POST", "/controllers", {"name": "x"}, token=operator))[0] == 403
    assert (await server.api("DELETE", f"/controllers/{created['public_id']}", token=operator))[0] == 403
    refusals = [({"name": " "}, "name"), ({"name": "x", "events": []}, "events"),
                ({"name": "x", "events": ["bad id"]}, "events"), ({"name": "x", "event_prefix": "a b"}, "event_prefix"),
                ({"name": "x", "events": ["a"], "event_prefix": "a"}, "events"), ({"name": "x", "ttl": "0"}, "ttl")]
    for body, field in refusals:
        status, error = await server.api("POST", "/controllers", body, token=admin)
        assert status == 400 and field in error["error"]["details"], body
    assert (await server.api("GET", "/controllers/ctl_nothing", token=admin))[0] == 404


@pytest.mark.gen_test
async def test_a_scoped_controller_gets_a_per_item_error_outside_its_scope_and_the_rest_is_stored(server):
    listed = await register(server, events=["evt_temp01"])
    controller = await server.connect_controller(listed["access_token"])
    controller.send({"seq": 1, "datapoints": [reading("evt_temp01", 1.0), reading("evt_press01", 2.0),
                                              reading("evt_temp01", 3.0)]})
    error, ack = await controller.receive(), await controller.receive()
    assert error["type"] == "error" and error["seq"] == 1
    assert error["errors"] == [{"index": 1, "field": "event_public_id", "message": "not allowed for this controller"}]
    assert ack["type"] == "ack" and ack["public_ids"][1] is None and None not in (ack["public_ids"][0],
                                                                                 ack["public_ids"][2])
    assert [(row["event_public_id"], row["value"]) for row in server.rows()] == [("evt_temp01", 1.0),
                                                                                 ("evt_temp01", 3.0)]
    # The connection stays up for what it may write.
    controller.send({**reading("evt_temp01", 4.0), "seq": 2})
    assert (await controller.receive())["type"] == "ack"

    # A prefix, over HTTP too.
    prefixed = await register(server, event_prefix="evt_p")
    status, answer = await server.api("POST", "/datapoints", {"datapoints": [reading("evt_press01", 5.0),
                                                                             reading("evt_temp01", 6.0)]},
                                      token=prefixed["access_token"])
    assert status == 201 and answer["errors"] == {"datapoints[1].event_public_id": "not allowed for this controller"}
    status, answer = await server.api("POST", "/datapoints", reading("evt_temp01", 7.0), token=prefixed["access_token"])
    assert status == 400 and answer["error"]["message"] == "not allowed for this controller"
    assert [row["value"] for row in server.rows()] == [1.0, 3.0, 4.0, 5.0]


@pytest.mark.gen_test
async def test_every_datapoint_records_who_stored_it_in_the_api_and_the_exports_but_not_on_the_stream(server):
    admin = server.token(role="admin", subject="admin")
    registered = await register(server, admin)
    server.add_user("ops@lab.example", "operator")
    stream = await server.connect_stream()
    controller = await server.connect_controller(registered["access_token"])
    controller.send({**reading("evt_temp01", 1.0), "seq": 1})
    assert (await controller.receive())["type"] == "ack"
    streamed = await stream.receive()
    assert set(streamed) == {*spec_shape(streamed), "cursor"}  # the spec's fields, and the cursor

    status, login = await server.api("POST", "/auth/login", {"email": "ops@lab.example",
                                                             "password": USER_PASSWORD})
    assert status == 200, login
    assert (await server.api("POST", "/datapoints", reading("evt_temp01", 2.0), token=login["access_token"]))[0] == 201
    legacy = await server.connect_controller()  # a token from `app.py token --role controller`: nobody known
    legacy.send({**reading("evt_press01", 3.0), "seq": 1})
    assert (await legacy.receive())["type"] == "ack"

    status, page = await server.api("GET", "/datapoints?page_size=10", token=admin)
    assert [(row["value"], row["stored_by"]) for row in page["data"]] == [
        (3.0, None), (2.0, "ops@lab.example"), (1.0, registered["public_id"])]
    for who, value in ((registered["public_id"], 1.0), ("ops@lab.example", 2.0)):
        status, page = await server.api("GET", f"/datapoints?stored_by={who}", token=admin)
        assert [row["value"] for row in page["data"]] == [value]
        # The polling fallback filters too, and keeps the stream's shape.
        polled = (await server.api("GET", f"/datapoints?after=0&stored_by={who}", token=admin))[1]["data"]
        assert [row["value"] for row in polled] == [value] and "stored_by" not in polled[0]
    response = await server.http.fetch(server.url("/api/v1/datapoints/export.csv", "http"),
                                       headers={"Authorization": f"Bearer {admin}"})
    rows = list(csv.reader(io.StringIO(response.body.decode())))
    assert rows[0] == ["timestamp", "event", "value", "unit", "experiment", "stored_by"]
    assert [row[-1] for row in rows[1:]] == [registered["public_id"], "ops@lab.example", ""]


@pytest.mark.gen_test
async def test_revoking_a_controller_closes_its_socket_with_1008_within_a_second_and_refuses_its_token(server):
    registered = await register(server)
    controller = await server.connect_controller(registered["access_token"])
    controller.send({**reading("evt_temp01", 1.0), "seq": 1})
    assert (await controller.receive())["type"] == "ack"

    started = time.monotonic()
    status, _ = await server.api("DELETE", f"/controllers/{registered['public_id']}",
                                 token=server.token(role="admin", subject="admin"))
    assert status == 204
    code, reason = await controller.closed(timeout=1.0)
    assert (code, reason) == (1008, "token revoked") and time.monotonic() - started < 1.0
    again = await server.connect_controller(registered["access_token"])
    assert (await again.closed())[0] == 1008
    listed = (await server.api("GET", "/controllers", token=server.token(role="admin", subject="admin")))[1]["data"]
    assert listed[0]["revoked"] and listed[0]["revoked_at"]
    assert [row["value"] for row in server.rows()] == [1.0]  # what it stored stays, and still names it


@pytest.mark.gen_test(timeout=90)
async def test_a_revocation_on_one_process_or_the_command_line_closes_the_socket_held_by_another(
        database_url, tmp_path, sql):
    env = {"DATABASE_URL": database_url, "JWT_SECRET": SECRET}
    admin = run_app("token", "--role", "admin", "--subject", "admin", env=env).stdout.strip()
    with serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "a")}) as a, \
            serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "b")}) as b:
        for revoke_on in ("api", "cli"):
            added = run_app("controller", "add", f"Rig {revoke_on}", "--events", "evt_temp01", env=env)
            assert added.returncode == 0, added.stderr
            token = added.stdout.strip()
            assert token.count(".") == 2 and "\n" not in token  # only the token, for scripts
            named = re.search(r"registered (ctl_[A-Za-z0-9]+)", added.stderr)
            assert named is not None, added.stderr
            public_id = named.group(1)
            on_b = Peer(await websocket_connect(f"ws://127.0.0.1:{b.port}/ws/controller/telemetry?token={token}"))
            on_b.send({**reading("evt_temp01", 1.0), "seq": 1})
            assert (await on_b.receive())["type"] == "ack"

            started = time.monotonic()
            if revoke_on == "api":
                response = await AsyncHTTPClient().fetch(f"{a.base_url}/api/v1/controllers/{public_id}",
                                                         method="DELETE", headers={"Authorization": f"Bearer {admin}"})
                assert response.code == 204
            else:
                revoked = run_app("controller", "revoke", public_id, env=env)
                assert revoked.returncode == 0 and revoked.stdout.strip() == f"revoked {public_id}"
            assert (await on_b.closed(timeout=5.0))[0] == 1008
            # Within a second of the revocation (the command line's own start-up excluded).
            assert time.monotonic() - started < (1.0 if revoke_on == "api" else 5.0)

    listed = [json.loads(line) for line in run_app("controller", "list", env=env).stdout.splitlines()]
    assert [(c["name"], c["revoked"]) for c in listed] == [("Rig api", True), ("Rig cli", True)]
    assert all("token" not in json.dumps(c) for c in listed)
    assert run_app("controller", "revoke", "ctl_nothing", env=env).returncode == 1
    refused = run_app("controller", "add", "x", "--events", "bad id", env=env)
    assert refused.returncode == 2 and "every event must be an event id" in refused.stderr


@pytest.mark.gen_test(timeout=30)
async def test_the_listing_shows_who_is_connected_from_where_and_how_busy(server):
    operator = server.token(role="operator", subject="operator")
    registered = await register(server)

    async def shown() -> dict:
        status, answer = await server.api("GET", f"/controllers/{registered['public_id']}", token=operator)
        assert status == 200
        return answer

    before = await shown()
    assert (before["connected"], before["connected_since"], before["last_seen"]) == (False, None, None)
    controller = await server.connect_controller(registered["access_token"])

    async def connected() -> bool:
        return (await shown())["connected"]

    await server.wait_for(connected, timeout=5)
    controller.send({"seq": 1, "datapoints": [reading("evt_temp01", float(n)) for n in range(30)]})
    assert (await controller.receive())["type"] == "ack"

    async def counted() -> bool:
        return (await shown())["readings_per_second"] > 0

    await server.wait_for(counted, timeout=5)
    now = await shown()
    assert now["address"] == "127.0.0.1" and now["connected_since"] and now["last_reading_at"]
    assert 0 < now["readings_per_second"] <= 30

    controller.close()

    async def disconnected() -> bool:
        return not (await shown())["connected"]

    await server.wait_for(disconnected, timeout=5)
    after = await shown()
    assert after["last_seen"] and after["last_reading_at"] == now["last_reading_at"]  # kept once it is gone


@pytest.mark.gen_test(timeout=90)
async def test_a_controller_killed_with_sigkill_shows_disconnected_on_every_process_within_two_heartbeats(
        database_url, tmp_path, sql):
    heartbeat = 2.0
    env = {"DATABASE_URL": database_url, "JWT_SECRET": SECRET, "WS_HEARTBEAT_INTERVAL": str(heartbeat)}
    admin = run_app("token", "--role", "admin", "--subject", "admin", env=env).stdout.strip()
    token = run_app("controller", "add", "Rig", env=env).stdout.strip()
    with serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "a")}) as a, \
            serving({**env, "WEBMACS_VAR_DIR": str(tmp_path / "b")}) as b:
        simulator = subprocess.Popen([sys.executable, "app.py", "simulate", "--token", token, "--events", "evt_temp01",
                                      "--url", f"ws://127.0.0.1:{b.port}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            def listed(server) -> dict:
                request = urllib.request.Request(f"{server.base_url}/api/v1/controllers",
                                                 headers={"Authorization": f"Bearer {admin}"})
                with urllib.request.urlopen(request) as response:
                    [controller] = json.loads(response.read())["data"]
                    return controller

            def wait_until(condition, seconds: float) -> float:
                started = time.monotonic()
                while not condition():
                    assert time.monotonic() - started < seconds, "not in time"
                    time.sleep(0.05)
                return time.monotonic() - started

            wait_until(lambda: all(listed(s)["connected"] and listed(s)["last_reading_at"] for s in (a, b)), 15)
            simulator.kill()  # SIGKILL: no close frame
            simulator.wait()
            waited = wait_until(lambda: not any(listed(s)["connected"] for s in (a, b)), 2 * heartbeat)
            assert waited < 2 * heartbeat
        finally:
            if simulator.poll() is None:
                simulator.kill()


@pytest.mark.gen_test(timeout=30)
async def test_status_subscribers_hear_of_controllers_and_stale_events_and_others_only_of_datapoints(server):
    operator = server.token(role="operator", subject="operator")
    registered = await register(server)
    assert (await server.api("PUT", "/events/evt_temp01", {"stale_after": 60}, token=operator))[0] == 200
    plain = await server.connect_stream()
    watching = await server.connect_stream("?status=1")
    first = await watching.receive_many(2)  # the state now: the controller, and the watched event
    assert {(f["type"], f.get("public_id") or f.get("event_public_id")) for f in first} == {
        ("controller", registered["public_id"]), ("event_status", "evt_temp01")}
    assert all(not f["connected"] for f in first if f["type"] == "controller")
    assert all(f["stale"] for f in first if f["type"] == "event_status")  # no reading yet

    controller = await server.connect_controller(registered["access_token"])
    connected = await watching.receive(timeout=5)
    assert (connected["type"], connected["public_id"], connected["connected"]) == (
        "controller", registered["public_id"], True)

    controller.send({**reading("evt_temp01", 1.0), "timestamp": format_timestamp(datetime.now(UTC)), "seq": 1})
    assert (await controller.receive())["type"] == "ack"
    frames = [await watching.receive(timeout=5) for _ in range(2)]  # the datapoint, and the event's new status
    fresh = next(f for f in frames if f.get("type") == "event_status")
    assert (fresh["event_public_id"], fresh["stale"]) == ("evt_temp01", False)
    assert any(f.get("event_public_id") == "evt_temp01" and "type" not in f for f in frames)

    controller.close()
    gone = await watching.receive(timeout=5)
    assert (gone["type"], gone["connected"]) == ("controller", False)
    # The spec's subscriber got the datapoint and nothing else.
    datapoint = await plain.receive()
    assert set(datapoint) == {*spec_shape(datapoint), "cursor"}
    assert await plain.nothing_within(1.5)
