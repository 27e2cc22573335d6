"""/ws/datapoints/stream: the subscriber registry, origins, and subscribers that stop reading."""

from __future__ import annotations

import asyncio
import socket

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketError

from tests.helpers import SPEC_READING, raw_subscriber


@pytest.mark.gen_test
async def test_disconnected_subscriber_is_removed_from_the_broadcast_group(server):
    staying, leaving = await server.connect_stream(), await server.connect_stream()
    await server.wait_for(lambda: server.subscribers() == 2)
    assert (await server.health())[1]["subscribers"] == 2

    leaving.close()
    await server.wait_for(lambda: server.subscribers() == 1)
    assert (await server.health())[1]["subscribers"] == 1

    controller = await server.connect_controller()
    controller.send(SPEC_READING)
    assert (await staying.receive())["value"] == 23.45


@pytest.mark.gen_test
async def test_subscriber_whose_socket_vanished_is_dropped_on_next_broadcast(server):
    raw = await asyncio.get_running_loop().run_in_executor(None, raw_subscriber, server.port, 1 << 16)
    await server.wait_for(lambda: server.subscribers() == 1)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    raw.close()  # an abortive close (RST), as when a laptop drops off the network
    controller = await server.connect_controller()
    for _ in range(3):
        controller.send(SPEC_READING)
        await asyncio.sleep(0.05)
    await server.wait_for(lambda: server.subscribers() == 0)


@pytest.mark.gen_test
async def test_foreign_browser_origin_is_refused(server):
    with pytest.raises((HTTPClientError, WebSocketError)) as refused:
        await server.connect("/ws/datapoints/stream", headers={"Origin": "https://evil.example"})
    assert getattr(refused.value, "code", None) == 403
    assert server.subscribers() == 0


@pytest.mark.gen_test
async def test_same_origin_browser_is_allowed(server):
    await server.connect_stream(headers={"Origin": f"http://127.0.0.1:{server.port}"})
    assert server.subscribers() == 1


@pytest.mark.parametrize("origin, host", [
    pytest.param("https://127.0.0.1:{port}", None, id="same-host-other-scheme"),
    pytest.param("http://127.0.0.1:1", None, id="same-host-other-port"),
    pytest.param("http://127.0.0.1", None, id="same-host-default-port"),
    # DNS rebinding: the attacker's name resolves to us, so Host and Origin agree.
    pytest.param("http://rebound.example:{port}", "rebound.example:{port}", id="dns-rebinding"),
    pytest.param("null", None, id="opaque"),
])
@pytest.mark.gen_test
async def test_an_origin_that_is_not_exactly_ours_is_refused(server, origin, host):
    headers = {"Origin": origin.format(port=server.port)}
    if host:
        headers["Host"] = host.format(port=server.port)
    with pytest.raises((HTTPClientError, WebSocketError)) as refused:
        await server.connect("/ws/datapoints/stream", headers=headers)
    assert getattr(refused.value, "code", None) == 403
    assert server.subscribers() == 0


@pytest.mark.settings(public_url="https://telemetry.example.org")
@pytest.mark.gen_test
async def test_the_public_url_counts_with_its_default_port(server):
    await server.connect_stream(headers={"Origin": "https://telemetry.example.org:443"})
    assert server.subscribers() == 1


@pytest.mark.settings(allowed_origins=("https://dashboard.example",))
@pytest.mark.gen_test
async def test_configured_origin_is_allowed(server):
    await server.connect_stream(headers={"Origin": "https://dashboard.example"})
    assert server.subscribers() == 1


@pytest.mark.settings(subscriber_buffer_limit=64 * 1024)
@pytest.mark.gen_test(timeout=60)
async def test_subscriber_that_stops_reading_is_cut_off_while_others_keep_receiving(server):
    reader = await server.connect_stream()
    stalled = await asyncio.get_running_loop().run_in_executor(None, raw_subscriber, server.port, 4096)
    await server.wait_for(lambda: server.subscribers() == 2)
    controller = await server.connect_controller()

    # Each batch broadcasts about 40 kB. The kernel's socket buffers absorb the first few MB, so keep
    # going until the server notices; 300 batches would be 12 MB.
    for seq in range(300):
        controller.send({"seq": seq, "datapoints": [SPEC_READING] * 250})
        await controller.receive()
        if server.subscribers() == 1:
            break

    assert server.subscribers() == 1
    status, health = await server.health()
    assert health["subscribers_cut_off"] == 1
    received = await reader.receive_many(250 * (seq + 1), timeout=10)
    assert len({d["public_id"] for d in received}) == 250 * (seq + 1)
    stalled.close()


