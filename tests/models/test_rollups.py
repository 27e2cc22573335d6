"""GET /api/v1/datapoints/series: buckets read from rollups (and raw readings at the edges) equal a plain
SQL aggregation of the raw readings, over random ranges, after deletes and late readings."""

from __future__ import annotations

import asyncio
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from models.timestamps import format_timestamp
from tests.helpers import run_app

EVENTS = ("evt_temp01", "evt_press01")
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=3)


def readings(rng: random.Random, start: datetime, end: datetime, step: float) -> list[dict]:
    out, moment = [], start
    while moment < end:
        for event in EVENTS:
            out.append({"event_public_id": event, "value": round(rng.gauss(20, 5), 3),
                        "timestamp": format_timestamp(moment + timedelta(milliseconds=rng.randrange(1000)))})
        moment += timedelta(seconds=step * rng.uniform(0.5, 1.5))
    return out


async def post(server, token: str, batch: list[dict]) -> None:
    for at in range(0, len(batch), 500):
        status, body = await server.api("POST", "/datapoints", {"datapoints": batch[at:at + 500]}, token=token)
        assert status == 201 and not body["errors"], body


def oracle(server, event: str, since: datetime, until: datetime, width: int) -> list[dict]:
    """The same buckets, straight from the raw readings."""
    with server.sql.cursor() as cur:
        cur.execute(
            "SELECT date_bin(%s * interval '1 second', d.recorded_at, 'epoch'), min(d.value), max(d.value),"
            " avg(d.value), (array_agg(d.value ORDER BY d.recorded_at DESC, d.id DESC))[1], count(*)"
            " FROM datapoints d JOIN events e ON e.id = d.event_id"
            " WHERE e.public_id = %s AND d.recorded_at >= %s AND d.recorded_at < %s GROUP BY 1 ORDER BY 1",
            (width, event, since, until))
        return [{"t": format_timestamp(t), "min": low, "max": high, "avg": avg, "last": last, "count": count}
                for t, low, high, avg, last, count in cur.fetchall()]


async def series(server, token: str, since: datetime, until: datetime, points: int) -> dict:
    query = "&".join(f"event_public_id={event}" for event in EVENTS)
    status, body = await server.api(
        "GET", f"/datapoints/series?{query}&from={format_timestamp(since)}&to={format_timestamp(until)}"
               f"&points={points}", token=token)
    assert status == 200, body
    return body


