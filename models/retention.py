"""Retention: readings older than the settings allow are removed in small batches, one event at a time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import momoko

from models.timestamps import format_timestamp

log = logging.getLogger("webmacs.retention")

BATCH = 2000  # rows per DELETE: each is a short transaction that ingest never waits behind for long
# After each batch the purge rests this many times as long as the batch took: it then takes at most a
# fifth of one database backend, and ingest keeps the rest of a small machine (2 cores: ack p99 went
# up 1.3 to 2.2 times during a purge that paused 10 ms between batches of 5,000). Removing a day of a
# 100 readings/s rig (8.6 million) still takes minutes, once an hour.
REST = 4.0
PURGE_LOCK = 0x57505247  # "WPRG": one purge at a time across every process sharing the database


def _doomed(row: str) -> str:
    """Whether the row is past the cutoffs. Readings of an experiment follow the experiment's cutoff
    (none: kept while the experiment exists)."""
    return (f"(({row}.experiment_id IS NULL AND {row}.recorded_at < %(datapoint_cutoff)s)"
            f" OR ({row}.experiment_id IS NOT NULL AND {row}.recorded_at < %(experiment_cutoff)s))")


# First pass: the next BATCH rows in id order, which is the order they were stored in and nearly the
# order of the table's pages, and of them those past the cutoffs. Each page is written once for all its
# events' rows (a pass per event would dirty, and log, every page of the day once per event: 50 times
# with 50 events). It stops at the first window with nothing to remove: readings stored out of time
# order (backfill) or an experiment's kept ones are left to the second pass.
_DELETE_OLDEST_STORED = f"""
WITH examined AS (
    SELECT ctid, id, experiment_id, recorded_at FROM datapoints WHERE id > %(resume)s ORDER BY id LIMIT %(batch)s
), gone AS (
    DELETE FROM datapoints d USING examined e
    WHERE d.ctid = e.ctid AND {_doomed("e")}
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM examined), (SELECT max(id) FROM examined)
"""

# Second pass: the oldest rows of one event past the cutoffs, through the (event_id, recorded_at)
# index, from where the last batch stopped: rows kept (an experiment's) are passed over once, not once
# per batch.
_DELETE = f"""
WITH doomed AS (
    SELECT ctid, recorded_at FROM datapoints d
    WHERE event_id = %(event)s AND recorded_at >= %(resume)s AND recorded_at < %(oldest_cutoff)s
      AND {_doomed("d")}
    ORDER BY recorded_at LIMIT %(batch)s
), gone AS (
    DELETE FROM datapoints d USING doomed WHERE d.ctid = doomed.ctid RETURNING doomed.recorded_at
)
SELECT count(*), max(recorded_at) FROM gone
"""
_FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)  # a cutoff that removes nothing


@dataclass
class PurgeResult:
    removed: int = 0
    rollups_removed: int = 0
    datapoint_cutoff: str | None = None
    experiment_cutoff: str | None = None
    skipped: bool = False  # another process was purging
    finished_at: str = field(default_factory=lambda: format_timestamp(datetime.now(UTC)))

    def as_json(self) -> dict[str, object]:
        return {"removed": self.removed, "rollups_removed": self.rollups_removed,
                "datapoint_cutoff": self.datapoint_cutoff, "experiment_cutoff": self.experiment_cutoff,
                "skipped": self.skipped, "at": self.finished_at}


async def purge(db: momoko.Pool, datapoint_days: float, experiment_days: float, rollup_days: float = 0.0,
                now: datetime | None = None, stopping: Callable[[], bool] = lambda: False) -> PurgeResult:
    """Remove what the retention settings (0: keep forever) no longer keep; returns what it did.
    `stopping` is asked between batches: a server shutting down need not wait for a whole purge."""
    now = now or datetime.now(UTC)
    datapoint_cutoff = now - timedelta(days=datapoint_days) if datapoint_days else _FAR_PAST
    experiment_cutoff = now - timedelta(days=experiment_days) if experiment_days else _FAR_PAST
    result = PurgeResult(datapoint_cutoff=format_timestamp(datapoint_cutoff) if datapoint_days else None,
                         experiment_cutoff=format_timestamp(experiment_cutoff) if experiment_days else None)
    if not datapoint_days and not experiment_days and not rollup_days:
        return result
    conn = await db.getconn()
    try:
        locked = (await conn.execute("SELECT pg_try_advisory_lock(%s)", (PURGE_LOCK,))).fetchone()[0]
        if not locked:
            result.skipped = True
            return result
        try:
            if rollup_days:
                result.rollups_removed = (await conn.execute(
                    "DELETE FROM datapoint_rollups WHERE bucket < %s", (now - timedelta(days=rollup_days),))).rowcount
            if datapoint_days or experiment_days:
                cutoffs = {"oldest_cutoff": max(datapoint_cutoff, experiment_cutoff),
                           "datapoint_cutoff": datapoint_cutoff, "experiment_cutoff": experiment_cutoff, "batch": BATCH}
                result.removed += await _in_stored_order(conn, cutoffs, stopping)
                if not stopping():
                    result.removed += await _per_event(conn, cutoffs, stopping)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (PURGE_LOCK,))
    finally:
        db.putconn(conn)
    result.finished_at = format_timestamp(datetime.now(UTC))
    if result.removed:
        log.info("retention removed %d readings", result.removed)
    return result


async def _in_stored_order(conn: momoko.Connection, cutoffs: dict[str, object],
                           stopping: Callable[[], bool]) -> int:
    removed, resume = 0, 0
    while True:
        started = time.monotonic()
        cursor = await conn.execute(_DELETE_OLDEST_STORED, {**cutoffs, "resume": resume})
        deleted, examined, resume = cursor.fetchone()
        removed += deleted
        if deleted == 0 or examined < BATCH or stopping():
            return removed
        await _rest(started)


async def _per_event(conn: momoko.Connection, cutoffs: dict[str, object], stopping: Callable[[], bool]) -> int:
    removed = 0
    for (event,) in (await conn.execute("SELECT id FROM events ORDER BY id")).fetchall():
        resume = _FAR_PAST
        while True:
            started = time.monotonic()
            deleted, resume = (await conn.execute(_DELETE, {**cutoffs, "event": event, "resume": resume})).fetchone()
            removed += deleted
            if deleted < BATCH or stopping():
                break
            await _rest(started)
        if stopping():
            break
    return removed


async def _rest(started: float) -> None:
    await asyncio.sleep((time.monotonic() - started) * REST)


async def oldest_reading(db: momoko.Pool) -> str | None:
    """When the oldest stored reading was recorded: one index descent per event."""
    cursor = await db.execute(
        "SELECT min(oldest) FROM events e CROSS JOIN LATERAL ("
        " SELECT recorded_at AS oldest FROM datapoints d WHERE d.event_id = e.id ORDER BY recorded_at LIMIT 1) o")
    oldest = cursor.fetchone()[0]
    return format_timestamp(oldest) if oldest is not None else None