@pytest.mark.settings(subscriber_stall_timeout=0.5)
@pytest.mark.gen_test(timeout=60)
async def test_stalled_subscriber_on_a_quiet_stream_is_cut_off_within_seconds(server, caplog):
    """At a few readings a second the byte limit would take minutes; being behind all along counts too."""
    reader = await server.connect_stream()
    stalled = await asyncio.get_running_loop().run_in_executor(None, raw_subscriber, server.port, 4096)
    await server.wait_for(lambda: server.subscribers() == 2)
    controller = await server.connect_controller()

    sent = 0
    while server.subscribers() == 2:
        assert sent < 1000, "never cut off"  # 1,000 readings at 50/s: 20 s
        controller.send({**SPEC_READING, "seq": sent})
        await controller.receive()
        sent += 1
        await asyncio.sleep(0.02)

    assert (await server.health())[1]["subscribers_cut_off"] == 1
    assert "s behind" in caplog.text
    assert len(await reader.receive_many(sent)) == sent
    stalled.close()


@pytest.mark.settings(behind_proxy=True, max_connections_per_address=2)
@pytest.mark.gen_test
async def test_behind_a_proxy_websockets_over_the_per_address_cap_are_refused_before_the_upgrade(server):
    await server.connect_stream(), await server.connect_controller()
    with pytest.raises((HTTPClientError, WebSocketError)) as refused:
        await server.connect("/ws/datapoints/stream")
    assert getattr(refused.value, "code", None) == 503
    assert (await server.health())[1]["connections_refused"] == 1


async def _stored_cursor(server, index: int) -> str:
    """The polling cursor of the index-th stored datapoint (in ingest order)."""
    status, body = await server.api("GET", "/datapoints?after=0&limit=1000", token=server.token(role="viewer"))
    return body["data"][index]["cursor"]


@pytest.mark.gen_test(timeout=60)
async def test_a_subscriber_with_after_gets_what_it_missed_then_live_with_no_hole_or_double(server):
    controller = await server.connect_controller()
    for seq in range(5):
        controller.send({**SPEC_READING, "value": float(seq), "seq": seq})
        await controller.receive()
    cursor = await _stored_cursor(server, 1)

    async def keep_sending() -> None:  # commits while the subscriber catches up
        for seq in range(5, 105):
            controller.send({**SPEC_READING, "value": float(seq), "seq": seq})
            await controller.receive()
    sending = asyncio.ensure_future(keep_sending())
    subscriber = await server.connect("/ws/datapoints/stream?after=" + cursor)
    await sending
    received = await subscriber.receive_many(103)  # values 2 to 104
    assert sorted(d["value"] for d in received) == [float(v) for v in range(2, 105)]
    assert await subscriber.nothing_within(0.3)  # and not one twice


@pytest.mark.gen_test
async def test_a_subscriber_with_events_gets_only_those_events(server):
    pressure = await server.connect_stream("?events=evt_press01")
    everything = await server.connect_stream()
    await server.wait_for(lambda: server.subscribers() == 2)
    controller = await server.connect_controller()
    controller.send({"seq": 1, "datapoints": [SPEC_READING, {**SPEC_READING, "event_public_id": "evt_press01"}]})
    await controller.receive()
    assert [d["event_public_id"] for d in await everything.receive_many(2)] == ["evt_temp01", "evt_press01"]
    assert [d["event_public_id"] for d in await pressure.receive_many(1)] == ["evt_press01"]
    assert await pressure.nothing_within(0.3)


@pytest.mark.parametrize("query", ["?after=abc", "?events=", "?events=a%20b"])
@pytest.mark.gen_test
async def test_a_stream_query_that_cannot_be_used_is_closed_with_4400(server, query):
    subscriber = await server.connect("/ws/datapoints/stream" + query)
    code, reason = await subscriber.closed()
    assert code == 4400 and reason


@pytest.mark.gen_test(timeout=60)
async def test_a_catch_up_longer_than_its_bound_ends_with_a_recovery_frame_then_goes_live(server):
    server.execute("INSERT INTO datapoints (event_id, value, recorded_at)"
                   " SELECT (SELECT id FROM events WHERE public_id = 'evt_temp01'), n, now()"
                   " FROM generate_series(1, 10050) n")
    subscriber = await server.connect("/ws/datapoints/stream?after=0")
    caught_up = await subscriber.receive_many(10_000, timeout=30)
    assert [d["value"] for d in caught_up] == [float(n) for n in range(1, 10_001)]
    recovery = await subscriber.receive()
    assert recovery["type"] == "recovery" and recovery["complete"] is False
    assert recovery["cursor"] == caught_up[-1]["cursor"]
    controller = await server.connect_controller()
    controller.send({**SPEC_READING, "value": -1.0})
    assert (await subscriber.receive())["value"] == -1.0  # live after it
