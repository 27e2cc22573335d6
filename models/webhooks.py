"""Webhooks: where to POST which happenings, signed; and the dispatcher that sends what is waiting.

What happened is written as deliveries in the transaction of the happening (0010_alarms.sql), so it is
sent once however many processes run, and survives a restart. Any process sends: each claims a few due
deliveries with a lease (FOR UPDATE SKIP LOCKED), POSTs them with a timeout, outside the ingest path and
at most DISPATCH_LIMIT at a time, and retries failures with exponential backoff until `retry_for` seconds
after the happening; then the delivery is failed. A receiver that hangs or fails costs its own deliveries
time, nobody else's.

Signing: `X-WebMACS-Signature: sha256=<hex>`, the HMAC-SHA256 with the webhook's secret of
`<X-WebMACS-Timestamp>.<body>`; `X-WebMACS-Delivery` is the delivery's id (the same on every retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import momoko
from psycopg2.extras import RealDictCursor
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.netutil import Resolver

from models import activity
from models.database import UNAVAILABLE, one_line
from models.timestamps import utc_text

log = logging.getLogger("webmacs.webhooks")

KINDS = ("alarm.raised", "alarm.cleared", "alarm.acknowledged", "experiment.started", "experiment.stopped",
         "controller.connected", "controller.disconnected")
DISPATCH_LIMIT = 8  # deliveries in flight per process
BACKOFF_CAP = 300.0  # seconds between two attempts, at most
MIN_SECRET, MAX_SECRET = 16, 200
MAX_URL = 2000
USER_AGENT = "WebMACS-webhooks"
RESOLVE_TIMEOUT = 3.0  # seconds
STOP_WAIT = 2.0  # seconds a stopping server gives deliveries under way

_SHAPE = f"""public_id AS webhook_id, url, kinds, {utc_text("created_at")} AS created_at,
    {utc_text("updated_at")} AS updated_at"""
_DELIVERY_SHAPE = f"""d.delivery_id::text, d.kind, d.status, d.attempts, d.attempt_codes, d.last_error,
    {utc_text("d.created_at")} AS created_at, {utc_text("d.next_attempt_at")} AS next_attempt_at,
    {utc_text("d.finished_at")} AS finished_at, d.payload"""


class WebhookError(ValueError):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class Refused(ValueError):
    """A webhook URL that would reach what webhooks must never reach."""


def check(body: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """The columns from an API body; WebhookError names what is wrong (the URL's target is checked apart)."""
    columns: dict[str, Any] = {}
    if "url" in body or not partial:
        url = body.get("url")
        if not isinstance(url, str) or len(url) > MAX_URL:
            raise WebhookError(f"an http or https URL of at most {MAX_URL} characters", "url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookError("only http and https URLs with a host", "url")
        columns["url"] = url
    if "secret" in body or not partial:
        secret = body.get("secret")
        if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET:
            raise WebhookError(f"{MIN_SECRET} to {MAX_SECRET} characters", "secret")
        columns["secret"] = secret
    if "kinds" in body or not partial:
        kinds = body.get("kinds")
        if not isinstance(kinds, list) or not kinds or not all(kind in KINDS for kind in kinds):
            raise WebhookError(f"a list of one or more of {', '.join(KINDS)}", "kinds")
        columns["kinds"] = sorted(set(kinds))
    return columns


class Guard:
    """What a webhook may not reach: this server's own port (its admin surfaces) on any address of this
    machine, the database's address and port, and addresses that are no place for a webhook (link-local,
    such as cloud metadata services, multicast, unspecified, reserved). Loopback on other ports is allowed,
    for receivers on the same host. Checked when a webhook is saved, and by each delivery's resolver on
    the very addresses it then connects to: a name that points elsewhere since, or between one lookup and
    the connect (DNS rebinding), reaches nothing refused."""

    def __init__(self, own_port: int, database_url: str) -> None:
        self._own_port = own_port
        parts = urlsplit(database_url)
        self._database: tuple[str, int] | None = (parts.hostname, parts.port or 5432) if parts.hostname else None

    async def check(self, url: str) -> None:
        parts = urlsplit(url)
        await self.addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))

    async def addresses(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[int, Any]]:
        """Where `host`:`port` may be reached, as (family, socket address) pairs; Refused if anywhere it
        resolves to is refused (all of them: a name that is half refused is not trusted with the rest)."""
        found = await _resolve(host, port, family)
        if not found:
            raise Refused(f"{host} does not resolve, or not within {RESOLVE_TIMEOUT:g} s")
        database = set() if self._database is None else {
            (address[0], self._database[1]) for _, address in await _resolve(*self._database) or ()}
        own = ({address[0] for _, address in await _resolve(socket.gethostname(), self._own_port) or ()}
               if port == self._own_port else set())
        for _, (ip, *_) in found:
            address = ipaddress.ip_address(ip)
            if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
                raise Refused(f"{host} is {address}, an address webhooks may not reach")
            if port == self._own_port and (address.is_loopback or address.is_private or ip in own):
                raise Refused("a webhook may not call this server itself")
            if (ip, port) in database:
                raise Refused("a webhook may not reach the database")
        return found