async def assert_exact(server, token: str, rng: random.Random, ranges: int = 12) -> None:
    for _ in range(ranges):
        since = START + timedelta(seconds=rng.uniform(-3600, 3 * 86400))
        until = since + timedelta(seconds=rng.choice([50, 600, 5000, 40_000, 200_000, 300_000]) * rng.uniform(0.5, 1))
        since, until = since.replace(microsecond=since.microsecond // 1000 * 1000), until.replace(microsecond=0)
        points = rng.choice([1, 7, 300, 500, 2000])
        answer = await series(server, token, since, until, points)
        width = answer["bucket_seconds"]
        assert math.ceil((until - since).total_seconds() / width) <= points
        for event in EVENTS:
            expected, got = oracle(server, event, since, until, width), answer["series"][event]
            assert [b["t"] for b in got] == [b["t"] for b in expected], (since, until, width)
            for mine, theirs in zip(got, expected, strict=True):
                assert (mine["count"], mine["min"], mine["max"], mine["last"]) == \
                       (theirs["count"], theirs["min"], theirs["max"], theirs["last"]), (since, until, width, mine)
                assert mine["avg"] == pytest.approx(theirs["avg"], rel=1e-9)


@pytest.mark.gen_test(timeout=120)
async def test_series_equals_the_raw_aggregation_over_random_ranges_deletes_and_late_readings(server):
    rng = random.Random(11)
    admin = server.token(role="admin", subject="admin@lab.example")
    await post(server, admin, readings(rng, START, NOW - timedelta(minutes=1), 240))
    await assert_exact(server, admin, rng)

    # A spike deleted again: min and max must come back to what is left (rollups cannot subtract them).
    await post(server, admin, [{"event_public_id": "evt_temp01", "value": 1e6,
                                "timestamp": format_timestamp(START + timedelta(hours=30, seconds=17))}])
    status, page = await server.api("GET", "/datapoints?page_size=1&event_public_id=evt_temp01"
                                           f"&from={format_timestamp(START + timedelta(hours=30))}"
                                           f"&to={format_timestamp(START + timedelta(hours=30, minutes=1))}",
                                    token=admin)
    assert page["data"][0]["value"] == 1e6
    assert (await server.api("DELETE", f"/datapoints/{page['data'][0]['public_id']}", token=admin))[0] == 204
    # Late readings, with timestamps inside buckets that exist already.
    await post(server, admin, readings(rng, START + timedelta(hours=5), START + timedelta(hours=9), 600))
    await assert_exact(server, admin, rng)

    # An experiment's readings, then the experiment deleted with them.
    await server.api("POST", "/experiments", {"name": "Run", "public_id": "exp_run"}, token=admin)
    await post(server, admin, readings(rng, START + timedelta(hours=40), START + timedelta(hours=41), 60))
    await server.api("PUT", "/experiments/exp_run/stop", token=admin)
    assert (await server.api("DELETE", "/experiments/exp_run?cascade=true", token=admin))[0] == 204
    await assert_exact(server, admin, rng)


@pytest.mark.gen_test(timeout=60)
async def test_concurrent_deletes_and_readings_in_one_bucket_leave_it_exact(server):
    """Each delete recomputes its minute and hour; at the same time, they used to collide on the row."""
    admin = server.token(role="admin", subject="admin@lab.example")
    hour = (NOW - timedelta(hours=2)).replace(minute=0, second=0)
    moments = [hour + timedelta(minutes=10, milliseconds=250 * n) for n in range(80)]
    await post(server, admin, [{"event_public_id": "evt_temp01", "value": float(n), "timestamp": format_timestamp(m)}
                               for n, m in enumerate(moments)])
    status, page = await server.api("GET", "/datapoints?page_size=80&event_public_id=evt_temp01", token=admin)
    doomed = [row["public_id"] for row in page["data"][::2]]
    late = [{"event_public_id": "evt_temp01", "value": 1000.0 + n,
             "timestamp": format_timestamp(hour + timedelta(minutes=10, seconds=7, milliseconds=n))} for n in range(5)]
    answers = await asyncio.gather(
        *(server.api("DELETE", f"/datapoints/{public_id}", token=admin) for public_id in doomed),
        *(server.api("POST", "/datapoints", reading, token=admin) for reading in late))
    assert [status for status, _ in answers] == [204] * len(doomed) + [201] * len(late)
    for points in (60, 1):  # minute rollups, then the hour's
        answer = await series(server, admin, hour, hour + timedelta(hours=1), points)
        expected = oracle(server, "evt_temp01", hour, hour + timedelta(hours=1), answer["bucket_seconds"])
        got = answer["series"]["evt_temp01"]
        assert [(b["t"], b["count"], b["min"], b["max"], b["last"]) for b in got] == \
               [(b["t"], b["count"], b["min"], b["max"], b["last"]) for b in expected]
        assert got[0]["count"] == 80 - len(doomed) + len(late)


@pytest.mark.gen_test(timeout=60)
async def test_series_rules_and_errors(server):
    viewer = server.token(role="viewer")
    now = format_timestamp(NOW)
    earlier = format_timestamp(NOW - timedelta(hours=1))
    cases = [("", 400, "event_public_id"), (f"event_public_id=evt_temp01&to={now}", 400, "from"),
             (f"event_public_id=evt_temp01&from={now}&to={earlier}", 400, "to"),
             (f"event_public_id=evt_temp01&from={earlier}&to={now}&points=2001", 400, "points"),
             (f"event_public_id=evt_nope&from={earlier}&to={now}", 404, "event_public_id"),
             ("&".join(f"event_public_id=e{n}" for n in range(101)) + f"&from={earlier}&to={now}", 400,
              "event_public_id")]
    for query, status, field in cases:
        got, body = await server.api("GET", f"/datapoints/series?{query}", token=viewer)
        assert got == status and field in body["error"]["details"], (query, body)
    got, body = await server.api("GET", f"/datapoints/series?event_public_id=evt_temp01&from={earlier}&to={now}",
                                 token=viewer)
    assert got == 200 and body["series"] == {"evt_temp01": []} and body["bucket_seconds"] == 8  # an hour at 500 points


@pytest.mark.gen_test(timeout=60)
async def test_rollups_outlive_the_raw_readings_until_their_own_retention(server, database_url, tmp_path):
    rng = random.Random(5)
    admin = server.token(role="admin", subject="admin@lab.example")
    old = (NOW - timedelta(days=10)).replace(minute=0, second=0)
    await post(server, admin, readings(rng, old, old + timedelta(hours=6), 120))
    before = await series(server, admin, old, old + timedelta(hours=6), 3)  # 2-hour buckets: rollups only
    assert before["bucket_seconds"] == 7200 and before["resolution_seconds"] == 3600
    assert sum(bucket["count"] for bucket in before["series"]["evt_temp01"]) > 100

    env = {"DATABASE_URL": database_url, "WEBMACS_VAR_DIR": str(tmp_path), "JWT_SECRET": "p" * 48}
    assert run_app("purge", env={**env, "DATAPOINT_RETENTION_DAYS": "5"}).returncode == 0
    assert server.rows() == []  # the raw readings are gone
    assert await series(server, admin, old, old + timedelta(hours=6), 3) == before  # the history is not
    assert run_app("purge", env={**env, "ROLLUP_RETENTION_DAYS": "7"}).returncode == 0
    after = await series(server, admin, old, old + timedelta(hours=6), 3)
    assert after["series"] == {"evt_temp01": [], "evt_press01": []}


@pytest.mark.gen_test
async def test_readings_near_the_largest_double_are_stored_and_averaged_without_overflow(server):
    admin = server.token(role="admin", subject="admin@lab.example")
    moment = (NOW - timedelta(minutes=10)).replace(second=0)
    huge = [{"event_public_id": "evt_temp01", "value": 1.7e308,
             "timestamp": format_timestamp(moment + timedelta(seconds=s))} for s in (1, 2)]
    await post(server, admin, huge[:1])
    await post(server, admin, huge[1:])  # into the same minute's rollup, whose sum would overflow a double
    answer = await series(server, admin, moment, moment + timedelta(minutes=2), 2)
    [bucket] = answer["series"]["evt_temp01"]
    assert (bucket["count"], bucket["avg"], bucket["max"]) == (2, 1.7e308, 1.7e308)
