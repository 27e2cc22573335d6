"""Rollups and the downsampled series read from them: exact min, max, mean, count and last per bucket."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import momoko

from models.timestamps import format_timestamp

RESOLUTIONS = (60, 3600)  # seconds, finest first: the rollups the ingest statement keeps up to date
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The (event_id, resolution, bucket) of every rollup that the deleted readings were part of.
BUCKETS_OF = """SELECT DISTINCT g.event_id, r.resolution,
       date_bin(r.resolution * interval '1 second', g.recorded_at, 'epoch') AS bucket
FROM gone g CROSS JOIN (VALUES (60), (3600)) AS r(resolution)"""

Bucket = tuple[int, int, datetime]


async def recompute(conn: momoko.Connection, buckets: Sequence[Bucket]) -> None:
    """Compute these rollups again from the readings left in them, in the transaction that deleted
    readings (so that a crash cannot leave them counting readings that are gone), in the order every
    writer of rollups takes them (0007_rollup_locks.sql)."""
    if buckets:
        ordered = sorted(buckets)
        await conn.execute(  # a function scan of unnest yields the arrays' order
            "SELECT webmacs_rollup_recompute(b.event_id, b.resolution, b.bucket)"
            " FROM unnest(%s::bigint[], %s::integer[], %s::timestamptz[]) AS b(event_id, resolution, bucket)",
            ([b[0] for b in ordered], [b[1] for b in ordered], [b[2] for b in ordered]))


def bucket_seconds(since: datetime, until: datetime, points: int) -> int:
    """The width that makes at most `points` buckets of [since, until), rounded up to whole hours or
    minutes when that wide, so that whole rollups fit in each bucket."""
    width = max(1, math.ceil((until - since).total_seconds() / points))
    for resolution in reversed(RESOLUTIONS):
        if width >= resolution:
            return math.ceil(width / resolution) * resolution
    return width


def _floor(moment: datetime, seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=(moment - EPOCH) // timedelta(seconds=seconds) * seconds)


def _ceil(moment: datetime, seconds: int) -> datetime:
    floored = _floor(moment, seconds)
    return floored if floored == moment else floored + timedelta(seconds=seconds)


def _pieces(since: datetime, until: datetime, width: int) -> tuple[list[tuple[int, datetime, datetime]],
                                                                   list[tuple[datetime, datetime]]]:
    """Cover [since, until) with whole rollups, coarsest first, and raw readings at the edges.

    A rollup resolution is used only if it divides the bucket width: then a bucket holds whole rollups.
    Returns ([(resolution, start, end)], [(raw start, raw end)]).
    """
    rollups: list[tuple[int, datetime, datetime]] = []
    edges = [(since, until)]  # what is left to cover, with finer rollups or raw readings
    for resolution in reversed(RESOLUTIONS):
        if width % resolution:
            continue
        finer = []
        for start, end in edges:
            inner_start, inner_end = _ceil(start, resolution), _floor(end, resolution)
            if inner_start < inner_end:
                rollups.append((resolution, inner_start, inner_end))
                finer += [(start, inner_start), (inner_end, end)]
            else:
                finer.append((start, end))
        edges = [(start, end) for start, end in finer if start < end]
    return rollups, edges


async def series(db: momoko.Pool, events: dict[str, int], since: datetime, until: datetime,
                 points: int) -> dict[str, Any]:
    """Equal buckets over [since, until) per event: {"t", "min", "max", "avg", "last", "count"}, exact."""
    width = bucket_seconds(since, until, points)
    rollups, edges = _pieces(since, until, width)
    parts, params = [], []
    ids = list(events.values())
    for resolution, start, end in rollups:
        parts.append("SELECT event_id, bucket AS t, count, total, low, high, last_at, last_id, last_value"
                     " FROM datapoint_rollups WHERE event_id = ANY(%s) AND resolution = %s"
                     " AND bucket >= %s AND bucket < %s")
        params += [ids, resolution, start, end]
    for start, end in edges:
        parts.append("SELECT event_id, recorded_at, 1, value::numeric, value, value, recorded_at, id, value"
                     " FROM datapoints WHERE event_id = ANY(%s) AND recorded_at >= %s AND recorded_at < %s")
        params += [ids, start, end]
    cursor = await db.execute(
        f"SELECT event_id, date_bin(%s * interval '1 second', t, 'epoch') AS b, sum(count)::bigint, sum(total),"
        " min(low), max(high), (array_agg(last_value ORDER BY last_at DESC, last_id DESC))[1]"
        f" FROM ({' UNION ALL '.join(parts)}) AS p(event_id, t, count, total, low, high, last_at, last_id, last_value)"
        " GROUP BY 1, 2 ORDER BY 1, 2", [width, *params])
    names = {event_id: name for name, event_id in events.items()}
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in events}
    for event_id, bucket, count, total, low, high, last in cursor.fetchall():
        # The sum is exact (numeric); the mean of doubles is a double again.
        found[names[event_id]].append({"t": format_timestamp(bucket), "min": low, "max": high,
                                       "avg": float(total / count), "last": last, "count": int(count)})
    return {"from": format_timestamp(since), "to": format_timestamp(until), "bucket_seconds": width,
            "resolution_seconds": max((resolution for resolution, _, _ in rollups), default=None),
            "series": found}