class _GuardedResolver(Resolver):
    """The dispatcher's resolver: a delivery connects only to addresses the guard passed in this lookup."""

    def initialize(self, guard: Guard) -> None:
        self._guard = guard

    async def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC,
                      ) -> list[tuple[int, Any]]:
        return await self._guard.addresses(host, port, family)


async def _resolve(host: str | None, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[int, Any]] | None:
    """(family, socket address) for each address a name resolves to, without waiting on the IOLoop; None
    if it does not resolve in time. Scope ids ("%eth0") are dropped from IPv6 addresses."""
    try:
        found = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    except (OSError, TimeoutError):
        return None
    unique: dict[tuple[int, Any], None] = {}
    for address_family, *_, address in found:
        unique[(address_family, (str(address[0]).split("%")[0], *address[1:]))] = None
    return list(unique)


async def create(db: momoko.Pool, columns: dict[str, Any], actor: str) -> dict[str, Any]:
    public_id = "whk_" + secrets.token_hex(8)
    cursor = await db.execute(f"""
        WITH w AS (INSERT INTO webhooks (public_id, url, secret, kinds) VALUES (%(subject)s, %(url)s, %(secret)s,
                   %(kinds)s) RETURNING *),
        logged AS ({activity.insert_sql("FROM w")})
        SELECT {_SHAPE} FROM w""",
        {**columns, "subject": public_id, "actor": actor, "action": "webhook.created",
         "details": json.dumps({"url": _shown_url(columns["url"]), "kinds": columns["kinds"]})},
        cursor_factory=RealDictCursor)
    return dict(cursor.fetchone())


