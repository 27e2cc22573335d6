"""SQL for experiments: at most one runs, and datapoints committed while it runs carry its public_id."""

from __future__ import annotations

import secrets
from typing import Any

import momoko
from psycopg2.extras import RealDictCursor

_COLUMNS = "public_id, name, started_at, stopped_at"


async def start_experiment(db: momoko.Pool, name: str, public_id: str | None = None) -> dict[str, Any]:
    """Start a new experiment; psycopg2.errors.UniqueViolation when one is already running."""
    cursor = await db.execute(
        f"INSERT INTO experiments (public_id, name) VALUES (%s, %s) RETURNING {_COLUMNS}",
        (public_id or "exp_" + secrets.token_urlsafe(9), name), cursor_factory=RealDictCursor,
    )
    return dict(cursor.fetchone())


async def stop_running_experiment(db: momoko.Pool) -> dict[str, Any] | None:
    """Stop the running experiment, if any; returns it."""
    cursor = await db.execute(
        f"UPDATE experiments SET stopped_at = now() WHERE stopped_at IS NULL RETURNING {_COLUMNS}",
        cursor_factory=RealDictCursor,
    )
    row = cursor.fetchone()
    return dict(row) if row else None
