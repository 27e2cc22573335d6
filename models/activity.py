"""The activity log: who did what, and when. People's changes through the API, and the command line's."""

from __future__ import annotations

import json
from typing import Any

import momoko
from psycopg2.extras import RealDictCursor

from models.timestamps import utc_text

# What is recorded; the dashboard and the API's filter name these.
ACTIONS = (
    "experiment.started", "experiment.stopped", "experiment.renamed", "experiment.deleted",
    "rule.created", "rule.updated", "rule.deleted",
    "webhook.created", "webhook.updated", "webhook.deleted",
    "alarm.acknowledged",
    "controller.registered", "controller.revoked",
    "user.added", "user.role_changed", "user.deleted", "user.password_reset", "user.password_changed",
    "command.sent",
)
COMMAND_LINE = "command line"  # the actor of what `app.py` does

_SHAPE = f"id, {utc_text('at')} AS at, actor, action, subject, details"


def insert_sql(source: str = "", details: str = "%(details)s::jsonb") -> str:
    """The INSERT of one entry (from %(actor)s, %(action)s, %(subject)s and `details`), for statements that
    record their change in the same transaction: one entry per row of `source` (say, "FROM changed"), so
    nothing is recorded when nothing changed."""
    return (f"INSERT INTO activity (actor, action, subject, details)"
            f" SELECT %(actor)s, %(action)s, %(subject)s, {details} {source}")


async def record(db: momoko.Pool | momoko.Connection, actor: str, action: str, subject: str | None,
                 **details: Any) -> None:
    assert action in ACTIONS, action
    await db.execute(insert_sql(), {"actor": actor, "action": action, "subject": subject,
                                    "details": json.dumps(details)})


async def entries(db: momoko.Pool, limit: int, before: int | None = None, actor: str | None = None,
                  action: str | None = None, subject: str | None = None) -> list[dict[str, Any]]:
    """Newest first, `limit` of them, older than entry `before` if given; each filter narrows them (and has its
    own index, so a page costs what it returns)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("actor", actor), ("action", action), ("subject", subject)):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if before is not None:
        clauses.append("id < %s")
        params.append(before)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    cursor = await db.execute(f"SELECT {_SHAPE} FROM activity{where} ORDER BY id DESC LIMIT %s", (*params, limit),
                              cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]
