"""SQL for datapoints: storing readings in one statement and reading them back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import momoko
from psycopg2.extras import RealDictCursor

from models import rollups
from models.database import stream_rows
from models.readings import Reading
from models.timestamps import utc_text

PUBLIC_ID_PREFIX = "dp_"  # then the row id in decimal (0005_derived_public_ids.sql says why)
PUBLIC_ID_SQL = "'dp_' || d.id"

# One statement per batch. Readings whose event does not exist are left out by the join and so
# come back missing from the result: that is how unknown events are found, without a race
# against an event being deleted in between. Ids are drawn first, so that each row is known by its
# position in the batch. The running experiment is looked up in the same statement, so a datapoint
# is tagged with the experiment that was running when it committed.
_INSERT = """
WITH running AS (
    SELECT id, public_id FROM experiments WHERE stopped_at IS NULL
), numbered AS MATERIALIZED (
    -- Ids drawn in the batch's order, so that they follow it (as the cursor does).
    SELECT nextval(pg_get_serial_sequence('datapoints', 'id')) AS id, known.*
    FROM (SELECT e.id AS event_id, r.value, r.recorded_at, r.position
          FROM unnest(%s::text[], %s::float8[], %s::timestamptz[])
               WITH ORDINALITY AS r(event_public_id, value, recorded_at, position)
          JOIN events e ON e.public_id = r.event_public_id
          ORDER BY r.position) AS known
), inserted AS (
    INSERT INTO datapoints (id, event_id, experiment_id, value, recorded_at) OVERRIDING SYSTEM VALUE
    SELECT n.id, n.event_id, (SELECT id FROM running), n.value, n.recorded_at FROM numbered n ORDER BY n.id
    RETURNING id, event_id, value, recorded_at
), minutes AS (
    -- The series' rollups, in the same transaction: the minutes from the rows, the hours from the
    -- minutes (one sort of the batch, not two).
    SELECT event_id, date_bin('60 seconds', recorded_at, 'epoch') AS bucket, count(*) AS count,
           sum(value::numeric) AS total, min(value) AS low, max(value) AS high, max(recorded_at) AS last_at,
           (array_agg(id ORDER BY recorded_at DESC, id DESC))[1] AS last_id,
           (array_agg(value ORDER BY recorded_at DESC, id DESC))[1] AS last_value
    FROM inserted GROUP BY 1, 2
), rolled_up AS (
    INSERT INTO datapoint_rollups AS kept
    SELECT event_id, 60, bucket, count, total, low, high, last_at, last_id, last_value FROM minutes
    UNION ALL
    SELECT event_id, 3600, date_bin('3600 seconds', bucket, 'epoch'), sum(count), sum(total), min(low), max(high),
           max(last_at), (array_agg(last_id ORDER BY last_at DESC, last_id DESC))[1],
           (array_agg(last_value ORDER BY last_at DESC, last_id DESC))[1]
    FROM minutes GROUP BY event_id, date_bin('3600 seconds', bucket, 'epoch')
    ON CONFLICT (event_id, resolution, bucket) DO UPDATE SET
        count = kept.count + EXCLUDED.count, total = kept.total + EXCLUDED.total,
        low = least(kept.low, EXCLUDED.low), high = greatest(kept.high, EXCLUDED.high),
        last_at = CASE WHEN (EXCLUDED.last_at, EXCLUDED.last_id) > (kept.last_at, kept.last_id)
                       THEN EXCLUDED.last_at ELSE kept.last_at END,
        last_value = CASE WHEN (EXCLUDED.last_at, EXCLUDED.last_id) > (kept.last_at, kept.last_id)
                          THEN EXCLUDED.last_value ELSE kept.last_value END,
        last_id = CASE WHEN (EXCLUDED.last_at, EXCLUDED.last_id) > (kept.last_at, kept.last_id)
                       THEN EXCLUDED.last_id ELSE kept.last_id END
)
SELECT position, (SELECT public_id FROM running), id,
       pg_current_xact_id()::text, pg_snapshot_xmin(pg_current_snapshot())::text
