"""Commands to actuators: a value for an event, sent on the telemetry socket of the controller that owns
the event, and acked (or failed) by it. What is waiting lives in the database, so it survives a restart
and reaches the process that holds the controller's socket (told by LISTEN/NOTIFY, like the relay)."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import momoko
from psycopg2.extras import RealDictCursor

from models.database import UNAVAILABLE, one_line
from models.listener import Listener
from models.relay import APPLICATION_NAME
from models.timestamps import utc_text

log = logging.getLogger("webmacs.commands")

CHANNEL = "webmacs_commands"  # payload: a new command's public id
COMMANDABLE = ("actuator", "range", "cmd_button", "cmd_opened", "cmd_closed")
SETPOINTS = ("actuator", "range")  # an acked command of these is also stored as a reading of its event
DEFAULT_TTL = 60.0
MAX_TTL = 86400.0
MAX_MESSAGE = 500  # characters of a controller's reason for failing
EXPIRE_EVERY = 1.0  # seconds
FINAL = ("acked", "failed", "expired")

Command = dict[str, Any]
# Hands commands to one open telemetry socket of their controller.
Outlet = Callable[[Command], None]


class CommandError(ValueError):
    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status, self.field = status, field


_SHAPE = f"""k.public_id AS command_id, e.public_id AS event_public_id, k.value, k.status, k.message,
    {utc_text("k.created_at")} AS created_at, {utc_text("k.expires_at")} AS expires_at,
    {utc_text("k.delivered_at")} AS delivered_at, {utc_text("k.finished_at")} AS finished_at,
    k.requested_by AS created_by, c.public_id AS controller_public_id"""
_FROM = "commands k JOIN events e ON e.id = k.event_id LEFT JOIN controllers c ON c.id = k.controller_id"

# The controller that owns event `e`: a live registered controller whose list of events names it, else
# one whose prefix covers it, else the registered controller that sent its latest reading (looked for
# among its last 1,000, so the search stays bounded however long its history).
_OWNER = """coalesce(
    (SELECT o.id FROM controllers o
     WHERE o.revoked_at IS NULL AND o.expires_at > now()
       AND (e.public_id = ANY (o.events) OR starts_with(e.public_id, o.event_prefix))
     ORDER BY coalesce(e.public_id = ANY (o.events), false) DESC, o.id DESC LIMIT 1),
    (SELECT r.source FROM (SELECT d.source, d.recorded_at FROM datapoints d WHERE d.event_id = e.id
                           ORDER BY d.recorded_at DESC LIMIT 1000) r
     WHERE r.source IN (SELECT id FROM controllers WHERE revoked_at IS NULL AND expires_at > now())
     ORDER BY r.recorded_at DESC LIMIT 1))"""
_OPEN = "k.status IN ('pending', 'delivered') AND k.expires_at > now()"


def _deliver_sql(only_these: bool) -> str:
    """Marks the open commands (only those of %(commands)s, if asked) that the controllers of
    %(controllers)s own as delivered to their owner; returns what a controller is sent, and to whom."""
    narrowed = " AND k.public_id = ANY(%(commands)s)" if only_these else ""
    return f"""
WITH chosen AS (
    SELECT k.id, e.public_id AS event_public_id, {_OWNER} AS owner
    FROM commands k JOIN events e ON e.id = k.event_id WHERE {_OPEN}{narrowed}
)
UPDATE commands k SET status = 'delivered', delivered_at = now(), controller_id = chosen.owner
FROM chosen WHERE k.id = chosen.id AND chosen.owner = ANY(%(controllers)s) AND {_OPEN}
RETURNING chosen.owner, k.public_id AS command_id, chosen.event_public_id, k.value,
          {utc_text("k.expires_at")} AS expires_at"""


async def create(db: momoko.Pool, event_public_id: str, value: Any, ttl: Any, requested_by: str) -> Command:
    """A new pending command; CommandError (400, 404) says what is wrong with it."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise CommandError(400, "value must be a finite number", "value")
    ttl = DEFAULT_TTL if ttl is None else ttl
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not 0 < ttl <= MAX_TTL:
        raise CommandError(400, f"ttl must be a number of seconds above 0 and at most {MAX_TTL:.0f}", "ttl")
    cursor = await db.execute("SELECT type, min_value, max_value FROM events WHERE public_id = %s",
                              (event_public_id,))
    event = cursor.fetchone()
    if event is None:
        raise CommandError(404, f"no event {event_public_id}")
    kind, low, high = event
    if kind not in COMMANDABLE:
        raise CommandError(400, f"commands go to events of type {', '.join(COMMANDABLE)}; "
                                f"{event_public_id} is a {kind}", "event_public_id")
    if kind == "range" and ((low is not None and value < low) or (high is not None and value > high)):
        raise CommandError(400, f"value must be within the event's range, {_bound(low)} to {_bound(high)}", "value")
    cursor = await db.execute(f"""
        WITH k AS (
            INSERT INTO commands (public_id, event_id, value, requested_by, expires_at)
            SELECT %s, id, %s, %s, now() + %s * interval '1 second' FROM events WHERE public_id = %s
            RETURNING *
        )
        SELECT {_SHAPE}, pg_notify(%s, k.public_id) FROM k JOIN events e ON e.id = k.event_id
        LEFT JOIN controllers c ON c.id = k.controller_id""",
        ("cmd_" + secrets.token_hex(8), float(value), requested_by, float(ttl), event_public_id, CHANNEL),
        cursor_factory=RealDictCursor)
    command = cursor.fetchone()
    if command is None:  # deleted in between
        raise CommandError(404, f"no event {event_public_id}")
    command.pop("pg_notify")
    return dict(command)


