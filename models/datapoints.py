"""SQL for datapoints: storing readings in one statement and reading them back."""

from __future__ import annotations

import base64
import os
from typing import Any, Iterable, Sequence

import momoko

from models.readings import Reading

PUBLIC_ID_BYTES = 12  # 96 random bits, 16 URL-safe characters

# One statement per batch. Readings whose event does not exist are left out by the join and so
# come back missing from the result: that is how unknown events are found, without a race
# against an event being deleted in between. The running experiment is looked up in the same
# statement, so a datapoint is tagged with the experiment that was running when it committed.
_INSERT = """
WITH running AS (
    SELECT id, public_id FROM experiments WHERE stopped_at IS NULL
), inserted AS (
    INSERT INTO datapoints (public_id, event_id, experiment_id, value, recorded_at)
    SELECT r.public_id, e.id, (SELECT id FROM running), r.value, r.recorded_at
    FROM unnest(%s::text[], %s::text[], %s::float8[], %s::timestamptz[])
         WITH ORDINALITY AS r(public_id, event_public_id, value, recorded_at, position)
    JOIN events e ON e.public_id = r.event_public_id
    ORDER BY r.position
    RETURNING id, public_id
)
SELECT public_id, (SELECT public_id FROM running) FROM inserted ORDER BY id
"""


def new_public_ids(count: int) -> list[str]:
    """`dp_` + random URL-safe text, with one call for randomness per batch."""
    text = base64.urlsafe_b64encode(os.urandom(PUBLIC_ID_BYTES * count)).decode("ascii")
    width = PUBLIC_ID_BYTES * 4 // 3
    return ["dp_" + text[i:i + width] for i in range(0, len(text), width)]


def _array(elements: Iterable[str]) -> str:
    """A PostgreSQL array literal. psycopg2 adapts one such string far faster than a list: about
    2 ms instead of 14 for 5,000 rows, time the IOLoop would otherwise spend on every batch."""
    return "{" + ",".join(elements) + "}"


def _quoted(element: str) -> str:
    # Event ids come from controllers; quoted, a comma or brace in one cannot shift the columns.
    return '"' + element.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def insert_datapoints(db: momoko.Pool, readings: Sequence[Reading]) -> list[dict[str, Any] | None]:
    """Store readings in one INSERT; returns, for each reading in order, the datapoint in the
    stream's shape, or None where its event does not exist and nothing was stored."""
    public_ids = new_public_ids(len(readings))
    cursor = await db.execute(_INSERT, (
        _array(public_ids),
        _array(_quoted(r.event_public_id) for r in readings),
        _array(repr(r.value) for r in readings),
        _array(r.timestamp for r in readings),
    ))
    experiment_of = dict(cursor.fetchall())
    return [
        {
            "public_id": public_id,
            "value": reading.value,
            "timestamp": reading.timestamp,
            "event_public_id": reading.event_public_id,
            "experiment_public_id": experiment_of[public_id],
        }
        if public_id in experiment_of else None
        for public_id, reading in zip(public_ids, readings)
    ]