FROM numbered
"""


def public_id_of(row_id: int) -> str:
    return f"{PUBLIC_ID_PREFIX}{row_id}"


def row_id_of(public_id: str) -> int | None:
    """The row a public id names; None if it cannot name one (such as an id from before 0005)."""
    digits = public_id.removeprefix(PUBLIC_ID_PREFIX)
    # ASCII digits only: isdecimal() alone takes "١٢" too, which int() reads as 12.
    if public_id.startswith(PUBLIC_ID_PREFIX) and digits.isascii() and digits.isdecimal() and len(digits) <= 19:
        row_id = int(digits)
        return row_id if row_id < 2**63 else None  # a bigint
    return None


def _array(elements: Iterable[str]) -> str:
    """A PostgreSQL array literal. psycopg2 adapts one such string far faster than a list: about
    2 ms instead of 14 for 5,000 rows, time the IOLoop would otherwise spend on every batch.

    Elements go in unquoted, so none may hold a comma, brace, quote, backslash or space: timestamps
    and floats are ours, and event ids have passed
    public_ids.PUBLIC_ID, which allows only letters, digits and _ . : -. Unquoted, though, NULL in
    any letter case is no string but a null: event ids, which may be that word, come quoted.
    """
    return "{" + ",".join(elements) + "}"


async def insert_datapoints(db: momoko.Pool, readings: Sequence[Reading]) -> list[dict[str, Any] | None]:
    """Store readings in one INSERT; returns, for each reading in order, the datapoint in the
    stream's shape, or None where its event does not exist and nothing was stored."""
    cursor = await db.execute(_INSERT, (
        _array(f'"{r.event_public_id}"' for r in readings),
        _array(repr(r.value) for r in readings),
        _array(r.timestamp for r in readings),
    ))
    stored: list[dict[str, Any] | None] = [None] * len(readings)
    for position, experiment, row_id, txid, oldest_running in cursor.fetchall():
        reading = readings[position - 1]
        stored[position - 1] = {
            "public_id": public_id_of(row_id),
            "value": reading.value,
            "timestamp": reading.timestamp,
            "event_public_id": reading.event_public_id,
            "experiment_public_id": experiment,
            "cursor": stream_cursor(int(txid), row_id, int(oldest_running)),
        }
    return stored


def stream_cursor(txid: int, row_id: int, oldest_running: int) -> str:
    """The polling cursor to hand out with a datapoint as it is broadcast.

    Exact when no older transaction was still running; otherwise the point before the oldest one,
    so that a client switching to polling may see a few datapoints again but never misses one.
    """
    return format_cursor(txid, row_id) if oldest_running == txid else format_cursor(oldest_running, 0)


def format_cursor(txid: int, row_id: int) -> str:
    return f"{txid}-{row_id}"


def parse_cursor(text: str) -> tuple[int, int]:
    """(txid, id) from a cursor; "0" means the beginning. ValueError if it is not one of ours."""
    if text == "0":
        return 0, 0
    txid, _, row_id = text.partition("-")
    # isdecimal, not isdigit: "²" is a digit to Python but no number to int().
    if not (txid.isdecimal() and row_id.isdecimal() and int(txid) < 2**64 and int(row_id) < 2**63):
        raise ValueError("cursor must be 0 or a cursor this API returned")
    return int(txid), int(row_id)


@dataclass(frozen=True)
class Filters:
    """Which datapoints a listing covers; empty fields do not filter."""

    events: tuple[str, ...] = ()
    experiment: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.events:
            clauses.append("e.public_id = ANY(%s)")
            params.append(list(self.events))
        if self.experiment:
            clauses.append("x.public_id = %s")
            params.append(self.experiment)
        if self.since:
            clauses.append("d.recorded_at >= %s")
            params.append(self.since)
        if self.until:
            clauses.append("d.recorded_at <= %s")
            params.append(self.until)
        return "".join(" AND " + clause for clause in clauses), params


