"""SQL for datapoints: storing readings in one statement and reading them back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import momoko
from psycopg2.extras import RealDictCursor

from models import events, rollups, sessions
from models.database import stream_rows, transaction
from models.readings import NOBODY, Reading, Source
from models.timestamps import utc_text

PUBLIC_ID_PREFIX = "dp_"  # then the row id in decimal (0005_derived_public_ids.sql says why)
PUBLIC_ID_SQL = "'dp_' || d.id"

# One statement per batch. Readings whose event does not exist are left out by the join and so
# come back missing from the result: that is how unknown events are found, without a race
# against an event being deleted in between. Ids are taken first, so that each row is known by its
# position in the batch (0006_transaction_ordered_ids.sql says what an id holds). The running
# experiment is looked up in the same statement, so a datapoint is tagged with the experiment that was
# running when it committed.
#
# Messages sent in a named session take the statement's second form: stored only if their seq is new to
# the session, whose seqs are marked taken in the same statement (0009_sessions_and_commands.sql); a
# resend comes back marked, and nothing of it is stored again. Batches without one take the first form,
# which spends nothing on sessions.
_PLAIN_SOURCE = """
WITH running AS (
    SELECT id, public_id FROM experiments WHERE stopped_at IS NULL
), known AS MATERIALIZED (
    SELECT e.id AS event_id, r.value, r.recorded_at, r.source, r.position,
           row_number() OVER (ORDER BY r.position) - 1 AS place
    FROM unnest(%(events)s::text[], %(values)s::float8[], %(times)s::timestamptz[], %(sources)s::integer[])
         WITH ORDINALITY AS r(event_public_id, value, recorded_at, source, position)
    JOIN events e ON e.public_id = r.event_public_id
"""
_KEYED_SOURCE = """
WITH running AS (
    SELECT id, public_id FROM experiments WHERE stopped_at IS NULL
), sent AS MATERIALIZED (
    SELECT * FROM unnest(%(events)s::text[], %(values)s::float8[], %(times)s::timestamptz[], %(sources)s::integer[],
                         %(session_ids)s::integer[], %(seqs)s::bigint[])
         WITH ORDINALITY AS r(event_public_id, value, recorded_at, source, session_id, seq, position)
), sessions AS MATERIALIZED (
    -- Locked until commit: a resend racing its original on another process waits here, then sees it taken.
    SELECT id, high_seq, missing FROM telemetry_sessions WHERE id = ANY (%(sessions)s) ORDER BY id FOR UPDATE
), fresh AS MATERIALIZED (
    SELECT sent.* FROM sent LEFT JOIN sessions s ON s.id = sent.session_id
    WHERE sent.session_id IS NULL OR sent.seq > s.high_seq OR s.missing @> sent.seq
), known AS MATERIALIZED (
    SELECT e.id AS event_id, r.value, r.recorded_at, r.source, r.position,
           row_number() OVER (ORDER BY r.position) - 1 AS place
    FROM fresh r
    JOIN events e ON e.public_id = r.event_public_id
"""
_STORE = """), first AS MATERIALIZED (
    SELECT webmacs_take_datapoint_ids((SELECT count(*) FROM known)::integer) AS id
), numbered AS MATERIALIZED (
    -- Ids in the batch's order, so that they follow it (as the cursor does).
    SELECT first.id + known.place AS id, known.* FROM known, first
), inserted AS (
    INSERT INTO datapoints (id, event_id, experiment_id, value, recorded_at, source)
    SELECT n.id, n.event_id, (SELECT id FROM running), n.value, n.recorded_at, n.source
    FROM numbered n ORDER BY n.id
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
    ORDER BY 1, 2, 3  -- the order every writer of rollups locks them in (0007_rollup_locks.sql)
    ON CONFLICT (event_id, resolution, bucket) DO UPDATE SET
        count = kept.count + EXCLUDED.count, total = kept.total + EXCLUDED.total,
        low = least(kept.low, EXCLUDED.low), high = greatest(kept.high, EXCLUDED.high),
        last_at = CASE WHEN (EXCLUDED.last_at, EXCLUDED.last_id) > (kept.last_at, kept.last_id)
                       THEN EXCLUDED.last_at ELSE kept.last_at END,
        last_value = CASE WHEN (EXCLUDED.last_at, EXCLUDED.last_id) > (kept.last_at, kept.last_id)
                          THEN EXCLUDED.last_value ELSE kept.last_value END,
        last_id = CASE WHEN (EXCLUDED.last_at, EXCLUDED.last_id) > (kept.last_at, kept.last_id)
                       THEN EXCLUDED.last_id ELSE kept.last_id END
"""
_TAKE = """
), taken AS (
    -- Every message of the statement marks its seq taken: what was resent was taken already.
    UPDATE telemetry_sessions s SET high_seq = greatest(s.high_seq, upper(t.seqs) - 1), used_at = now(),
        missing = webmacs_seqs_missing(s.missing, s.high_seq, t.seqs, %(kept)s)
    FROM unnest(%(sessions)s::integer[], %(session_seqs)s::int8multirange[]) AS t(id, seqs) WHERE s.id = t.id
"""
_STORED = """
)
SELECT position, (SELECT public_id FROM running), id,
       webmacs_datapoint_base(pg_current_xact_id()), webmacs_datapoint_horizon()
FROM numbered
"""
_RESENT = """
UNION ALL
SELECT sent.position, NULL, NULL, NULL, NULL  -- resends: nothing stored, nothing in `numbered`
FROM sent JOIN sessions s ON s.id = sent.session_id
WHERE sent.seq <= s.high_seq AND NOT s.missing @> sent.seq
"""
_INSERT_PLAIN = _PLAIN_SOURCE + _STORE + _STORED
_INSERT_KEYED = _KEYED_SOURCE + _STORE + _TAKE + _STORED + _RESENT


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


class Batch:
    """The readings of one INSERT, added message by message: with each, who stored it and its session and
    seq. A statement holds thousands of messages, so adding one only appends; the array literals are
    joined once, by str.join over map (C loops), repeating a message's values for each of its readings."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.keys: list[tuple[int, int]] = []
        self._sizes: list[int] = []
        self._sources: list[int | None] = []
        self._keys: list[tuple[int, int] | None] = []

    def add(self, readings: Sequence[Reading], source: Source = NOBODY, key: tuple[int, int] | None = None) -> None:
        self.readings += readings
        self._sizes.append(len(readings))
        self._sources.append(source.column)
        self._keys.append(key)
        if key is not None:
            self.keys.append(key)

    def params(self) -> dict[str, Any]:
        readings = self.readings
        params: dict[str, Any] = {
            "events": _array(f'"{r.event_public_id}"' for r in readings),
            "values": _array(repr(r.value) for r in readings),
            "times": _array(r.timestamp for r in readings),
            # unnest pads a shorter array with NULLs: "{}" when nobody is known
            "sources": self._per_reading(self._sources) if any(self._sources) else "{}",
        }
        if self.keys:
            seqs = sessions.seqs_by_session(self.keys)
            params.update(session_ids=self._per_reading([key and key[0] for key in self._keys]),
                          seqs=self._per_reading([key and key[1] for key in self._keys]),
                          sessions=list(seqs), session_seqs=list(seqs.values()), kept=sessions.SEQS_KEPT)
        return params

    def _per_reading(self, per_message: list[int | None]) -> str:
        texts: Iterable[str] = ("NULL" if value is None else str(value) for value in per_message) \
            if None in per_message else map(str, per_message)
        if all(size == 1 for size in self._sizes):  # one reading per message
            return "{" + ",".join(texts) + "}"
        return "{" + ",".join(_repeated(text, size) for text, size in zip(texts, self._sizes, strict=True)) + "}"


def _repeated(text: str, times: int) -> str:
    return text if times == 1 else ",".join([text] * times)


@dataclass
class Stored:
    """What one INSERT did with each reading, by position."""

    datapoints: list[dict[str, Any] | None]  # the stored datapoint in the stream's shape; None: not stored
    resent: set[int]  # positions of readings of messages their session had already stored


async def insert_datapoints(db: momoko.Pool | momoko.Connection, batch: Batch | Sequence[Reading]) -> Stored:
    """Store the batch's readings in one INSERT (plain readings: stored by nobody known, in no session). A
    reading whose event does not exist, or whose message is a resend, is not stored."""
    if not isinstance(batch, Batch):
        readings, batch = batch, Batch()
        batch.add(readings)
    readings = batch.readings
    cursor = await db.execute(_INSERT_KEYED if batch.keys else _INSERT_PLAIN, batch.params())
    result = Stored([None] * len(readings), set())
    for position, experiment, row_id, own_base, horizon in cursor.fetchall():
        if row_id is None:
            result.resent.add(position - 1)
            continue
        reading = readings[position - 1]
        result.datapoints[position - 1] = {
            "public_id": public_id_of(row_id),
            "value": reading.value,
            "timestamp": reading.timestamp,
            "event_public_id": reading.event_public_id,
            "experiment_public_id": experiment,
            "cursor": format_cursor(row_id if horizon == own_base else horizon - 1),
        }
    return result


# A polling cursor is a datapoint id: "after this one". The cursor handed out with a datapoint as it is
# broadcast is its own id when no older transaction was still running; otherwise the point before the
# oldest one, so that a client switching to polling may see a few datapoints again but never misses one.


def format_cursor(position: int) -> str:
    return str(position)


def parse_cursor(text: str) -> int:
    """The id a cursor points after; "0" means the beginning. ValueError if it is not one of ours.

    "<txid>-<id>", the form before 0006_transaction_ordered_ids.sql, is still read: as after that id.
    """
    txid, dash, position = text.rpartition("-")
    # isdecimal, not isdigit: "²" is a digit to Python but no number to int().
    if not (position.isdecimal() and int(position) < 2**63
            and (not dash or (txid.isdecimal() and int(txid) < 2**64))):
        raise ValueError("cursor must be 0 or a cursor this API returned")
    return int(position)


@dataclass(frozen=True)
class Filters:
    """Which datapoints a listing covers; empty fields do not filter."""

    events: tuple[str, ...] = ()
    experiment: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    stored_by: str | None = None  # a controller's public id, or a user's e-mail address

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
        if self.stored_by:
            clauses.append(STORED_BY_CONDITION)
            params += [self.stored_by, self.stored_by]
        return "".join(" AND " + clause for clause in clauses), params


_SHAPE = f"""{PUBLIC_ID_SQL} AS public_id, d.value, {utc_text("d.recorded_at")} AS timestamp,
    e.public_id AS event_public_id, x.public_id AS experiment_public_id,
    d.id::text AS cursor"""
_FROM = """datapoints d JOIN events e ON e.id = d.event_id
    LEFT JOIN experiments x ON x.id = d.experiment_id"""
# Who stored a datapoint, for the API and the exports (not the stream, whose objects keep the spec's shape).
STORED_BY = "coalesce(c.public_id, u.email)"
SOURCES_JOIN = " LEFT JOIN controllers c ON c.id = d.source LEFT JOIN users u ON u.id = -d.source"
STORED_BY_CONDITION = ("(d.source = (SELECT id FROM controllers WHERE public_id = %s)"
                       " OR d.source = -(SELECT id FROM users WHERE email = %s))")
_LISTED = f"{_SHAPE}, {STORED_BY} AS stored_by"


async def datapoints_after(db: momoko.Pool, after: int, limit: int,
                           filters: Filters) -> list[dict[str, Any]]:
    """Datapoints past the cursor in ingest order, only from transactions that can gain no more rows."""
    where, params = filters.sql()
    cursor = await db.execute(
        f"SELECT {_SHAPE} FROM {_FROM}"
        f" WHERE d.id > %s AND d.id < webmacs_datapoint_horizon(){where} ORDER BY d.id LIMIT %s",
        [after, *params, limit], cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


async def datapoints_since(db: momoko.Pool, after: int, limit: int,
                           events: frozenset[str] | None) -> list[dict[str, Any]]:
    """Every datapoint committed past the cursor that this transaction sees, in cursor order.

    Unlike datapoints_after, without waiting for older transactions: the stream's catch-up is
    registered for live datapoints before it reads, so what commits later reaches it live.
    """
    events_clause = " AND e.public_id = ANY(%s)" if events is not None else ""
    cursor = await db.execute(
        f"SELECT {_SHAPE} FROM {_FROM} WHERE d.id > %s{events_clause} ORDER BY d.id LIMIT %s",
        [after, *([sorted(events)] if events is not None else []), limit],
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


def _conditions(filters: Filters, before: tuple[int, int] | None) -> tuple[str, list[Any]]:
    """The time range and the keyset, as conditions on `d`."""
    conditions: list[str] = []
    params: list[Any] = []
    if filters.since:
        conditions.append("d.recorded_at >= %s")
        params.append(filters.since)
    if filters.until:
        conditions.append("d.recorded_at <= %s")
        params.append(filters.until)
    if filters.stored_by:
        conditions.append(STORED_BY_CONDITION)
        params += [filters.stored_by, filters.stored_by]
    if before:
        conditions.append("(d.recorded_at, d.id) < (to_timestamp(%s / 1000000.0), %s)")
        params += [before[0], before[1]]
    return "".join(" AND " + condition for condition in conditions), params


def _newest_first(event_ids: Sequence[int], filters: Filters, before: tuple[int, int] | None,
                  limit: int, columns: str) -> tuple[str, list[Any]]:
    """The first `limit` datapoints matching the filters, newest first, each read from an index in order.

    One backward scan of the (event_id, recorded_at) index per event, merged (a Merge Append) and read
    lazily: a page reads about `limit` rows in all, whatever is stored and however many events there
    are. Each scan ends at `limit` rows with ties on the time, so that ordering by time and then id
    finds every candidate. With an experiment, through that experiment's own index instead.
    """
    where, params = _conditions(filters, before)
    shape = (f"SELECT {columns} FROM page d JOIN events e ON e.id = d.event_id"
             f" LEFT JOIN experiments x ON x.id = d.experiment_id{SOURCES_JOIN} ORDER BY d.recorded_at DESC, d.id DESC")
    if filters.experiment:
        events = " AND d.event_id = ANY(%s)" if filters.events else ""
        return (f"WITH page AS (SELECT d.* FROM datapoints d"
                f" WHERE d.experiment_id = (SELECT id FROM experiments WHERE public_id = %s){where}{events}"
                f" ORDER BY d.recorded_at DESC, d.id DESC LIMIT %s) {shape}",
                [filters.experiment, *params, *([list(event_ids)] if filters.events else []), limit])
    if not event_ids:
        return f"WITH page AS (SELECT * FROM datapoints WHERE false) {shape}", []
    scan = (f"(SELECT * FROM datapoints d WHERE d.event_id = %s{where}"
            " ORDER BY d.recorded_at DESC FETCH FIRST %s ROWS WITH TIES)")
    return (f"WITH page AS (SELECT * FROM ({' UNION ALL '.join([scan] * len(event_ids))}) d"
            f" ORDER BY d.recorded_at DESC, d.id DESC LIMIT %s) {shape}",
            [value for event_id in event_ids for value in (event_id, *params, limit)] + [limit])


def _count(event_ids: Sequence[int], filters: Filters, bound: int) -> tuple[str, list[Any]]:
    """How many datapoints match the filters, counted up to `bound`, from the indexes alone where
    PostgreSQL can (nothing but the event and the time is read)."""
    where, params = _conditions(filters, None)
    if filters.experiment:
        events = " AND d.event_id = ANY(%s)" if filters.events else ""
        return (f"SELECT count(*) FROM (SELECT 1 FROM datapoints d WHERE d.experiment_id ="
                f" (SELECT id FROM experiments WHERE public_id = %s){where}{events} LIMIT %s) c",
                [filters.experiment, *params, *([list(event_ids)] if filters.events else []), bound])
    return ("SELECT count(*) FROM (SELECT 1 FROM unnest(%s::bigint[]) e(id) CROSS JOIN LATERAL"
            f" (SELECT 1 FROM datapoints d WHERE d.event_id = e.id{where} LIMIT %s) d LIMIT %s) c",
            [list(event_ids), *params, bound, bound])


async def datapoints_page(db: momoko.Pool, page_size: int, filters: Filters,
                          before: tuple[int, int] | None = None, offset: int = 0) -> Page:
    """One page newest first: after `before` (a keyset), or `offset` rows in (bounded by TOTAL_BOUND)."""
    found = await db.execute("SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM events"
                             + (" WHERE public_id = ANY(%s)" if filters.events else ""),
                             [list(filters.events)] if filters.events else [])
    event_ids: list[int] = found.fetchone()[0]
    query, params = _newest_first(event_ids, filters, before, offset + page_size + 1,
                                  f"{_LISTED}, (extract(epoch FROM d.recorded_at) * 1000000)::bigint AS _us,"
                                  " d.id AS _id")
    found = await db.execute(f"SELECT * FROM ({query}) page OFFSET %s", [*params, offset],
                             cursor_factory=RealDictCursor)
    rows = [dict(row) for row in found.fetchall()]
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_before = format_keyset(rows[-1]["_us"], rows[-1]["_id"]) if more and rows else None
    for row in rows:
        del row["_us"], row["_id"]
    count_query, count_params = _count(event_ids, filters, TOTAL_BOUND + 1)
    counted = await db.execute(f"SELECT ({count_query}), webmacs_datapoint_horizon()", count_params)
    total, horizon = counted.fetchone()
    return Page(rows, min(total, TOTAL_BOUND), total > TOTAL_BOUND, next_before, format_cursor(horizon - 1))


async def latest_per_event(db: momoko.Pool) -> list[dict[str, Any]]:
    """The newest datapoint of each event: one descent of the (event_id, recorded_at) index each."""
    cursor = await db.execute(
        f"SELECT {_LISTED}, {events.stale_sql('d.recorded_at')} AS stale FROM events e CROSS JOIN LATERAL ("
        " SELECT d.* FROM datapoints d WHERE d.event_id = e.id ORDER BY d.recorded_at DESC, d.id DESC LIMIT 1) d"
        f" LEFT JOIN experiments x ON x.id = d.experiment_id{SOURCES_JOIN} ORDER BY e.public_id",
        cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


def export_rows(db: momoko.Pool, filters: Filters, chunk_rows: int) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The selection's datapoints in time order, chunk by chunk from a server-side cursor."""
    where, params = filters.sql()
    return stream_rows(db, f"SELECT {utc_text('d.recorded_at')}, e.public_id, d.value, e.unit, x.public_id,"
                           f" {STORED_BY} FROM {_FROM}{SOURCES_JOIN} WHERE true{where} ORDER BY d.recorded_at, d.id",
                       params, chunk_rows)


async def get_datapoint(db: momoko.Pool, public_id: str) -> dict[str, Any] | None:
    row_id = row_id_of(public_id)
    if row_id is None:
        return None
    cursor = await db.execute(f"SELECT {_LISTED} FROM {_FROM}{SOURCES_JOIN} WHERE d.id = %s", (row_id,),
                              cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return dict(row) if row else None


async def delete_datapoint(db: momoko.Pool, public_id: str) -> bool:
    row_id = row_id_of(public_id)
    if row_id is None:
        return False
    async with transaction(db) as conn:
        cursor = await conn.execute(f"WITH gone AS (DELETE FROM datapoints WHERE id = %s"
                                    f" RETURNING event_id, recorded_at) {rollups.BUCKETS_OF}", (row_id,))
        touched = cursor.fetchall()
        await rollups.recompute(conn, touched)  # a statement after the delete, which it must see
    return bool(touched)
