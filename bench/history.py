"""The `history` scenario (issue 11): fill N readings spread over 7 days through the controller
WebSocket, then time the reads the API and the dashboard make, the disk each reading takes, and batch
ingest on the filled server beside an empty one."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import subprocess
import time
from array import array
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg2
from harness import PYTHON, BenchError, Server, start_server, stop_server
from scenarios import Meters, Options, Sampler, require_connected, run_throughput, target, target_of
from stats import latency_summary, merge, rate
from workers import latencies_of, start_controllers, start_fill

HISTORY_EVENTS = 50  # bench_evt_0..49, unless --events says otherwise
SPAN_SECONDS = 7 * 86400  # the readings spread over the 7 days before the end of the fill
BATCH = 500
PROGRESS_EVERY = 10.0  # seconds between progress lines during the fill
STALL_TIMEOUT = 120.0  # a fill that gets no ack for this long has failed
HTTP_TIMEOUT = 900.0  # one read may take minutes on a big table (the code issue 11 replaces)
DEEP_ROWS = 50_000  # how deep the deep page is
WALK_PAGE_SIZE = 1000  # pages of the keyset walk down to DEEP_ROWS
OFFSET_DEEP_PAGE = "/api/v1/datapoints?page=500&page_size=100"

# `series` (downsampled history): one event over 30 days at 500 points (the fill spans 7, but a user
# asks for the 30 days ending now), and every bench event (50; at most 100 in one request) over 24 h at 300.
SERIES_ONE = (30 * 86400, 500)  # (seconds back from now, points)
SERIES_MANY = (86400, 300)
SERIES_MAX_EVENTS = 100

# The targets.
LATEST_MS, PAGE_MS, POLL_MS, LAST_HOUR_MS = 20.0, 50.0, 20.0, 20.0
SERIES_ONE_MS, SERIES_MANY_MS = 100.0, 300.0
INGEST_FRACTION = 0.90
DISK_BYTES_PER_READING = 128.0


def history(server: Server, options: Options) -> dict[str, Any]:
    """Fill, then (in this order, so that nothing measured sees the ingest runs' rows or the purge's
    deletes) disk, reads, ingest on the filled server, the same again during a retention purge
    (`app.py purge` removing the oldest day), and ingest on a fresh empty server."""
    admin = server.admin_token()
    filled = fill(server, options)
    filled["settle"] = settle(server)
    storage = disk(server, filled["readings_stored"])
    reads = read_figures(server, admin, options)
    plain = ingest_filled(server, options)
    purge = ingest_during_purge(server, options, plain)
    if "skipped" not in purge and purge["purge_seconds"] > 2 * options.seconds:
        purge = compare_as_long(server, options, purge)
    ingest = ingest_side_by_side(server, options, plain)
    result = {"readings_requested": options.fill, "events": len(options.events), "span_days": SPAN_SECONDS / 86400,
              "fill": filled, "disk": storage, "reads": reads, "ingest": ingest, "purge": purge,
              "repeats": options.repeats, "read_budget_seconds": options.read_budget}
    result["targets"] = targets(reads, storage, ingest, purge)
    return result


# --- the fill ----------------------------------------------------------------------------------

def fill(server: Server, options: Options) -> dict[str, Any]:
    """`options.fill` readings through windowed controllers (see workers.HistorySource for the timestamps),
    with a progress line every PROGRESS_EVERY seconds."""
    controllers, window = options.controllers or 4, options.window or 4
    print(f"  fill: {options.fill:,} readings of {len(options.events)} events over the {SPAN_SECONDS // 86400} days "
          f"before now, {controllers} controllers x window {window} x {BATCH} readings/message", flush=True)
    group = start_fill(target_of(server, options), controllers, options.client_procs, options.events, BATCH, window,
                       options.fill, SPAN_SECONDS)
    progress: list[dict[str, Any]] = []
    try:
        require_connected(group, controllers, "controllers")
        started = time.monotonic()
        group.ask("go")
        last_print, printed_acked, last_change, acked = started, 0, started, 0
        while True:
            time.sleep(0.5)
            replies = group.ask("progress")
            now, previous, acked = time.monotonic(), acked, sum(reply["acked"] for reply in replies)
            if acked != previous:
                last_change = now
            if all(reply["finished"] for reply in replies):
                break
            if now - last_change > STALL_TIMEOUT:
                raise BenchError(f"fill stalled at {acked:,} readings: no ack for {STALL_TIMEOUT:.0f} s "
                                 f"({sum(reply['closed'] for reply in replies)} controllers closed)")
            if now - last_print >= PROGRESS_EVERY:
                recent, average = rate(acked - printed_acked, now - last_print), rate(acked, now - started)
                left = (options.fill - acked) / average if average else float("nan")
                progress.append({"t": round(now - started, 1), "stored": acked, "per_s": round(recent)})
                print(f"  fill: {acked:,} of {options.fill:,} ({100 * acked / options.fill:.1f}%), "
                      f"{recent:,.0f}/s now, {average:,.0f}/s on average, about {left / 60:.1f} min left", flush=True)
                last_print, printed_acked = now, acked
        elapsed = time.monotonic() - started
        reports = group.ask("stop")
    finally:
        group.close()
    stored = sum(sum(report["counts"]) for report in reports)
    print(f"  fill: done, {stored:,} stored in {elapsed:.0f} s ({rate(stored, elapsed):,.0f}/s)", flush=True)
    return {
        "controllers": controllers, "window_per_controller": window, "batch": BATCH,
        "readings_stored": stored, "seconds": round(elapsed, 1), "per_s": round(rate(stored, elapsed)),
        "not_stored": sum(report["not_stored"] for report in reports),
        "unacked_messages_at_end": sum(report["unacked_messages"] for report in reports),
        "errors": [error for report in reports for error in report["errors"]][:5],
        "controller_closes": [report["closes"] for report in reports if report["closes"]],
        "ack_latency": latency_summary(merge(latencies_of(report, 0) for report in reports)),
        "ended_at": iso(time.time()),
        "progress": progress,
    }


# --- disk --------------------------------------------------------------------------------------

# The table and, if it is partitioned, its partitions. pg_partition_tree() lists nothing for a plain
# table (PostgreSQL 16), hence the table itself besides (a partitioned root has no storage of its own).
_TREE = "SELECT relid FROM pg_partition_tree('datapoints') UNION SELECT 'datapoints'::regclass"
_SIZES = f"""
SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint, coalesce(sum(pg_table_size(relid)), 0)::bigint,
       coalesce(sum(pg_indexes_size(relid)), 0)::bigint, count(*)
