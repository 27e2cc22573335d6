"""/api/v1/experiments: one running at a time (under concurrency too), tagging, stop, CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
import tracemalloc
from typing import TypedDict

import pytest

from tests.helpers import SPEC_READING


class Received(TypedDict):
    """What the export's streaming callback counted."""

    bytes: int
    lines: int
    head: bytes


@pytest.mark.gen_test
async def test_starting_tags_datapoints_from_websocket_and_http_until_stopped(server):
    operator = server.token(role="operator")
    status, started = await server.api("POST", "/experiments", {"name": "Run 1", "public_id": "exp_001"},
                                       token=operator)
    assert status == 201 and started["running"] and started["public_id"] == "exp_001"
    stream = await server.connect_stream()
    controller = await server.connect_controller()
    controller.send(SPEC_READING)
    assert (await stream.receive())["experiment_public_id"] == "exp_001"
    status, body = await server.api("POST", "/datapoints", SPEC_READING, token=operator)
    assert body["data"][0]["experiment_public_id"] == "exp_001"
    assert (await stream.receive())["public_id"] == body["data"][0]["public_id"]

    status, stopped = await server.api("PUT", "/experiments/exp_001/stop", token=operator)
    assert status == 200 and not stopped["running"] and stopped["stopped_at"] >= stopped["started_at"]
    controller.send(SPEC_READING)
    assert (await stream.receive())["experiment_public_id"] is None
    status, listed = await server.api("GET", "/experiments", token=operator)
    assert [(x["public_id"], x["readings"], x["readings_is_lower_bound"]) for x in listed["data"]] == [
        ("exp_001", 2, False)]


