"""SQL for events, the sensors and actuators that datapoints belong to."""

from __future__ import annotations

from typing import Any

import momoko
import psycopg2
from psycopg2.extras import RealDictCursor

EVENT_TYPES = ("sensor", "actuator", "range", "cmd_button", "cmd_opened", "cmd_closed")
_COLUMNS = "public_id, name, type, unit, min_value, max_value, stale_after, group_name"
# The API's field names where the column's differs (GROUP is a keyword in SQL).
COLUMN_OF = {"group": "group_name"}


def stale_sql(newest: str) -> str:
    """Whether event `e` is stale now, given the time of its newest reading (NULL: it never had one, and
    is stale then too). The one statement of the rule, for every query that judges it."""
    return (f"(e.stale_after IS NOT NULL"
            f" AND coalesce({newest} < now() - e.stale_after * interval '1 second', true))")


# Each event's newest reading: one descent of its (event_id, recorded_at) index, and only for events
# that have a stale_after.
_NEWEST = """LEFT JOIN LATERAL (
    SELECT recorded_at AS newest FROM datapoints d WHERE d.event_id = e.id ORDER BY recorded_at DESC LIMIT 1
) n ON e.stale_after IS NOT NULL"""
_WITH_STALE = f"""SELECT {', '.join('e.' + column for column in _COLUMNS.split(', ')[:-1])}, e.group_name AS "group",
    {stale_sql('n.newest')} AS stale
FROM events e {_NEWEST}"""


async def upsert_event(db: momoko.Pool, public_id: str, name: str, unit: str = "", type: str = "sensor",
                       stale_after: float | None = None, group: str | None = None) -> dict[str, Any]:
    """Create the event, or bring an existing one to these values; returns it."""
    await db.execute(
        "INSERT INTO events (public_id, name, unit, type, stale_after, group_name) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (public_id) DO UPDATE SET name = EXCLUDED.name, unit = EXCLUDED.unit, type = EXCLUDED.type,"
        " stale_after = EXCLUDED.stale_after, group_name = EXCLUDED.group_name",
        (public_id, name, unit, type, stale_after, group))
    event = await get_event(db, public_id)
    assert event is not None  # written just now
    return event


class EventExists(ValueError):
    pass


class EventInUse(ValueError):
    pass


async def list_events(db: momoko.Pool) -> list[dict[str, Any]]:
    cursor = await db.execute(f"{_WITH_STALE} ORDER BY e.public_id", cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


async def watched_events(db: momoko.Pool) -> list[dict[str, Any]]:
    """The events that have a stale_after: {"public_id", "stale_after", "newest", "stale"}."""
    cursor = await db.execute(f"SELECT e.public_id, e.stale_after, n.newest, {stale_sql('n.newest')} AS stale"
                              f" FROM events e {_NEWEST} WHERE e.stale_after IS NOT NULL",
                              cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


async def get_event(db: momoko.Pool, public_id: str) -> dict[str, Any] | None:
    cursor = await db.execute(f"{_WITH_STALE} WHERE e.public_id = %s", (public_id,), cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return dict(row) if row else None


async def create_event(db: momoko.Pool, fields: dict[str, Any]) -> dict[str, Any]:
    """Insert an event with these columns; EventExists if the public_id is taken."""
    names = list(fields)
    columns = [COLUMN_OF.get(name, name) for name in names]
    try:
        await db.execute(f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(names))})",
                         [fields[name] for name in names])
    except psycopg2.errors.UniqueViolation:
        raise EventExists(f"event {fields['public_id']} exists already") from None
    created = await get_event(db, fields["public_id"])
    assert created is not None  # written just now
    return created


async def update_event(db: momoko.Pool, public_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """Change these columns; None if there is no such event."""
    if not fields:
        return await get_event(db, public_id)
    assignments = ", ".join(f"{COLUMN_OF.get(name, name)} = %s" for name in fields)
    await db.execute(f"UPDATE events SET {assignments} WHERE public_id = %s", [*fields.values(), public_id])
    return await get_event(db, public_id)


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