FROM ({_TREE}) AS tree
"""
# Each index with its partitions' copies added up under the partitioned index (a plain table's are its own).
_INDEXES = f"""
SELECT coalesce(pg_partition_root(i.indexrelid), i.indexrelid)::regclass::text AS name,
       sum(pg_relation_size(i.indexrelid))::bigint
FROM pg_index i WHERE i.indrelid IN ({_TREE})
GROUP BY 1 ORDER BY 2 DESC
"""
_VACUUM = f"""
SELECT max(last_autovacuum)::text, max(last_autoanalyze)::text FROM pg_stat_user_tables
WHERE relid IN ({_TREE})
"""


# The rollups that `series` reads (issue 11), when the server keeps them: not in the disk target,
# which counts the datapoints alone, but stored because of them. Summed over partitions, if any, like
# the datapoints.
_ROLLUP_TREE = ("SELECT relid FROM pg_partition_tree('datapoint_rollups') "
                "UNION SELECT 'datapoint_rollups'::regclass")
_ROLLUP_SIZES = f"""
SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint, coalesce(sum(pg_table_size(relid)), 0)::bigint,
       coalesce(sum(pg_indexes_size(relid)), 0)::bigint, (SELECT count(*) FROM datapoint_rollups)
FROM ({_ROLLUP_TREE}) AS tree
"""


# Everything else that takes room (rollups, when there are some), partitions counted one by one.
_LARGEST = """
SELECT c.oid::regclass::text, pg_total_relation_size(c.oid) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 2 DESC LIMIT 8
"""


def settle(server: Server) -> dict[str, Any]:
    """VACUUM (ANALYZE) the tables once filled, then CHECKPOINT. Autovacuum analyzes a table as it
    grows and vacuums it after every 20% of new rows: on a server that gathered its rows over days
    that work is spread over those days, and reads find statistics and pages marked all-visible. After
    a fill of a minute or two it would all fall on the first measured window instead (seen at
    2,000,000: over a core of it during the filled ingest run). The CHECKPOINT for the same reason: the
    fill leaves up to max_wal_size of WAL behind, and the checkpoint it forces (with a full-page image
    for each page touched first after it) would land on the filled run, while the empty server starts
    clean."""
    started = time.monotonic()
    try:
        with contextlib.closing(psycopg2.connect(server.shared_database_url())) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("VACUUM (ANALYZE) datapoints, datapoint_rollups")
                cursor.execute("CHECKPOINT")
    except (BenchError, psycopg2.Error) as error:
        return {"error": str(error).strip()}
    return {"seconds": round(time.monotonic() - started, 1)}


def disk(server: Server, stored: int) -> dict[str, Any]:
    """Bytes per stored reading from the database the server uses, summed over partitions if any."""
    try:
        url = server.shared_database_url()
        with contextlib.closing(psycopg2.connect(url)) as connection, connection.cursor() as cursor:

            def one(sql: str) -> tuple[Any, ...]:
                cursor.execute(sql)
                row = cursor.fetchone()
                assert row is not None  # every one of these aggregates returns a row
                return row

            total, table, indexes, relations = one(_SIZES)
            (rows,) = one("SELECT count(*) FROM datapoints")
            (database,) = one("SELECT pg_database_size(current_database())")
            last_autovacuum, last_autoanalyze = one(_VACUUM)
            cursor.execute(_INDEXES)
            per_index = {name: size for name, size in cursor.fetchall()}
            cursor.execute(_LARGEST)
            largest = {name: size for name, size in cursor.fetchall()}
            (has_rollups,) = one("SELECT to_regclass('datapoint_rollups') IS NOT NULL")
            rollup_sizes = one(_ROLLUP_SIZES) if has_rollups else None
    except (BenchError, psycopg2.Error) as error:
        return {"error": str(error).strip()}

    def per_row(size: int) -> float | None:
        return round(size / rows, 1) if rows else None

    rollups: dict[str, Any] | None = None
    if rollup_sizes is not None:
        rollup_total, rollup_table, rollup_indexes, rollup_rows = rollup_sizes
        rollups = {"rows": rollup_rows, "total_bytes": rollup_total, "table_bytes": rollup_table,
                   "indexes_bytes": rollup_indexes,
                   # per stored *reading* (datapoints row), so that it adds to the datapoints' figure
                   "bytes_per_reading": per_row(rollup_total),
                   "datapoints_and_rollups_bytes_per_reading": per_row(total + rollup_total)}

    return {
        "rows": rows, "readings_acked_by_fill": stored, "relations": relations,
        "total_bytes": total, "table_bytes": table, "indexes_bytes": indexes,
        "bytes_per_reading": per_row(total), "table_bytes_per_reading": per_row(table),
        "indexes_bytes_per_reading": per_row(indexes),
        "index_bytes_per_reading": {name: per_row(size) for name, size in per_index.items()},
        "database_bytes": database, "largest_relations_bytes": largest,
        "rollups": rollups,  # None: this server keeps no rollups
        # The data directory as a whole (WAL included): what the disk has to hold.
        "pgdata_bytes": directory_size(server.pgdata) if server.pgdata is not None else None,
        "last_autovacuum": last_autovacuum, "last_autoanalyze": last_autoanalyze,
    }


def directory_size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


# --- reads -------------------------------------------------------------------------------------

class Api:
    """GETs with an admin token over one kept-alive connection, timed from request to the last body byte."""

    def __init__(self, server: Server, token: str) -> None:
        self.host, self.port = server.host, server.port
        self.headers = {"Authorization": f"Bearer {token}"}
        self.connection: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[float, dict[str, Any]]:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT)
                self.connection.connect()  # not part of the time taken
            try:
                started = time.perf_counter()
                self.connection.request("GET", path, headers=self.headers)
                response = self.connection.getresponse()
                body = response.read()
                seconds = time.perf_counter() - started
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # the server closed an idle connection: once more on a new one
                if attempt:
                    raise
                continue
            if response.status != 200:
                raise BenchError(f"GET {path}: {response.status} {body[:300]!r}")
            return seconds, json.loads(body)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def measure(api: Api, name: str, path: str, options: Options, target_ms: float | None) -> tuple[dict[str, Any],
                                                                                               dict[str, Any]]:
    """The first call (cold) apart, then up to `repeats` more within `read_budget` seconds (at least one)."""
    deadline = time.monotonic() + options.read_budget
    first, body = api.get(path)
    warm = array("d")
    for _ in range(options.repeats):
        if warm and time.monotonic() > deadline:
            break
        warm.append(api.get(path)[0])
    summary = latency_summary(warm)
    figure = {"name": name, "path": path, "first_ms": round(1000 * first, 2), "p50_ms": summary["p50_ms"],
              "max_ms": summary["max_ms"], "repeats": len(warm), "rows": rows_of(body),
              "target_ms": target_ms}
    print(f"  {name}: first {figure['first_ms']} ms, p50 {figure['p50_ms']} ms, max {figure['max_ms']} ms "
          f"({len(warm)} repeats, {figure['rows']} rows)", flush=True)
    return figure, body


def rows_of(body: dict[str, Any]) -> int:
    """Rows of a list page; buckets over all events of a `series` answer."""
    if "series" in body:
        return sum(len(buckets) for buckets in (body["series"] or {}).values())
    return len(body.get("data", []))


def read_figures(server: Server, token: str, options: Options) -> list[dict[str, Any]]:
    api = Api(server, token)
    try:
        figures = []
        figure, _ = measure(api, "latest per event", "/api/v1/datapoints/latest", options, LATEST_MS)
        figures.append(figure)
        figure, first_page = measure(api, "first page, 100", "/api/v1/datapoints?page_size=100", options, PAGE_MS)
        figures.append({**figure, "total": first_page.get("total"),
                        "total_is_lower_bound": first_page.get("total_is_lower_bound")})
        figure, _ = measure(api, "first page, 1000", "/api/v1/datapoints?page_size=1000", options, PAGE_MS)
        figures.append(figure)
        figures.extend(deep_page(api, options, first_page))
        figure, _ = measure(api, "poll after=0, 1000", "/api/v1/datapoints?after=0&limit=1000", options, POLL_MS)
        figures.append(figure)
        cursor = first_page.get("cursor")
        if cursor:
            figure, _ = measure(api, "poll after=<recent cursor>, 1000",
                                f"/api/v1/datapoints?after={quote(str(cursor))}&limit=1000", options, POLL_MS)
            figures.append({**figure, "cursor": cursor})
        now = time.time()
        query = urlencode({"event_public_id": options.events[0], "from": iso(now - 3600), "to": iso(now),
                           "page_size": 1000})
        figure, body = measure(api, f"{options.events[0]}, last hour, 1000", f"/api/v1/datapoints?{query}", options,
                               LAST_HOUR_MS)
        figures.append({**figure, "total": body.get("total")})
        figures.append(series(api, options, options.events[:1], *SERIES_ONE, SERIES_ONE_MS))
        figures.append(series(api, options, options.events[:SERIES_MAX_EVENTS], *SERIES_MANY, SERIES_MANY_MS))
        return figures
    finally:
        api.close()


def series(api: Api, options: Options, events: list[str], seconds: int, points: int,
           target_ms: float) -> dict[str, Any]:
    """`GET /api/v1/datapoints/series` for `events` over the `seconds` ending now; `rows` are the buckets
    answered (all events together), `readings` what their counts add up to."""
    now = time.time()
    query = urlencode([*(("event_public_id", event) for event in events),
                       ("from", iso(now - seconds)), ("to", iso(now)), ("points", points)])
    span = f"{seconds // 86400} days" if seconds % 86400 == 0 and seconds > 86400 else f"{seconds // 3600} h"
    who = events[0] if len(events) == 1 else f"{len(events)} events"
    figure, body = measure(api, f"series: {who}, {span}, {points} points", f"/api/v1/datapoints/series?{query}",
                           options, target_ms)
    answered = body.get("series") or {}
    buckets = [bucket for event in answered.values() for bucket in event]
    return {**figure, "events": len(events), "events_answered": len(answered),
            "readings": sum(bucket.get("count", 0) for bucket in buckets),
            "bucket_seconds": body.get("bucket_seconds"), "resolution_seconds": body.get("resolution_seconds")}


def deep_page(api: Api, options: Options, first_page: dict[str, Any]) -> list[dict[str, Any]]:
    """About DEEP_ROWS rows deep: by the keyset (`next_before`, `before=`) when the server offers one,
    walked there in pages of WALK_PAGE_SIZE (each timed), else by OFFSET (page=500)."""
    if "next_before" not in first_page:
        figure, _ = measure(api, "deep page (OFFSET), 100", OFFSET_DEEP_PAGE, options, PAGE_MS)
        return [{**figure, "method": "offset", "depth": 49_900}]
    walk, depth, token = array("d"), 0, None
    path = f"/api/v1/datapoints?page_size={WALK_PAGE_SIZE}"
    while depth < DEEP_ROWS:
        seconds, body = api.get(path if token is None else f"{path}&before={quote(token)}")
        walk.append(seconds)
        if not body.get("next_before"):
            break  # the last page: not that many rows
        depth += len(body["data"])
        token = body["next_before"]
    if token is None:
        return []
    summary = latency_summary(walk)
    walked = {"name": f"keyset walk to {depth:,}, {WALK_PAGE_SIZE} each", "path": path + "&before=...",
              "first_ms": round(1000 * walk[0], 2), "p50_ms": summary["p50_ms"], "max_ms": summary["max_ms"],
              "repeats": len(walk), "rows": depth, "target_ms": PAGE_MS}
    print(f"  {walked['name']}: p50 {walked['p50_ms']} ms, max {walked['max_ms']} ms ({len(walk)} pages)")
    figure, _ = measure(api, f"deep page (keyset) at {depth:,}, 100",
                        f"/api/v1/datapoints?page_size=100&before={quote(token)}", options, PAGE_MS)
    return [walked, {**figure, "method": "keyset", "depth": depth}]


def iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


# --- ingest, filled and empty ------------------------------------------------------------------

INGEST_KEYS = ("persisted_per_s_from_acks", "persisted_per_s_from_healthz", "ack_latency", "server_cpu_pct",
               "postgres_cpu_pct", "load_generator_cpu_pct", "machine_busy_pct_of_all_cores",
               "other_processes_cpu_pct", "not_stored", "errors", "measured_seconds")


def ingest_filled(server: Server, options: Options) -> dict[str, Any]:
    """The batch scenario's load on the filled server."""
    print("  ingest on the filled server ...", flush=True)
    filled = run_throughput(server, options, options.controllers or 4, BATCH, options.window or 4)
    print(f"  ingest on the filled server: {filled['persisted_per_s_from_acks']:,}/s, "
          f"ack p99 {filled['ack_latency']['p99_ms']} ms", flush=True)
    return filled


