"""SQL for events, the sensors and actuators that datapoints belong to."""

from __future__ import annotations

from typing import Any

import momoko
import psycopg2
from psycopg2.extras import RealDictCursor

EVENT_TYPES = ("sensor", "actuator", "range", "cmd_button", "cmd_opened", "cmd_closed")
_COLUMNS = "public_id, name, type, unit, min_value, max_value"


async def upsert_event(db: momoko.Pool, public_id: str, name: str, unit: str = "",
                       type: str = "sensor") -> dict[str, Any]:
    """Create the event, or bring an existing one to these values; returns it."""
    cursor = await db.execute(
        f"INSERT INTO events (public_id, name, unit, type) VALUES (%s, %s, %s, %s)"
        f" ON CONFLICT (public_id) DO UPDATE SET name = EXCLUDED.name, unit = EXCLUDED.unit, type = EXCLUDED.type"
        f" RETURNING {_COLUMNS}",
        (public_id, name, unit, type), cursor_factory=RealDictCursor,
    )
    return dict(cursor.fetchone())


class EventExists(ValueError):
    pass


class EventInUse(ValueError):
    pass


async def list_events(db: momoko.Pool) -> list[dict[str, Any]]:
    cursor = await db.execute(f"SELECT {_COLUMNS} FROM events ORDER BY public_id", cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


async def get_event(db: momoko.Pool, public_id: str) -> dict[str, Any] | None:
    cursor = await db.execute(f"SELECT {_COLUMNS} FROM events WHERE public_id = %s", (public_id,),
                              cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return dict(row) if row else None


async def create_event(db: momoko.Pool, fields: dict[str, Any]) -> dict[str, Any]:
    """Insert an event with these columns; EventExists if the public_id is taken."""
    names = list(fields)
    try:
        cursor = await db.execute(
            f"INSERT INTO events ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
            f" RETURNING {_COLUMNS}", [fields[name] for name in names], cursor_factory=RealDictCursor)
    except psycopg2.errors.UniqueViolation:
        raise EventExists(f"event {fields['public_id']} exists already") from None
    return dict(cursor.fetchone())


async def update_event(db: momoko.Pool, public_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """Change these columns; None if there is no such event."""
    if not fields:
        return await get_event(db, public_id)
    assignments = ", ".join(f"{name} = %s" for name in fields)
    cursor = await db.execute(
        f"UPDATE events SET {assignments} WHERE public_id = %s RETURNING {_COLUMNS}",
        [*fields.values(), public_id], cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return dict(row) if row else None


async def delete_event(db: momoko.Pool, public_id: str, cascade: bool) -> bool:
    """Delete the event (and with cascade its datapoints); EventInUse if it has datapoints and not cascade."""
    statement = ("WITH gone AS (DELETE FROM datapoints WHERE event_id = (SELECT id FROM events WHERE public_id = %s))"
                 " DELETE FROM events WHERE public_id = %s") if cascade else "DELETE FROM events WHERE public_id = %s"
    try:
        cursor = await db.execute(statement, (public_id, public_id) if cascade else (public_id,))
    except psycopg2.errors.ForeignKeyViolation:
        raise EventInUse(f"event {public_id} has datapoints; delete with ?cascade=true to remove them too") from None
    return cursor.rowcount == 1


async def ids_of(db: momoko.Pool, public_ids: list[str]) -> dict[str, int]:
    """The internal ids of those of these events that exist."""
    cursor = await db.execute("SELECT public_id, id FROM events WHERE public_id = ANY(%s)", (public_ids,))
    return dict(cursor.fetchall())