async def update(db: momoko.Pool, public_id: str, columns: dict[str, Any], actor: str) -> dict[str, Any] | None:
    sets = ", ".join(f"{column} = %({column})s" for column in columns)  # names from check() only
    cursor = await db.execute(f"""
        WITH w AS (UPDATE webhooks SET {sets}, updated_at = now() WHERE public_id = %(subject)s RETURNING *),
        logged AS ({activity.insert_sql("FROM w")})
        SELECT {_SHAPE} FROM w""",
        {**columns, "subject": public_id, "actor": actor, "action": "webhook.updated",
         "details": json.dumps({key: _shown_url(value) if key == "url" else value
                                for key, value in columns.items() if key != "secret"})},
        cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return None if row is None else dict(row)


async def delete(db: momoko.Pool, public_id: str, actor: str) -> bool:
    cursor = await db.execute(f"""
        WITH w AS (DELETE FROM webhooks WHERE public_id = %(subject)s RETURNING url),
        logged AS ({activity.insert_sql("FROM w", "jsonb_build_object('deleted', true)")})
        SELECT 1 FROM w""", {"subject": public_id, "actor": actor, "action": "webhook.deleted"})
    return cursor.fetchone() is not None


async def get(db: momoko.Pool, public_id: str) -> dict[str, Any] | None:
    cursor = await db.execute(f"SELECT {_SHAPE} FROM webhooks WHERE public_id = %s", (public_id,),
                              cursor_factory=RealDictCursor)
    row = cursor.fetchone()
    return None if row is None else dict(row)


async def listed(db: momoko.Pool) -> list[dict[str, Any]]:
    cursor = await db.execute(f"SELECT {_SHAPE} FROM webhooks ORDER BY id", cursor_factory=RealDictCursor)
    return [dict(row) for row in cursor.fetchall()]


async def deliveries(db: momoko.Pool, public_id: str, limit: int) -> list[dict[str, Any]] | None:
    """The webhook's deliveries, newest first; None if there is no such webhook."""
    cursor = await db.execute(f"""
        SELECT {_DELIVERY_SHAPE} FROM (SELECT id FROM webhooks WHERE public_id = %s) w
        LEFT JOIN LATERAL (SELECT * FROM webhook_deliveries WHERE webhook_id = w.id ORDER BY id DESC LIMIT %s) d
            ON true ORDER BY d.id DESC""", (public_id, limit), cursor_factory=RealDictCursor)
    rows = cursor.fetchall()
    if not rows:
        return None
    return [dict(row) for row in rows if row["delivery_id"] is not None]


def _shown_url(url: str) -> str:
    """The URL for the activity log: without a password or a query (either may hold a secret)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


_CLAIM = """
UPDATE webhook_deliveries d SET lease_until = now() + %(lease)s * interval '1 second', attempts = d.attempts + 1
FROM webhooks w
WHERE w.id = d.webhook_id AND d.id IN (
    SELECT id FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until <= now())
    ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING d.id, d.delivery_id::text, d.kind, d.payload::text, d.attempts,
          extract(epoch FROM now() - d.created_at)::float8 AS age, w.url, w.secret
"""
_DELIVERED = """
UPDATE webhook_deliveries SET status = 'delivered', finished_at = now(), lease_until = NULL,
    attempt_codes = attempt_codes || %s, last_error = NULL WHERE id = %s
"""
_FAILED = """
UPDATE webhook_deliveries SET attempt_codes = attempt_codes || %(code)s, last_error = %(error)s, lease_until = NULL,
    status = CASE WHEN %(final)s THEN 'failed' ELSE 'pending' END,
    finished_at = CASE WHEN %(final)s THEN now() END,
    next_attempt_at = now() + %(delay)s * interval '1 second'
WHERE id = %(id)s
"""


class Dispatcher:
    """Owns this process's sending of webhook deliveries."""

    def __init__(self, db: momoko.Pool, guard: Guard, retry_for: float, first_backoff: float, timeout: float) -> None:
        self._db, self._guard = db, guard
        self._retry_for, self._first_backoff, self._timeout = retry_for, first_backoff, timeout
        self._client = AsyncHTTPClient(force_instance=True, max_clients=DISPATCH_LIMIT,
                                       resolver=_GuardedResolver(guard=guard))
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.ensure_future(self._dispatch())

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._sending:
            # A moment for attempts under way to finish and be recorded; one cut off is sent again by
            # some process once its lease has run out.
            await asyncio.wait(list(self._sending), timeout=STOP_WAIT)
        for task in list(self._sending):
            task.cancel()
        self._client.close()

    def wake(self) -> None:
        """Deliveries were written: look now, not at the next second."""
        self._wake.set()

    async def _dispatch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            self._wake.clear()
            free = DISPATCH_LIMIT - len(self._sending)
            if free <= 0:
                continue
            try:
                cursor = await self._db.execute(_CLAIM, {"lease": self._timeout + 5, "limit": free})
            except UNAVAILABLE as error:
                log.warning("could not look for webhook deliveries: %s", one_line(error))
                continue
            for claimed in cursor.fetchall():
                task = asyncio.ensure_future(self._send(*claimed))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            if cursor.rowcount == free:
                self._wake.set()  # there may be more waiting

    async def _send(self, row_id: int, delivery_id: str, kind: str, payload: str, attempts: int, age: float,
                    url: str, secret: str) -> None:
        code, problem = 0, ""
        body = payload.encode()
        timestamp = str(int(time.time()))
        try:
            response = await self._client.fetch(HTTPRequest(
                url, method="POST", body=body, follow_redirects=False, connect_timeout=self._timeout,
                request_timeout=self._timeout, user_agent=USER_AGENT,
                headers={"Content-Type": "application/json", "X-WebMACS-Event": kind,
                         "X-WebMACS-Delivery": delivery_id, "X-WebMACS-Timestamp": timestamp,
                         "X-WebMACS-Signature": signature(secret, timestamp, body)}), raise_error=False)
            code = response.code if response.code != 599 else 0
            if 200 <= code < 300:
                await self._record(_DELIVERED, ([code], row_id))
                return
            if isinstance(response.error, Refused):  # by the resolver: no connection was made
                raise response.error
            problem = (f"answered {code} (redirects are not followed)" if 300 <= code < 400
                       else f"answered {code}" if code else f"no answer: {response.error}")
        except Refused as refused:
            problem = f"refused: {refused}"
        except (OSError, HTTPClientError) as error:
            problem = f"no answer: {error}"
        delay = min(BACKOFF_CAP, self._first_backoff * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)
        final = age + delay > self._retry_for
        log.info("webhook delivery %s (%s) attempt %d: %s%s", delivery_id, kind, attempts, problem,
                 "; giving up" if final else f"; again in {delay:.1f} s")
        await self._record(_FAILED, {"code": [code], "error": problem[:500], "final": final, "delay": delay,
                                     "id": row_id})

    async def _record(self, statement: str, params: Any) -> None:
        try:
            await self._db.execute(statement, params)
        except UNAVAILABLE as error:
            # Its lease runs out and it is sent again: at least once, as receivers are told to expect.
            log.warning("could not record a webhook delivery: %s", one_line(error))