def ingest_side_by_side(server: Server, options: Options, filled: dict[str, Any]) -> dict[str, Any]:
    """Beside the load on the filled server (`filled`), the same on a fresh server with an empty database.
    A filled server bench started is stopped first, so that its PostgreSQL's background work
    (autovacuum after the fill and the purge) does not take CPU from the empty run."""
    controllers, window = options.controllers or 4, options.window or 4
    if server.process is not None:
        stop_server(server)
    print("  ingest on an empty server ...", flush=True)
    empty_server = start_server(None, server.extra_env, options.log_dir, server.app_dir)
    try:
        empty_server.create_events(options.events)
        empty = run_throughput(empty_server, replace(options, token=empty_server.controller_token()), controllers,
                               BATCH, window)
    finally:
        stop_server(empty_server)
    print(f"  ingest on the empty server: {empty['persisted_per_s_from_acks']:,}/s", flush=True)
    full_rate, empty_rate = filled["persisted_per_s_from_acks"], empty["persisted_per_s_from_acks"]
    return {"controllers": controllers, "window_per_controller": window, "batch": BATCH,
            "filled": {key: filled.get(key) for key in INGEST_KEYS},
            "empty": {key: empty.get(key) for key in INGEST_KEYS},
            "ratio": round(full_rate / empty_rate, 3) if empty_rate else None,
            "filled_server_stopped_before_empty_run": server.process is not None,
            "samples": {"filled": filled["samples"], "empty": empty["samples"]}}