def _bound(number: float | None) -> str:
    return "unbounded" if number is None else f"{number:g}"


async def get(db: momoko.Pool, public_id: str) -> Command | None:
    cursor = await db.execute(f"SELECT {_SHAPE} FROM {_FROM} WHERE k.public_id = %s", (public_id,),
                              cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return None if row is None else dict(row)


async def list_for_event(db: momoko.Pool, event_public_id: str, limit: int) -> list[Command] | None:
    """The event's commands, newest first; None if there is no such event."""
    cursor = await db.execute(
        f"SELECT {_SHAPE} FROM (SELECT id FROM events WHERE public_id = %s) own"
        f" LEFT JOIN LATERAL (SELECT * FROM commands WHERE event_id = own.id ORDER BY id DESC LIMIT %s) k ON true"
        f" LEFT JOIN events e ON e.id = k.event_id LEFT JOIN controllers c ON c.id = k.controller_id"
        f" ORDER BY k.id DESC", (event_public_id, limit), cursor_factory=RealDictCursor)
    rows = cursor.fetchall()
    if not rows:
        return None
    return [dict(row) for row in rows if row["command_id"] is not None]


async def settle(db: momoko.Pool, controller_id: int, command_id: str, ok: bool,
                 message: str | None) -> tuple[str, str, float] | None:
    """Record a controller's answer to a command delivered to it; returns the command's event id, its
    type and the value, or None if it has no such command to answer. An answer that arrives after the
    expiry sweep still counts: the controller applied it in time (and says so)."""
    cursor = await db.execute(
        "UPDATE commands k SET status = %s, message = %s, finished_at = now() FROM events e"
        " WHERE e.id = k.event_id AND k.public_id = %s AND k.controller_id = %s"
        " AND (k.status = 'delivered' OR (k.status = 'expired' AND k.delivered_at IS NOT NULL))"
        " RETURNING e.public_id, e.type, k.value",
        ("acked" if ok else "failed", message, command_id, controller_id))
    return cursor.fetchone()


def read_ack(message: dict[str, Any]) -> tuple[str, bool, str | None]:
    """A controller's `command_ack` as (command_id, ok, message); ValueError saying what is wrong."""
    command_id, ok, reason = message.get("command_id"), message.get("ok"), message.get("message")
    if not isinstance(command_id, str) or not command_id.startswith("cmd_") or len(command_id) > 64:
        raise ValueError("command_ack needs the command_id it answers")
    if not isinstance(ok, bool):
        raise ValueError("command_ack needs ok: true or false")
    if reason is not None and not isinstance(reason, str):
        raise ValueError("command_ack's message must be a string")
    return command_id, ok, None if reason is None else reason[:MAX_MESSAGE]


class CommandDesk:
    """Owns this process's part in delivery: which controllers it holds sockets for, the LISTEN for new
    commands, and the sweep that expires what was never acked.

    A command goes out when it is created (to whichever process holds its owner), when its owner connects,
    and again after the LISTEN connection was lost (what was notified meanwhile went unheard). Each
    socket is sent a command at most once; a controller connecting anew gets what it has not acked.
    """

    def __init__(self, url: str, db: momoko.Pool) -> None:
        self._db = db
        self._outlets: dict[int, set[Outlet]] = defaultdict(set)
        self._listener = Listener(url, CHANNEL, f"{APPLICATION_NAME}-{os.getpid()}-commands",
                                  on_notified=self._notified, on_listening_again=self._offer_everything)
        self._tasks: set[asyncio.Future[Any]] = set()
        self._sweeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._listener.start()
        self._sweeping = asyncio.ensure_future(self._sweep())

    async def stop(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self._listener.stop()

    def attach(self, controller_id: int, outlet: Outlet) -> None:
        """A socket of this controller opened here: send it whatever waits for the controller."""
        self._outlets[controller_id].add(outlet)
        self._in_background(self._offer([controller_id], None))

    def detach(self, controller_id: int, outlet: Outlet) -> None:
        outlets = self._outlets.get(controller_id)
        if outlets is not None:
            outlets.discard(outlet)
            if not outlets:
                del self._outlets[controller_id]

    def _notified(self, command_ids: list[str]) -> None:
        if self._outlets:
            self._in_background(self._offer(list(self._outlets), command_ids))

    def _offer_everything(self) -> None:
        if self._outlets:
            self._in_background(self._offer(list(self._outlets), None))

    async def _offer(self, controller_ids: list[int], command_ids: list[str] | None) -> None:
        """Deliver the open commands (of `command_ids`, or all) that these controllers own."""
        try:
            cursor = await self._db.execute(_deliver_sql(command_ids is not None),
                                            {"controllers": controller_ids, "commands": command_ids},
                                            cursor_factory=RealDictCursor)
        except UNAVAILABLE as error:
            log.warning("could not deliver commands: %s", one_line(error))
            return
        for command in cursor.fetchall():
            owner = command.pop("owner")
            for outlet in list(self._outlets.get(owner, ())):
                outlet(dict(command))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY)
            try:
                await self._db.execute("UPDATE commands k SET status = 'expired', finished_at = now()"
                                       " WHERE k.status IN ('pending', 'delivered') AND k.expires_at <= now()")
            except UNAVAILABLE as error:
                log.warning("could not expire commands: %s", one_line(error))

    def _in_background(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