@pytest.mark.gen_test
async def test_only_one_of_many_concurrent_starts_wins(server):
    operator = server.token(role="operator")
    answers = await asyncio.gather(*(server.api("POST", "/experiments", {"name": f"Run {i}"}, token=operator)
                                     for i in range(6)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * 5
    status, listed = await server.api("GET", "/experiments", token=operator)
    assert sum(e["running"] for e in listed["data"]) == 1


@pytest.mark.gen_test
async def test_rename_delete_and_not_found(server):
    admin = server.token(role="admin")
    await server.api("POST", "/experiments", {"name": "Run", "public_id": "exp_a"}, token=admin)
    status, renamed = await server.api("PUT", "/experiments/exp_a", {"name": "Calibration"}, token=admin)
    assert status == 200 and renamed["name"] == "Calibration"
    await server.api("POST", "/datapoints", SPEC_READING, token=admin)
    assert (await server.api("DELETE", "/experiments/exp_a", token=admin))[0] == 409
    assert (await server.api("DELETE", "/experiments/exp_a?cascade=true", token=admin))[0] == 204
    assert server.rows() == []
    assert (await server.api("GET", "/experiments/exp_a", token=admin))[0] == 404
    assert (await server.api("PUT", "/experiments/exp_a/stop", token=admin))[0] == 404
    assert (await server.api("POST", "/experiments", {"name": ""}, token=admin))[0] == 400
    assert (await server.api("POST", "/experiments", {"name": "x"}, token=server.token(role="viewer")))[0] == 403


@pytest.mark.gen_test
async def test_the_list_pages_newest_first_and_a_page_after_the_last_is_none(server):
    # Seven, two of them started at the same moment: the id breaks the tie, so none is shown twice or skipped.
    server.execute("INSERT INTO experiments (public_id, name, started_at, stopped_at)"
                   " SELECT 'exp_' || n, 'Run ' || n, '2026-01-01'::timestamptz + least(n, 6) * interval '1 hour',"
                   " '2026-01-01'::timestamptz + least(n, 6) * interval '1 hour' + interval '1 minute'"
                   " FROM generate_series(1, 7) n")
    viewer = server.token(role="viewer")
    seen, before = [], ""
    while True:
        status, body = await server.api("GET", f"/experiments?limit=3{before}", token=viewer)
        assert status == 200 and len(body["data"]) <= 3, body
        seen += [experiment["public_id"] for experiment in body["data"]]
        if body["next_before"] is None:
            break
        before = f"&before={body['next_before']}"
    assert seen == ["exp_7", "exp_6", "exp_5", "exp_4", "exp_3", "exp_2", "exp_1"]
    status, body = await server.api("GET", "/experiments", token=viewer)
    assert len(body["data"]) == 7 and body["next_before"] is None  # fewer than a page: all, and no next
    for bad in ("before=exp_gone", "limit=0", "limit=501"):
        status, body = await server.api("GET", f"/experiments?{bad}", token=viewer)
        assert status == 400 and body["error"]["message"].startswith("invalid"), (bad, body)


@pytest.mark.gen_test
async def test_a_span_lists_the_experiments_that_ran_in_it(server):
    """What the history charts shade: each experiment running at any moment of the span, newest first."""
    server.execute(
        "INSERT INTO experiments (public_id, name, started_at, stopped_at) VALUES"
        " ('exp_old', 'Ended before', '2026-01-01 08:00Z', '2026-01-01 09:00Z'),"
        " ('exp_over', 'Reaches in', '2026-01-01 09:30Z', '2026-01-01 10:30Z'),"
        " ('exp_in', 'Inside', '2026-01-01 11:00Z', '2026-01-01 11:30Z'),"
        " ('exp_late', 'After', '2026-01-01 12:00Z', '2026-01-01 13:00Z'),"
        " ('exp_now', 'Running', '2026-01-01 14:00Z', NULL)")
    viewer = server.token(role="viewer")

    async def during(start: str, end: str) -> list[str]:
        status, body = await server.api("GET", f"/experiments?from={start}&to={end}", token=viewer)
        assert status == 200, body
        assert all("readings" not in experiment for experiment in body["data"])
        return [experiment["public_id"] for experiment in body["data"]]

    assert await during("2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z") == ["exp_in", "exp_over"]
    assert await during("2026-01-01T10:45:00Z", "2026-01-01T10:50:00Z") == []  # between two
    assert await during("2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z") == ["exp_now"]  # still running
    assert await during("2025-12-01T00:00:00Z", "2026-01-01T08:00:00Z") == []  # ends where the first starts
    status, body = await server.api("GET", "/experiments?from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z&limit=2",
                                    token=viewer)
    assert [experiment["public_id"] for experiment in body["data"]] == ["exp_now", "exp_late"]  # the newest two
    for bad in ("from=2026-01-01T10:00:00Z", "from=2026-01-01T10:00:00Z&to=2026-01-01T09:00:00Z",
                "from=yesterday&to=2026-01-01T09:00:00Z", "from=2026-01-01T10:00:00Z&to=2026-01-02T00:00:00Z&limit=0",
                "from=2026-01-01T10:00:00Z&to=2026-01-02T00:00:00Z&running=true"):
        status, body = await server.api("GET", f"/experiments?{bad}", token=viewer)
        assert status == 400 and body["error"]["message"].startswith("invalid"), (bad, body)


@pytest.mark.gen_test(timeout=120)
async def test_csv_export_of_a_large_experiment_streams_with_bounded_memory(server):
    rows = 200_000
    server.execute("INSERT INTO experiments (public_id, name) VALUES ('exp_big', 'Big')")
    server.execute(
        "INSERT INTO datapoints (event_id, experiment_id, value, recorded_at)"
        " SELECT (SELECT id FROM events WHERE public_id = 'evt_temp01'),"
        " (SELECT id FROM experiments WHERE public_id = 'exp_big'), g / 10.0,"
        " timestamptz '2025-01-15 00:00:00Z' + g * interval '1 millisecond'"
        " FROM generate_series(1, %s) g", rows)
    received: Received = {"bytes": 0, "lines": 0, "head": b""}

    def take(chunk: bytes) -> None:  # count, do not keep: the memory measured is the server's
        received["bytes"] += len(chunk)
        received["lines"] += chunk.count(b"\n")
        if len(received["head"]) < 200:
            received["head"] += chunk[:200]

    tracemalloc.start()
    try:
        response = await server.http.fetch(server.url("/api/v1/experiments/exp_big/export.csv", "http"),
                                           headers={"Authorization": "Bearer " + server.token(role="viewer")},
                                           streaming_callback=take, request_timeout=120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="exp_big.csv"'
    assert received["lines"] == rows + 1
    head = list(csv.reader(io.StringIO(b"\n".join(received["head"].split(b"\n")[:2]).decode())))
    assert head[0] == ["timestamp", "event", "value", "unit", "stored_by"]
    assert head[1] == ["2025-01-15T00:00:00.001Z", "evt_temp01", "0.1", "°C", ""]
    # A fixed chunk at a time: peak memory stays a small fraction of the ~9 MB sent.
    assert received["bytes"] > 8_000_000 and peak < received["bytes"] / 4, (peak, received["bytes"])
