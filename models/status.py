"""What stream subscribers with `?status=1` are told: controllers connecting and disconnecting, and events
turning stale or fresh. Judged here once a second, from the database, so every process says the same."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import momoko

from models import events
from models.controllers import controllers_present
from models.database import UNAVAILABLE, one_line
from models.timestamps import format_timestamp

log = logging.getLogger("webmacs.status")

INTERVAL = 1.0  # seconds between looks


def _moment(value: datetime | None) -> str | None:
    return format_timestamp(value) if value is not None else None


class StatusWatcher:
    """Owns the last status it told subscribers; `send` gets the frames of each change.

    It looks only while `wanted()` says someone listens, and tells a new subscriber the whole state
    with `snapshot()`.
    """

    def __init__(self, db: momoko.Pool, expiry: float, send: Callable[[list[dict[str, Any]]], None],
                 wanted: Callable[[], bool]) -> None:
        self._db, self._expiry, self._send, self._wanted = db, expiry, send, wanted
        self._controllers: dict[str, dict[str, Any]] = {}
        self._events: dict[str, dict[str, Any]] = {}
        self._known = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def snapshot(self) -> list[dict[str, Any]]:
        """Every frame of the current state (for a subscriber that just arrived)."""
        if not self._known:
            await self._look()
        return [*self._controllers.values(), *self._events.values()]

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            if not self._wanted():
                self._known = False  # nobody listened meanwhile: the next look starts afresh
                continue
            try:
                changed = await self._look()
            except UNAVAILABLE as error:
                log.warning("could not look at controllers and events for status: %s", one_line(error))
                continue
            except Exception:
                log.exception("could not look at controllers and events for status")
                continue
            if changed:
                self._send(changed)

    async def _look(self) -> list[dict[str, Any]]:
        """Read the state; returns the frames of what changed since the last look (none on the first)."""
        present = await controllers_present(self._db, self._expiry)
        watched = await events.watched_events(self._db)
        now = format_timestamp(datetime.now(UTC))
        controllers = {row["public_id"]: {
            "type": "controller", "public_id": row["public_id"], "name": row["name"], "connected": row["connected"],
            "connected_since": _moment(row["connected_since"]), "address": row["address"], "at": now,
        } for row in present}
        statuses = {row["public_id"]: {
            "type": "event_status", "event_public_id": row["public_id"], "stale": row["stale"],
            "stale_after": row["stale_after"], "last_reading_at": _moment(row["newest"]), "at": now,
        } for row in watched}
        changed = []
        if self._known:
            changed += [frame for key, frame in controllers.items()
                        if key not in self._controllers or self._controllers[key]["connected"] != frame["connected"]]
            changed += [frame for key, frame in statuses.items()
                        if key not in self._events or self._events[key]["stale"] != frame["stale"]]
        self._controllers, self._events, self._known = controllers, statuses, True
        return changed
