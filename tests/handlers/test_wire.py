"""handlers/wire.py and the heartbeat settings: Tornado's pings at WS_HEARTBEAT_INTERVAL, silent peers dropped,
busy controllers kept (their readings count as pongs)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from tests.helpers import SPEC_READING, raw_subscriber, raw_websocket


@pytest.mark.settings(heartbeat_interval=0.2)
@pytest.mark.gen_test
async def test_pings_arrive_at_the_configured_interval_on_both_endpoints(server):
    for peer in (await server.connect_stream(), await server.connect_controller()):
        pings: list[float] = []
        peer.conn.on_ping = lambda data, pings=pings: pings.append(time.monotonic())
        await asyncio.sleep(1.1)
        gaps = sorted(later - earlier for earlier, later in itertools.pairwise(pings))
        assert 3 <= len(pings) <= 6, pings
        assert 0.15 < gaps[len(gaps) // 2] < 0.3, gaps  # the median gap: robust to one late tick


@pytest.mark.settings(heartbeat_interval=0.2)
@pytest.mark.gen_test
async def test_peer_that_stops_answering_pings_is_dropped(server):
    answering = await server.connect_stream()
    silent = await asyncio.get_running_loop().run_in_executor(None, raw_subscriber, server.port, 1 << 16)
    await server.wait_for(lambda: server.subscribers() == 2)

    # A ping unanswered for one interval starts the close; Tornado then waits 5 s for the peer's
    # side of the close handshake before it cuts the socket.
    await server.wait_for(lambda: server.subscribers() == 1, timeout=0.2 + 0.2 + 5 + 2)
    assert await answering.nothing_within(0.5)  # pings only; the answering one is still connected
    assert server.subscribers() == 1
    silent.close()


@pytest.mark.settings(heartbeat_interval=0.3, controller_window=1000)
@pytest.mark.gen_test(timeout=90)
async def test_controller_faster_than_the_database_is_slowed_down_not_timed_out(server):
    """Its pong waits behind its own queued readings; the server must not take that for a dead peer."""
    controller = await server.connect_controller()
    most_waiting = 0

    def watch_queue() -> None:
        nonlocal most_waiting
        most_waiting = max(most_waiting, server.app.ingest.waiting_rows)
    watcher = asyncio.get_running_loop().create_task(_every(0.005, watch_queue))

    count = 10_000
    for seq in range(count):  # all queued at once, far more than the window
        controller.send(json.dumps({**SPEC_READING, "seq": seq}))
    acked: set[int] = set()
    while len(acked) < count:
        answer = await controller.receive(timeout=20)
        assert answer["type"] == "ack", answer
        acked.add(answer["seq"])
    watcher.cancel()

    assert controller.conn.close_code is None
    assert len(server.rows()) == count
    assert most_waiting <= 1001  # it stopped reading once the window was full


async def _every(seconds: float, action) -> None:
    while True:
        action()
        await asyncio.sleep(seconds)


@pytest.mark.gen_test
async def test_an_unmasked_client_frame_is_closed_with_1002_and_not_read(server):
    """RFC 6455, 5.1: clients mask every frame; a server must close the connection on one that is not."""
    path = "/ws/controller/telemetry?token=" + server.token()
    sock = await asyncio.get_running_loop().run_in_executor(None, raw_websocket, server.port, path)
    await server.wait_for(lambda: server.controllers() == 1)
    text = json.dumps({**SPEC_READING, "seq": 1}).encode()
    sock.sendall(bytes([0x81, len(text)]) + text)  # FIN + text, mask bit clear

    sock.settimeout(5)
    answer = await asyncio.get_running_loop().run_in_executor(None, sock.recv, 64)
    assert answer[0] == 0x88 and int.from_bytes(answer[2:4], "big") == 1002, answer  # a close frame, 1002
    await server.wait_for(lambda: server.controllers() == 0)
    assert server.rows() == []
    sock.close()
