"""SQL for experiments: at most one runs, and datapoints committed while it runs carry its public_id."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import momoko
import psycopg2
from psycopg2.extras import RealDictCursor

from models import rollups
from models.database import stream_rows, transaction
from models.datapoints import SOURCES_JOIN, STORED_BY
from models.timestamps import format_timestamp, utc_text

_COLUMNS = "public_id, name, started_at, stopped_at"
READINGS_COUNTED = 10_000  # past this, a listing says "10,000 or more": counting them all would read them all
# With how many readings it has, counted along its (experiment, time) index up to READINGS_COUNTED + 1.
_COUNTED = f"""SELECT x.public_id, x.name, x.started_at, x.stopped_at, c.readings FROM experiments x
LEFT JOIN LATERAL (SELECT count(*) AS readings FROM (SELECT 1 FROM datapoints d WHERE d.experiment_id = x.id
                   LIMIT {READINGS_COUNTED + 1}) capped) c ON true"""


class ExperimentConflict(ValueError):
    """Another experiment is running, the public_id is taken, or the experiment has datapoints."""


async def start_experiment(db: momoko.Pool, name: str, public_id: str | None = None) -> dict[str, Any]:
    """Start a new experiment; ExperimentConflict when one is running (the database's rule) or the id is taken."""
    public_id = public_id or "exp_" + secrets.token_urlsafe(9)
    try:
        cursor = await db.execute(
            f"INSERT INTO experiments (public_id, name) VALUES (%s, %s) RETURNING {_COLUMNS}",
            (public_id, name), cursor_factory=RealDictCursor,
        )
    except psycopg2.errors.UniqueViolation as error:
        if error.diag.constraint_name == "experiments_one_running":
            raise ExperimentConflict("another experiment is running; stop it first") from None
        raise ExperimentConflict(f"experiment {public_id} exists already") from None
    return _shown(cursor.fetchone())


LISTED = 100  # a page of the list, unless asked for another size
MAX_LISTED = 500


class UnknownExperiment(LookupError):
    """A page asked to start before an experiment that does not exist (any more)."""


async def list_experiments(db: momoko.Pool, running_only: bool = False, limit: int = LISTED,
                           before: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """A page, newest first, and the public_id to pass as `before` for the next (older) one, None on the last.
    `running_only`: just the running one (what the dashboard asks on every load)."""
    where, params = [], []
    if running_only:
        where.append("x.stopped_at IS NULL")
    if before is not None:
        cursor = await db.execute("SELECT started_at, id FROM experiments WHERE public_id = %s", (before,))
        after = cursor.fetchone()
        if after is None:
            raise UnknownExperiment(before)
        where.append("(x.started_at, x.id) < (%s, %s)")
        params.extend(after)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    cursor = await db.execute(f"{_COUNTED}{clause} ORDER BY x.started_at DESC, x.id DESC LIMIT %s",
                              (*params, limit + 1), cursor_factory=RealDictCursor)
    rows = cursor.fetchall()
    page = [_shown(row) for row in rows[:limit]]
    return page, page[-1]["public_id"] if len(rows) > limit else None


async def experiments_during(db: momoko.Pool, start: datetime, end: datetime, limit: int = LISTED,
                             ) -> list[dict[str, Any]]:
    """The newest `limit` experiments that ran at some time in [start, end), newest first, without reading counts.

    Experiments never overlap (one runs at a time), so besides those started in the span only the last one
    started before it can reach into it: two index range scans, bounded by what they return."""
    cursor = await db.execute(
        f"(SELECT {_COLUMNS} FROM experiments WHERE started_at >= %(start)s AND started_at < %(end)s"
        " ORDER BY started_at DESC LIMIT %(limit)s) UNION ALL"
        f" (SELECT {_COLUMNS} FROM experiments WHERE started_at < %(start)s ORDER BY started_at DESC LIMIT 1)",
        {"start": start, "end": end, "limit": limit}, cursor_factory=RealDictCursor)
    ran = [_shown(row) for row in cursor.fetchall() if row["stopped_at"] is None or row["stopped_at"] > start]
    return ran[:limit]


async def get_experiment(db: momoko.Pool, public_id: str) -> dict[str, Any] | None:
    cursor = await db.execute(f"{_COUNTED} WHERE x.public_id = %s", (public_id,), cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return _shown(row) if row else None


async def rename_experiment(db: momoko.Pool, public_id: str, name: str) -> dict[str, Any] | None:
    cursor = await db.execute(f"UPDATE experiments SET name = %s WHERE public_id = %s RETURNING {_COLUMNS}",
                              (name, public_id), cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return _shown(row) if row else None


async def stop_experiment(db: momoko.Pool, public_id: str) -> dict[str, Any] | None:
    """Stop it if it runs; returns it either way (None if there is no such experiment)."""
    await db.execute("UPDATE experiments SET stopped_at = now() WHERE public_id = %s AND stopped_at IS NULL",
                     (public_id,))
    return await get_experiment(db, public_id)


async def delete_experiment(db: momoko.Pool, public_id: str, cascade: bool) -> bool:
    """Delete it (with cascade, its datapoints too); ExperimentConflict if it has datapoints otherwise."""
    if not cascade:
        try:
            cursor = await db.execute("DELETE FROM experiments WHERE public_id = %s", (public_id,))
        except psycopg2.errors.ForeignKeyViolation:
            raise ExperimentConflict(f"experiment {public_id} has datapoints; delete with ?cascade=true "
                                     "to remove them too") from None
        return cursor.rowcount == 1
    async with transaction(db) as conn:
        cursor = await conn.execute(
            "WITH gone AS (DELETE FROM datapoints"
            " WHERE experiment_id = (SELECT id FROM experiments WHERE public_id = %s)"
            " RETURNING event_id, recorded_at), removed AS (DELETE FROM experiments WHERE public_id = %s RETURNING 1)"
            " SELECT (SELECT count(*) FROM removed), array_agg(b.event_id), array_agg(b.resolution),"
            f" array_agg(b.bucket) FROM ({rollups.BUCKETS_OF}) b", (public_id, public_id))
        removed, event_ids, resolutions, buckets = cursor.fetchone()
        await rollups.recompute(conn, list(zip(event_ids or [], resolutions or [], buckets or [], strict=True)))
    return removed == 1


def export_rows(db: momoko.Pool, public_id: str, chunk_rows: int) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The experiment's datapoints in time order, chunk by chunk from a server-side cursor."""
    return stream_rows(
        db, f"SELECT {utc_text('d.recorded_at')}, e.public_id, d.value, e.unit, {STORED_BY}"
            f" FROM datapoints d JOIN events e ON e.id = d.event_id{SOURCES_JOIN}"
            " WHERE d.experiment_id = (SELECT id FROM experiments WHERE public_id = %s)"
            " ORDER BY d.recorded_at, d.id", (public_id,), chunk_rows)


def _shown(row: Any) -> dict[str, Any]:
    shown = dict(row)
    for moment in ("started_at", "stopped_at"):
        if shown[moment] is not None:
            shown[moment] = format_timestamp(shown[moment])
    shown["running"] = shown["stopped_at"] is None
    if "readings" in shown:
        shown["readings_is_lower_bound"] = shown["readings"] > READINGS_COUNTED
        shown["readings"] = min(shown["readings"], READINGS_COUNTED)
    return shown
