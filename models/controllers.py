"""Registered controllers: who they are, what they may write, and their one token (kept as its id only)."""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

import momoko
from psycopg2.extras import RealDictCursor

from models import public_ids
from models.timestamps import format_timestamp
from models.tokens import issue_token, new_token_id

DEFAULT_TTL = 365 * 86400  # a device's token outlives a person's session; the listing shows when it ends
_ALPHABET = string.ascii_letters + string.digits
_COLUMNS = "id, public_id, name, events, event_prefix, token_id, created_at, expires_at, revoked_at"
# A controller with its presence: connected while any process holds a socket for it (rows refreshed
# within `expiry` seconds; models/presence.py writes them).
_WITH_PRESENCE = f"""SELECT {', '.join('c.' + column for column in _COLUMNS.split(', '))},
    p.connections > 0 AS connected, p.connected_since, greatest(c.last_seen, p.last_seen) AS last_seen,
    greatest(c.last_reading_at, p.last_reading_at) AS last_reading_at,
    coalesce(p.address, c.last_address) AS address, coalesce(p.rate, 0) AS readings_per_second
FROM controllers c CROSS JOIN LATERAL (
    SELECT count(*) AS connections, min(connected_at) AS connected_since, max(last_seen) AS last_seen,
           max(last_reading_at) AS last_reading_at, (array_agg(address ORDER BY connected_at DESC))[1] AS address,
           sum(readings_per_second) AS rate
    FROM controller_connections WHERE controller_id = c.id AND last_seen > now() - %(expiry)s * interval '1 second'
) p"""


class ScopeError(ValueError):
    """The scope asked for cannot be one: the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_scope(events: Any, prefix: Any) -> tuple[list[str] | None, str | None]:
    """(events, prefix) as stored, from what a request or the command line gave; ScopeError if unusable."""
    if events is not None and prefix is not None:
        raise ScopeError("events", "give events or event_prefix, not both")
    if events is not None:
        if not isinstance(events, list) or not events or len(events) > 1000:
            raise ScopeError("events", "events must be a list of 1 to 1000 event ids")
        if not all(isinstance(event, str) and public_ids.PUBLIC_ID.match(event) for event in events):
            raise ScopeError("events", f"every event must be an event id: {public_ids.RULE}")
        return sorted(set(events)), None
    if prefix is not None:
        if not isinstance(prefix, str) or not public_ids.PUBLIC_ID.match(prefix):
            raise ScopeError("event_prefix", f"event_prefix must be the start of an event id: {public_ids.RULE}")
        return None, prefix
    return None, None


async def add_controller(db: momoko.Pool, secret: str, name: str, events: list[str] | None = None,
                         prefix: str | None = None, ttl_seconds: int = DEFAULT_TTL) -> tuple[dict[str, Any], str]:
    """Register a controller; returns it and its token (shown this once: only its id is stored)."""
    public_id = "ctl_" + "".join(secrets.choice(_ALPHABET) for _ in range(12))
    token_id, now = new_token_id(), int(time.time())
    cursor = await db.execute(
        f"INSERT INTO controllers (public_id, name, events, event_prefix, token_id, expires_at)"
        f" VALUES (%s, %s, %s, %s, %s, to_timestamp(%s)) RETURNING {_COLUMNS}",
        (public_id, name, events, prefix, token_id, now + ttl_seconds), cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    token = issue_token(secret, public_id, "controller", ttl_seconds, controller_id=row["id"], token_id=token_id,
                        now=now)
    return _shown(row), token


async def list_controllers(db: momoko.Pool, expiry: float) -> list[dict[str, Any]]:
    """Every controller with its presence; `expiry`: seconds after which an unrefreshed connection no
    longer counts (PresenceBoard.expiry)."""
    cursor = await db.execute(f"{_WITH_PRESENCE} ORDER BY c.created_at, c.id", {"expiry": expiry},
                              cursor_factory=RealDictCursor)
    return [_shown(row) for row in cursor.fetchall()]


async def controllers_present(db: momoko.Pool, expiry: float) -> list[dict[str, Any]]:
    """Every controller with its presence, as the database gives it (times as datetimes)."""
    cursor = await db.execute(f"{_WITH_PRESENCE} ORDER BY c.id", {"expiry": expiry}, cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


async def get_controller(db: momoko.Pool, public_id: str, expiry: float) -> dict[str, Any] | None:
    cursor = await db.execute(f"{_WITH_PRESENCE} WHERE c.public_id = %(public_id)s",
                              {"expiry": expiry, "public_id": public_id}, cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return _shown(row) if row else None


async def revoke_controller(db: momoko.Pool, public_id: str) -> str | None:
    """Refuse its token from now on; returns the token's id (to close its sockets), or None if unknown.
    Revoking again changes nothing."""
    cursor = await db.execute(
        "WITH revoked AS (UPDATE controllers SET revoked_at = coalesce(revoked_at, now()) WHERE public_id = %s"
        " RETURNING token_id, expires_at), listed AS (INSERT INTO revoked_tokens (jti, expires_at)"
        " SELECT token_id, expires_at FROM revoked ON CONFLICT DO NOTHING)"
        " SELECT token_id FROM revoked", (public_id,))
    row = cursor.fetchone()
    return row[0] if row else None


def _shown(row: Any) -> dict[str, Any]:
    """What the API shows of a controller: never its token, nor the token's id (which revocation uses)."""
    shown = {key: row[key] for key in ("public_id", "name", "events", "event_prefix")}
    for moment in ("created_at", "expires_at", "revoked_at"):
        shown[moment] = format_timestamp(row[moment]) if row[moment] is not None else None
    shown["revoked"] = row["revoked_at"] is not None
    if "connected" in row:  # with presence
        shown["connected"] = row["connected"]
        for moment in ("connected_since", "last_seen", "last_reading_at"):
            shown[moment] = format_timestamp(row[moment]) if row[moment] is not None else None
        shown["address"] = row["address"]
        shown["readings_per_second"] = round(float(row["readings_per_second"]), 2)
    return shown