_SHAPE = f"""{PUBLIC_ID_SQL} AS public_id, d.value, {utc_text("d.recorded_at")} AS timestamp,
    e.public_id AS event_public_id, x.public_id AS experiment_public_id,
    d.txid::text || '-' || d.id AS cursor"""
_FROM = """datapoints d JOIN events e ON e.id = d.event_id
    LEFT JOIN experiments x ON x.id = d.experiment_id"""


async def datapoints_after(db: momoko.Pool, after: tuple[int, int], limit: int,
                           filters: Filters) -> list[dict[str, Any]]:
    """Datapoints past the cursor in ingest order, only from transactions that can gain no more rows."""
    where, params = filters.sql()
    cursor = await db.execute(
        f"SELECT {_SHAPE} FROM {_FROM}"
        " WHERE (d.txid, d.id) > (%s::xid8, %s) AND d.txid < pg_snapshot_xmin(pg_current_snapshot())"
        f"{where} ORDER BY d.txid, d.id LIMIT %s",
        [str(after[0]), after[1], *params, limit], cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


async def datapoints_since(db: momoko.Pool, after: tuple[int, int], limit: int,
                           events: frozenset[str] | None) -> list[dict[str, Any]]:
    """Every datapoint committed past the cursor that this transaction sees, in cursor order.

    Unlike datapoints_after, without waiting for older transactions: the stream's catch-up is
    registered for live datapoints before it reads, so what commits later reaches it live.
    """
    events_clause = " AND e.public_id = ANY(%s)" if events is not None else ""
    cursor = await db.execute(
        f"SELECT {_SHAPE} FROM {_FROM} WHERE (d.txid, d.id) > (%s::xid8, %s){events_clause}"
        " ORDER BY d.txid, d.id LIMIT %s",
        [str(after[0]), after[1], *([sorted(events)] if events is not None else []), limit],
        cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


# Counted only this far: an exact count of millions of rows costs a scan of them on every page.
TOTAL_BOUND = 10_000


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int  # exact when below TOTAL_BOUND, else TOTAL_BOUND
    total_is_lower_bound: bool
    next_before: str | None  # the keyset of the next (older) page; None on the last one
    poll_cursor: str  # where a poller may start afterwards without missing what commits meanwhile


def format_keyset(recorded_at_us: int, row_id: int) -> str:
    return f"{recorded_at_us}_{row_id}"


def parse_keyset(text: str) -> tuple[int, int]:
    """(recorded_at in microseconds since 1970, id) from a `before` this API returned; ValueError otherwise."""
    moment, _, row_id = text.partition("_")
    if not (moment.isdecimal() and row_id.isdecimal() and int(moment) < 2**62 and int(row_id) < 2**63):
        raise ValueError("before must be a next_before this API returned")
    return int(moment), int(row_id)


def _newest_first(filters: Filters, before: tuple[int, int] | None, limit: int,
                  columns: str, ordered: bool = True) -> tuple[str, list[Any]]:
    """Datapoints matching the filters, newest first, each read from an index in order.

    Per event, through the (event_id, recorded_at) index, and merged: at most `limit` rows from each
    event, so the cost follows the page and the number of events, never the table. With an
    experiment, through that experiment's own index instead.
    """
    conditions: list[str] = []
    params: list[Any] = []
    order = " ORDER BY d.recorded_at DESC, d.id DESC" if ordered else ""
    if filters.since:
        conditions.append("d.recorded_at >= %s")
        params.append(filters.since)
    if filters.until:
        conditions.append("d.recorded_at <= %s")
        params.append(filters.until)
    if before:
        conditions.append("(d.recorded_at, d.id) < (to_timestamp(%s / 1000000.0), %s)")
        params += [before[0], before[1]]
    where = "".join(" AND " + condition for condition in conditions)
    if filters.experiment:
        events = " AND d.event_id IN (SELECT id FROM events WHERE public_id = ANY(%s))" if filters.events else ""
        return (f"SELECT {columns} FROM datapoints d JOIN events e ON e.id = d.event_id"
                " LEFT JOIN experiments x ON x.id = d.experiment_id"
                f" WHERE d.experiment_id = (SELECT id FROM experiments WHERE public_id = %s){where}{events}"
                f"{order} LIMIT %s",
                [filters.experiment, *params, *([list(filters.events)] if filters.events else []), limit])
    events = " WHERE e.public_id = ANY(%s)" if filters.events else ""
    return (f"SELECT {columns} FROM events e CROSS JOIN LATERAL ("
            f" SELECT d.* FROM datapoints d WHERE d.event_id = e.id{where}"
            " ORDER BY d.recorded_at DESC, d.id DESC LIMIT %s) d"
            f" LEFT JOIN experiments x ON x.id = d.experiment_id{events}"
            f"{order} LIMIT %s",
            [*params, limit, *([list(filters.events)] if filters.events else []), limit])


async def datapoints_page(db: momoko.Pool, page_size: int, filters: Filters,
                          before: tuple[int, int] | None = None, offset: int = 0) -> Page:
    """One page newest first: after `before` (a keyset), or `offset` rows in (bounded by TOTAL_BOUND)."""
    query, params = _newest_first(filters, before, offset + page_size + 1,
                                  f"{_SHAPE}, (extract(epoch FROM d.recorded_at) * 1000000)::bigint AS _us,"
                                  " d.id AS _id")
    found = await db.execute(f"SELECT * FROM ({query}) page OFFSET %s", [*params, offset],
                             cursor_factory=RealDictCursor)
    rows = [dict(row) for row in found.fetchall()]
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_before = format_keyset(rows[-1]["_us"], rows[-1]["_id"]) if more and rows else None
    for row in rows:
        del row["_us"], row["_id"]
    count_query, count_params = _newest_first(filters, None, TOTAL_BOUND + 1, "1", ordered=False)
    counted = await db.execute("SELECT count(*), pg_snapshot_xmin(pg_current_snapshot())::text"
                               f" FROM ({count_query}) c", count_params)
    total, oldest_running = counted.fetchone()
    return Page(rows, min(total, TOTAL_BOUND), total > TOTAL_BOUND, next_before, format_cursor(int(oldest_running), 0))


async def latest_per_event(db: momoko.Pool) -> list[dict[str, Any]]:
    """The newest datapoint of each event: one descent of the (event_id, recorded_at) index each."""
    cursor = await db.execute(
        f"SELECT {_SHAPE} FROM events e CROSS JOIN LATERAL ("
        " SELECT d.* FROM datapoints d WHERE d.event_id = e.id ORDER BY d.recorded_at DESC, d.id DESC LIMIT 1) d"
        " LEFT JOIN experiments x ON x.id = d.experiment_id ORDER BY e.public_id", cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


def export_rows(db: momoko.Pool, filters: Filters, chunk_rows: int) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The selection's datapoints in time order, chunk by chunk from a server-side cursor."""
    where, params = filters.sql()
    return stream_rows(db, f"SELECT {utc_text('d.recorded_at')}, e.public_id, d.value, e.unit, x.public_id"
                           f" FROM {_FROM} WHERE true{where} ORDER BY d.recorded_at, d.id", params, chunk_rows)


async def get_datapoint(db: momoko.Pool, public_id: str) -> dict[str, Any] | None:
    row_id = row_id_of(public_id)
    if row_id is None:
        return None
    cursor = await db.execute(f"SELECT {_SHAPE} FROM {_FROM} WHERE d.id = %s", (row_id,),
                              cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return dict(row) if row else None


async def delete_datapoint(db: momoko.Pool, public_id: str) -> bool:
    row_id = row_id_of(public_id)
    if row_id is None:
        return False
    cursor = await db.execute(f"WITH gone AS (DELETE FROM datapoints WHERE id = %s"
                              f" RETURNING event_id, recorded_at) {rollups.BUCKETS_OF}", (row_id,))
    touched = cursor.fetchall()
    await rollups.recompute(db, touched)  # after the delete, which it must see
    return bool(touched)