# --- ingest during a retention purge --------------------------------------------------------------

PURGE_RETENTION_DAYS = 6  # of the 7 days filled: removes the oldest day, about 1/7 of the readings
PURGE_START_AFTER = 1.5  # seconds into the measured window
PURGE_TIMEOUT = 1800.0  # a purge still running after this long is killed, and the run reported as failed
PURGE_ACK_P99_FACTOR = 1.2  # the issue: ack p99 during a purge within 20% of without
SAMPLE_EVERY = 1.0
# The controllers' phases in this run: 0 warm-up, then the measured window in three parts, then the drain.
BEFORE_PURGE, DURING_PURGE, AFTER_PURGE = 1, 2, 3


def ingest_during_purge(server: Server, options: Options, plain: dict[str, Any]) -> dict[str, Any]:
    """The load of `ingest_filled` again, with `app.py purge` (DATAPOINT_RETENTION_DAYS=6, otherwise the
    server's environment: same database and secret, like `app.py event add`) started PURGE_START_AFTER
    seconds into the measured window. The window lasts --seconds, or longer if the purge does: until
    it exits. Acks are counted apart before, during and after the purge; the verdict compares the ack
    p99 during the purge with `plain`'s (the run just before, on the same server, without a purge)."""
    if server.process is None:
        # An attached server's database may hold readings someone wants: the purge would delete them.
        print("  ingest during a purge: skipped (attached server; the purge would delete its old readings)")
        return {"skipped": "attached server: a purge would delete readings older than "
                           f"{PURGE_RETENTION_DAYS} days from its database"}
    controllers, window = options.controllers or 4, options.window or 4
    env = {**server.env, "DATAPOINT_RETENTION_DAYS": str(PURGE_RETENTION_DAYS)}
    oldest_before = server.health().get("oldest_reading")
    print(f"  ingest during a retention purge (app.py purge, DATAPOINT_RETENTION_DAYS={PURGE_RETENTION_DAYS}, "
          f"started {PURGE_START_AFTER:g} s into the window) ...", flush=True)
    group = start_controllers(target_of(server, options), controllers, options.client_procs, options.events,
                              BATCH, window, rate=None)
    purger: subprocess.Popen | None = None
    # Its output goes to files beside the server's log (nobody would read a pipe while it runs).
    output_path, log_path = options.log_dir / f"purge-{server.port}.out", options.log_dir / f"purge-{server.port}.log"
    try:
        require_connected(group, controllers, "controllers")
        meters = Meters(server, [group])
        sampler = Sampler(server, time.time())
        group.ask("go")
        time.sleep(options.warmup)
        group.ask("phase")  # BEFORE_PURGE
        meters.restart()
        window_started, committed_at_start = time.monotonic(), server.health()["readings_committed"]
        sampler.run_for(PURGE_START_AFTER)
        group.ask("phase")  # DURING_PURGE
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        purge_started = time.monotonic()
        with open(output_path, "wb") as output_file, open(log_path, "wb") as log_file:
            purger = subprocess.Popen([PYTHON, "app.py", "purge"], cwd=server.app_dir, env=env, stdout=output_file,
                                      stderr=log_file)
        wait_sampling(purger, sampler, purge_started + PURGE_TIMEOUT)
        purge_ended = time.monotonic()
        # Reaped by now, and the only child reaped meanwhile (the workers live on until group.close()).
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        group.ask("phase")  # AFTER_PURGE
        sampler.run_for(max(0.0, options.seconds - (purge_ended - window_started)))
        group.ask("phase")  # the drain, not counted
        window_ended = time.monotonic()
        window_cpu = meters.read()
        committed_at_end = server.health()["readings_committed"]
        reports = group.ask("stop")
    finally:
        if purger is not None and purger.poll() is None:
            purger.kill()
            purger.wait()
        group.close()
    output, errors = output_path.read_text(errors="replace"), log_path.read_text(errors="replace")
    oldest_after = server.health().get("oldest_reading")
    assert purger is not None  # it ran, or the try block raised
    if purger.returncode != 0:
        raise BenchError(f"app.py purge exited with {purger.returncode}: {errors.strip()[-500:]}")
    try:
        removed: Any = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        removed = {"unreadable_output": output.strip()[-500:]}

    def part(phases: tuple[int, ...], seconds: float) -> dict[str, Any]:
        acked = sum(report["counts"][phase] for report in reports for phase in phases
                    if phase < len(report["counts"]))
        return {"seconds": round(seconds, 2), "acked": acked, "persisted_per_s_from_acks": round(rate(acked, seconds)),
                "ack_latency": latency_summary(merge(latencies_of(report, phase) for report in reports
                                                     for phase in phases))}

    measured = window_ended - window_started
    during = part((DURING_PURGE,), purge_ended - purge_started)
    whole = part((BEFORE_PURGE, DURING_PURGE, AFTER_PURGE), measured)
    plain_p99, during_p99 = plain["ack_latency"]["p99_ms"], during["ack_latency"]["p99_ms"]
    ratio = round(during_p99 / plain_p99, 3) if plain_p99 and during_p99 is not None else None
    print(f"  ingest during the purge: {during['persisted_per_s_from_acks']:,}/s, ack p99 {during_p99} ms "
          f"(without: {plain['persisted_per_s_from_acks']:,}/s, ack p99 {plain_p99} ms); the purge took "
          f"{purge_ended - purge_started:.1f} s: {removed}", flush=True)
    return {
        "controllers": controllers, "window_per_controller": window, "batch": BATCH,
        "retention_days": PURGE_RETENTION_DAYS, "purge_started_after_s": PURGE_START_AFTER,
        "purge_seconds": round(purge_ended - purge_started, 2), "purge_output": removed,
        "purge_log": str(log_path), "purge_log_tail": errors.strip()[-500:],
        "purge_process_cpu_s": round(children_after.ru_utime + children_after.ru_stime
                                     - children_before.ru_utime - children_before.ru_stime, 2),
        "oldest_reading_before": oldest_before, "oldest_reading_after": oldest_after,
        "during_purge": during,
        "whole_window": {**whole, "persisted_per_s_from_healthz": round(rate(committed_at_end - committed_at_start,
                                                                              measured))},
        "after_purge": part((AFTER_PURGE,), max(0.0, window_ended - purge_ended)),
        "without_purge": {"seconds": plain["measured_seconds"],
                          "persisted_per_s_from_acks": plain["persisted_per_s_from_acks"],
                          "ack_latency": plain["ack_latency"]},
        "ack_p99_ratio": ratio,
        "not_stored": sum(report["not_stored"] for report in reports),
        "errors": [error for report in reports for error in report["errors"]][:5],
        "controller_closes": [report["closes"] for report in reports if report["closes"]],
        **window_cpu,
        "samples": sampler.samples,
    }


