"""Presence: which registered controllers are connected to this process, written to the database about
once a second so that every process (and the API) sees every connection."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

import momoko

from models.database import UNAVAILABLE, one_line

log = logging.getLogger("webmacs.presence")

FLUSH_INTERVAL = 1.0  # seconds between writes of this process's connections
RATE_WINDOW = 60  # seconds over which readings per second are counted

# One statement per flush: this process's live connections upserted, its closed ones deleted, rows of
# processes that stopped refreshing theirs dropped, and what the controllers table keeps for later.
_FLUSH = """
WITH live AS (
    SELECT * FROM unnest(%(connections)s::bigint[], %(controllers)s::integer[], %(addresses)s::text[],
                         %(connected_at)s::timestamptz[], %(last_seen)s::timestamptz[],
                         %(last_reading_at)s::timestamptz[], %(rates)s::real[])
        AS l(connection, controller_id, address, connected_at, last_seen, last_reading_at, rate)
), kept AS (
    INSERT INTO controller_connections AS c
    SELECT %(process)s, connection, controller_id, address, connected_at, last_seen, last_reading_at, rate FROM live
    ORDER BY connection
    ON CONFLICT (process, connection) DO UPDATE SET last_seen = EXCLUDED.last_seen,
        last_reading_at = EXCLUDED.last_reading_at, readings_per_second = EXCLUDED.readings_per_second
), gone AS (
    DELETE FROM controller_connections
    WHERE (process = %(process)s AND connection <> ALL (%(connections)s::bigint[]))
       OR last_seen < now() - %(expiry)s * interval '1 second'
), noted AS (
    UPDATE controllers c SET last_seen = greatest(c.last_seen, n.last_seen),
           last_reading_at = greatest(c.last_reading_at, n.last_reading_at), last_address = n.address
    FROM (SELECT DISTINCT ON (controller_id) controller_id, last_seen, last_reading_at, address FROM live
          ORDER BY controller_id, last_seen DESC) n
    WHERE c.id = n.controller_id
)
SELECT 1
"""


def expiry(heartbeat_interval: float) -> float:
    """Seconds after which a connection row that was not refreshed no longer counts: its process died.
    (A socket that closes, even by a kill -9 of the controller, is removed at the next flush.)"""
    return 2 * max(heartbeat_interval, 5.0) + FLUSH_INTERVAL


@dataclass
class Connection:
    """One registered controller's socket, as this process sees it. Owned by its handler. Times are
    time.time() seconds: every message updates them, and datetime.now() would cost it a microsecond."""

    controller_id: int
    address: str
    number: int
    connected_at: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)
    last_reading_at: float | None = None
    _per_second: deque[list[int]] = field(default_factory=deque)  # [second, readings], oldest first

    def seen(self) -> None:
        self.last_seen = time.time()

    def stored(self, readings: int) -> None:
        self.last_reading_at = self.last_seen = now = time.time()
        second = int(now)
        if self._per_second and self._per_second[-1][0] == second:
            self._per_second[-1][1] += readings
        else:
            self._per_second.append([second, readings])

    def readings_per_second(self) -> float:
        now = time.time()
        while self._per_second and self._per_second[0][0] <= int(now) - RATE_WINDOW:
            self._per_second.popleft()
        connected_for = max(1.0, min(RATE_WINDOW, now - self.connected_at))
        return sum(count for _, count in self._per_second) / connected_for


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class PresenceBoard:
    """Owns this process's set of controller connections, and writes it to the database."""

    def __init__(self, db: momoko.Pool, heartbeat_interval: float) -> None:
        self._db = db
        self.process = f"{os.getpid()}.{secrets.token_hex(4)}"
        # A process that died stops refreshing its rows: after two heartbeats they no longer count.
        self.expiry = expiry(heartbeat_interval)
        self._numbers = itertools.count(1)
        self._connections: dict[int, Connection] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()

    def connected(self, controller_id: int, address: str) -> Connection:
        connection = Connection(controller_id, address, next(self._numbers))
        self._connections[connection.number] = connection
        self._dirty.set()  # at once: a listing right after the connect should show it
        return connection

    def disconnected(self, connection: Connection) -> None:
        self._connections.pop(connection.number, None)
        self._dirty.set()

    def start(self) -> None:
        self._flushing = asyncio.ensure_future(self._flush_regularly())

    async def stop(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        self._connections.clear()
        with contextlib.suppress(*UNAVAILABLE):
            await self.flush()  # our rows go now, not two heartbeats later

    async def flush(self) -> None:
        live = list(self._connections.values())
        await self._db.execute(_FLUSH, {
            "process": self.process, "expiry": self.expiry,
            "connections": [c.number for c in live], "controllers": [c.controller_id for c in live],
            "addresses": [c.address for c in live], "connected_at": [_moment(c.connected_at) for c in live],
            "last_seen": [_moment(c.last_seen) for c in live],
            "last_reading_at": [_moment(c.last_reading_at) for c in live],
            "rates": [round(c.readings_per_second(), 3) for c in live],
        })

    async def _flush_regularly(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), FLUSH_INTERVAL)
            except TimeoutError:
                if not self._connections:
                    continue  # nothing to refresh; readers ignore rows past their expiry anyway
            self._dirty.clear()
            try:
                await self.flush()
            except UNAVAILABLE as error:
                log.warning("could not write controller presence: %s", one_line(error))
            except Exception:
                log.exception("could not write controller presence")
            await asyncio.sleep(0.2)  # connects in a burst are written together
