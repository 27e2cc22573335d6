"""SQL for events, the sensors and actuators that datapoints belong to."""

from __future__ import annotations

from typing import Any

import momoko
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