def compare_as_long(server: Server, options: Options, purge: dict[str, Any]) -> dict[str, Any]:
    """The same load again, without a purge, for as long as the purge took, and the p99 ratio against
    that. A purge of a big table takes minutes, and over minutes of full load the table grows, autovacuum
    runs and checkpoints come, with or without a purge; a 15 s window before it sees none of that."""
    seconds = purge["purge_seconds"]
    print(f"  ingest without a purge for as long as it took ({seconds:.0f} s) ...", flush=True)
    as_long = ingest_filled(server, replace(options, seconds=seconds))
    during_p99, as_long_p99 = purge["during_purge"]["ack_latency"]["p99_ms"], as_long["ack_latency"]["p99_ms"]
    return {**purge, "ack_p99_ratio_short_window": purge["ack_p99_ratio"],
            "without_purge_short_window": purge["without_purge"],
            "without_purge": {"seconds": as_long["measured_seconds"],
                              "persisted_per_s_from_acks": as_long["persisted_per_s_from_acks"],
                              "ack_latency": as_long["ack_latency"], "ran": "after the purge, as long as it"},
            "ack_p99_ratio": round(during_p99 / as_long_p99, 3) if as_long_p99 and during_p99 is not None else None}


def wait_sampling(process: subprocess.Popen, sampler: Sampler, deadline: float) -> None:
    """Wait for `process` (checked every 50 ms), sampling the server once a second."""
    next_sample = time.monotonic() + SAMPLE_EVERY
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise BenchError(f"app.py purge still running after {PURGE_TIMEOUT:.0f} s: killed")
        time.sleep(0.05)
        if time.monotonic() >= next_sample:
            sampler.sample()
            next_sample += SAMPLE_EVERY


