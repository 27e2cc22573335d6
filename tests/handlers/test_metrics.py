"""/metrics: Prometheus' text format, agreeing with /healthz and with what controllers were told."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tornado.websocket import websocket_connect

from controller.simulator import Simulator
from models.tokens import issue_token
from tests.helpers import SPEC_READING, Peer, serving


async def scrape(server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels)."""
    response = await server.http.fetch(server.url("/metrics", "http"))
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.body.decode())
            for sample in family.samples}


@pytest.mark.gen_test(timeout=60)
async def test_counters_agree_with_healthz_and_with_what_a_simulator_run_acked(server):
    stream = await server.connect_stream()
    simulator = Simulator(server.url("/ws/controller/telemetry?token=" + server.token()),
                          ["evt_temp01", "evt_press01"], rate=50, batch=4)
    stop = asyncio.Event()
    running = asyncio.ensure_future(simulator.run(stop))
    await server.wait_for(lambda: simulator.acked >= 100)
    during = await scrape(server)
    assert during[("webmacs_connections_open", (("endpoint", "controllers"),))] == 1
    assert during[("webmacs_connections_open", (("endpoint", "subscribers"),))] == 1
    stop.set()
    await running
    await server.wait_for(lambda: server.controllers() == 0)

    metrics, (_, health) = await scrape(server), await server.health()
    assert metrics[("webmacs_readings_accepted_total", ())] == health["readings_committed"] == simulator.acked
    assert metrics[("webmacs_stream_deliveries_total", ())] == simulator.acked  # one subscriber
    assert metrics[("webmacs_ingest_statement_rows_sum", ())] == simulator.acked
    assert metrics[("webmacs_ingest_commit_seconds_count", ())] == metrics[("webmacs_ingest_statement_rows_count", ())]
    assert metrics[("webmacs_connections_open", (("endpoint", "controllers"),))] == 0
    assert len(await stream.receive_many(simulator.acked)) == simulator.acked


@pytest.mark.gen_test
async def test_rejected_readings_are_counted_by_reason(server):
    controller = await server.connect_controller()
    controller.send({"seq": 1, "datapoints": [SPEC_READING, {**SPEC_READING, "value": "x"},
                                              {**SPEC_READING, "event_public_id": "evt_nope"}]})
    controller.send("not json")
    answers = await controller.receive_many(3)
    assert [answer["type"] for answer in answers] == ["error", "ack", "error"]
    metrics = await scrape(server)
    assert metrics[("webmacs_readings_accepted_total", ())] == 1
    rejected = {labels[0][1]: value for (name, labels), value in metrics.items()
                if name == "webmacs_readings_rejected_total"}
    assert rejected == {"invalid": 1, "out_of_scope": 0, "unknown_event": 1, "refused_by_database": 0,
                        "database_unavailable": 0}
    assert metrics[("webmacs_messages_unreadable_total", ())] == 1


@pytest.mark.gen_test
async def test_failed_logins_are_counted(server):
    for _ in range(2):
        await server.api("POST", "/auth/login", {"email": "nobody@lab.example", "password": "wrong password"})
    assert (await scrape(server))[("webmacs_login_failures_total", ())] == 2


@pytest.mark.gen_test(timeout=60)
async def test_processes_sharing_a_multiprocess_directory_report_their_sum(database_url, tmp_path, sql):
    """PROMETHEUS_MULTIPROC_DIR: whichever process is scraped, the counters are those of all of them."""
    shared = {"DATABASE_URL": database_url, "JWT_SECRET": "m" * 48, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    (tmp_path / "prom").mkdir()
    token = issue_token("m" * 48, "ctl-metrics", "controller", 600)
    with serving({**shared, "WEBMACS_VAR_DIR": str(tmp_path / "a")}) as a, \
            serving({**shared, "WEBMACS_VAR_DIR": str(tmp_path / "b")}) as b:
        for server, count in ((a, 3), (b, 2)):
            controller = Peer(await websocket_connect(f"ws://127.0.0.1:{server.port}/ws/controller/telemetry"
                                                      f"?token={token}"))
            controller.send({"seq": 1, "datapoints": [SPEC_READING] * count})
            assert (await controller.receive())["type"] == "ack"
            controller.close()
        for server in (a, b):
            with urllib.request.urlopen(server.base_url + "/metrics") as response:
                text = response.read().decode()
            accepted = [sample.value for family in text_string_to_metric_families(text)
                        for sample in family.samples if sample.name == "webmacs_readings_accepted_total"]
            assert accepted == [5.0], text
