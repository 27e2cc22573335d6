"""The reference controller: readings flow, and what was not acked is sent again until it is."""

from __future__ import annotations

import asyncio

import pytest

from controller.simulator import Simulator
from handlers.telemetry import TelemetryHandler
from tests.helpers import database_unreachable


@pytest.mark.gen_test(timeout=60)
async def test_simulator_readings_are_stored_and_acked(server):
    simulator = Simulator(server.url("/ws/controller/telemetry?token=" + server.token()),
                          ["evt_temp01", "evt_press01"], rate=50, batch=1)
    stop = asyncio.Event()
    running = asyncio.ensure_future(simulator.run(stop))
    await server.wait_for(lambda: simulator.acked >= 20)
    stop.set()
    await running
    rows = server.rows()
    assert len(rows) == simulator.sent == simulator.acked
    assert {row["event_public_id"] for row in rows} == {"evt_temp01", "evt_press01"}
    assert all(10 < row["value"] < 40 for row in rows)  # plausible: a wave around a base value


@pytest.mark.gen_test(timeout=90)
async def test_simulator_resends_unacked_readings_after_a_reconnect(server):
    simulator = Simulator(server.url("/ws/controller/telemetry?token=" + server.token()),
                          ["evt_temp01"], rate=40, batch=4)
    stop = asyncio.Event()
    running = asyncio.ensure_future(simulator.run(stop))
    await server.wait_for(lambda: simulator.acked >= 8)

    with database_unreachable(server):
        await server.wait_for(lambda: len(simulator.unacked) >= 3, timeout=15)
        unacked_before_reconnect = set(simulator.unacked)
        TelemetryHandler.close_all()  # as when the server restarts
        await server.wait_for(lambda: simulator.connections == 2, timeout=15)

    await server.wait_for(lambda: not unacked_before_reconnect & set(simulator.unacked), timeout=30)
    stop.set()
    await running
    assert not simulator.unacked and simulator.rejected == 0
    assert len(server.rows()) == simulator.sent == simulator.acked


@pytest.mark.gen_test(timeout=90)
async def test_readings_measured_while_the_server_closes_the_connection_go_out_after_the_reconnect(server):
    """Closed again and again while it sends 200 messages a second, the simulator neither crashes nor loses
    a reading: whatever it measured as a connection closed is resent on the next one."""
    simulator = Simulator(server.url("/ws/controller/telemetry?token=" + server.token()),
                          ["evt_temp01"], rate=200, batch=1)
    stop = asyncio.Event()
    running = asyncio.ensure_future(simulator.run(stop))
    await server.wait_for(lambda: simulator.acked >= 20)

    for _ in range(3):
        connections = simulator.connections
        await server.wait_for(lambda: server.controllers() == 1)
        TelemetryHandler.close_all()  # as when the server restarts
        await server.wait_for(lambda before=connections: simulator.connections > before, timeout=15)

    await server.wait_for(lambda: not simulator.unacked, timeout=30)
    stop.set()
    await running  # raises if the simulator crashed on a closed connection
    assert simulator.rejected == 0 and simulator.fatal is None and simulator.acked == simulator.sent
    # Exactly once: a reading whose ack the close cut off was stored, and its resend is recognised.
    assert len(server.rows()) == simulator.sent