# --- targets -----------------------------------------------------------------------------------

def targets(reads: list[dict[str, Any]], storage: dict[str, Any], ingest: dict[str, Any],
            purge: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, judged on the p50 of the repeated calls (the first, cold call is shown apart)."""
    judged = []
    for figure in reads:
        if figure["target_ms"] is not None:
            p50 = figure["p50_ms"]
            judged.append(target(f"{figure['name']}: p50 <= {figure['target_ms']:g} ms", p50,
                                 p50 is not None and p50 <= figure["target_ms"]))
    ratio = ingest["ratio"]
    judged.append(target(f"batch ingest on the filled server >= {INGEST_FRACTION:.0%} of the empty one",
                         {"filled_per_s": ingest["filled"]["persisted_per_s_from_acks"],
                          "empty_per_s": ingest["empty"]["persisted_per_s_from_acks"], "ratio": ratio},
                         ratio is not None and ratio >= INGEST_FRACTION))
    per_reading = storage.get("bytes_per_reading")
    judged.append(target(f"disk <= {DISK_BYTES_PER_READING:g} bytes per stored reading (table + indexes)",
                         per_reading, None if per_reading is None else per_reading <= DISK_BYTES_PER_READING))
    if "skipped" not in purge:
        plain_p99 = purge["without_purge"]["ack_latency"]["p99_ms"]
        during_p99 = purge["during_purge"]["ack_latency"]["p99_ms"]
        judged.append(target(f"batch ingest ack p99 during a retention purge <= {PURGE_ACK_P99_FACTOR:g} x without",
                             {"during_ms": during_p99, "without_ms": plain_p99, "ratio": purge["ack_p99_ratio"]},
                             None if purge["ack_p99_ratio"] is None
                             else purge["ack_p99_ratio"] <= PURGE_ACK_P99_FACTOR))
    return judged
