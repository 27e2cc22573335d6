"""/healthz, and what controllers see while the database is away: an error to retry, never a false ack."""

from __future__ import annotations

import pytest

from tests.helpers import SPEC_READING, database_unreachable


@pytest.mark.gen_test
async def test_health_reports_database_and_connection_counts(server):
    status, health = await server.health()
    assert status == 200
    assert health["status"] == "ok" and health["database"] == "reachable"
    assert health["subscribers"] == 0 and health["controllers"] == 0

    await server.connect_stream()
    controller = await server.connect_controller()
    await server.wait_for(lambda: server.controllers() == 1)
    status, health = await server.health()
    assert (health["subscribers"], health["controllers"]) == (1, 1)

    controller.close()
    await server.wait_for(lambda: server.controllers() == 0)
    assert (await server.health())[1]["controllers"] == 0


@pytest.mark.gen_test(timeout=60)
async def test_database_outage_answers_503_and_unstored_readings_are_not_acked(server):
    controller = await server.connect_controller()
    with database_unreachable(server):
        status, health = await server.health()
        assert status == 503 and health["database"] == "unreachable"

        controller.send({**SPEC_READING, "seq": 1})
        error = await controller.receive(timeout=15)
        assert error["type"] == "error" and error["seq"] == 1 and error["retry"] is True
        assert controller.conn.close_code is None

    await server.wait_for(lambda: _healthy(server), timeout=15)
    controller.send({**SPEC_READING, "seq": 1})  # what a controller does with an unacked reading
    ack = await controller.receive(timeout=15)
    assert ack["type"] == "ack"
    assert [row["public_id"] for row in server.rows()] == ack["public_ids"]


async def _healthy(server) -> bool:
    return (await server.health())[0] == 200
