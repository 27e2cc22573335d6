"""The reference controller: readings flow, and what was not acked is sent again until it is."""

from __future__ import annotations

import asyncio

import pytest

from tornado.websocket import websocket_connect

from controller.simulator import Simulator
from handlers.telemetry import TelemetryHandler
from tests.handlers.test_health import _database_unreachable


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

    with _database_unreachable(server):
        await server.wait_for(lambda: len(simulator.unacked) >= 3, timeout=15)
        unacked_before_reconnect = set(simulator.unacked)
        TelemetryHandler.close_all()  # as when the server restarts
        await server.wait_for(lambda: simulator.connections == 2, timeout=15)

    await server.wait_for(lambda: not unacked_before_reconnect & set(simulator.unacked), timeout=30)
    stop.set()
    await running
    assert not simulator.unacked and simulator.rejected == 0
    assert len(server.rows()) == simulator.sent == simulator.acked


@pytest.mark.gen_test(timeout=30)
async def test_a_reading_measured_as_the_connection_closes_is_kept_for_the_reconnect(server):
    url = server.url("/ws/controller/telemetry?token=" + server.token())
    simulator = Simulator(url, ["evt_temp01"], rate=1, batch=1)
    conn = await websocket_connect(url)
    conn.close()
    assert await conn.read_message() is None

    simulator._measure(conn)  # as when the server goes away between two readings: must not raise

    assert simulator.sent == 1 and len(simulator.unacked) == 1
