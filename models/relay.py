"""The relay: datapoints that other server processes store, read back and handed to this one's stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
from collections import OrderedDict
from typing import Any, Awaitable, Callable

import momoko
import psycopg2
import psycopg2.extensions
from tornado.ioloop import IOLoop

from models.database import UNAVAILABLE
from models.datapoints import Filters, datapoints_after, format_cursor, parse_cursor

log = logging.getLogger("webmacs.relay")

CHANNEL = "webmacs_datapoints"
APPLICATION_NAME = "webmacs-relay"  # then "-<pid>": which process a LISTEN connection belongs to
PAGE = 5000  # rows per read while catching up: one full INSERT
OWN_LIMIT = 100_000  # own datapoints remembered at most, about 15 MB
OWN_TIDY_ROWS = 10_000  # own datapoints stored since the last read that make it read at once
TIDY_DELAY = 1.0  # otherwise it reads its own back within this many seconds
EXPECTED_LIMIT = 10_000
RETRY_FIRST, RETRY_CAP = 0.02, 1.0  # seconds before looking again for rows not visible yet
RECONNECT_FIRST, RECONNECT_CAP = 0.25, 10.0
CONNECT_TIMEOUT = 10.0
NOTIFY_GRACE = 2.0  # seconds stop() waits for NOTIFYs still being sent

Deliver = Callable[[list[dict[str, Any]]], None]

# Committed datapoints past the cursor that datapoints_after does not return yet, because a
# transaction older than theirs is still running.
_HELD_BACK = ("SELECT EXISTS (SELECT 1 FROM datapoints WHERE (txid, id) > (%s::xid8, %s)"
              " AND txid >= pg_snapshot_xmin(pg_current_snapshot()))")
_MISSING = object()


class Relay:
    """Owns the LISTEN connection, and the cursor up to which other processes' datapoints were relayed.

    After each commit this process sends one NOTIFY naming itself and one datapoint of the batch. A
    notification from another process makes it read everything past its cursor (datapoints_after,
    one read at a time) and hand what is new to `deliver`. Its own datapoints come back in those
    reads too, since the table does not say who stored a row; they are skipped by public_id,
    remembered when they were committed, because the local broadcast has sent them already.
    """

    def __init__(self, url: str, db: momoko.Pool, deliver: Deliver) -> None:
        self.identity = f"{os.getpid()}.{secrets.token_hex(4)}"
        self.state = "off"  # "listening", "reconnecting" or "off", for /healthz
        self._url, self._db, self._deliver = url, db, deliver
        self._settled: Callable[[], Awaitable[None]] = _nothing_in_flight
        self._cursor = (0, 0)
        self._own: OrderedDict[str, None] = OrderedDict()  # oldest first, so the oldest go at the limit
        self._own_unread = 0
        self._expected: set[str] = set()  # notified by another process, not read yet
        self._unsure = False  # committed rows may be held back: look again, asking the database first
        self._conn: psycopg2.extensions.connection | None = None
        self._fd = -1
        self._lost: asyncio.Future[Exception] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._fetching: asyncio.Task[None] | None = None
        self._again = False
        self._retry: asyncio.TimerHandle | None = None
        self._retry_delay = RETRY_FIRST
        self._tidy: asyncio.TimerHandle | None = None
        self._notifying: set[asyncio.Future[None]] = set()
        self._stopped = False
        self._forgotten = 0

    async def start(self, settled: Callable[[], Awaitable[None]]) -> None:
        """Listen, and relay whatever commits from now on. `settled` waits for this process's INSERT in
        flight, so that its datapoints are known as its own before rows read meanwhile are relayed."""
        self._settled = settled
        await self._listen()
        try:
            # Taken after LISTEN: a transaction still running now will be notified when it commits.
            cursor = await self._db.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        except BaseException:
            self._close()
            raise
        self._cursor = (int(cursor.fetchone()[0]), 0)
        self.state = "listening"
        self._supervisor = asyncio.ensure_future(self._stay_listening())
        log.info("relaying other processes' datapoints: listening on %s as %s, from cursor %s",
                 CHANNEL, self.identity, format_cursor(*self._cursor))

    async def stop(self) -> None:
        """Let the NOTIFYs being sent finish, then stop reading and close the connection."""
        self._stopped = True
        if self._notifying:
            await asyncio.wait(list(self._notifying), timeout=NOTIFY_GRACE)
        for handle in (self._retry, self._tidy):
            if handle is not None:
                handle.cancel()
        for task in (self._supervisor, self._fetching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._close()
        self.state = "off"

    def published(self, datapoints: list[dict[str, Any]]) -> None:
        """Called after this process committed and broadcast datapoints: remember them as its own,
        and tell the other processes."""
        if self._stopped:
            return
        for datapoint in datapoints:
            self._own[datapoint["public_id"]] = None
        self._own_unread += len(datapoints)
        while len(self._own) > OWN_LIMIT:
            self._own.popitem(last=False)
            self._forgotten += 1
            if self._forgotten % OWN_LIMIT == 1:
                log.warning("this process's own datapoints are not read back (is a long transaction running?); "
                            "forgetting the oldest, so they may be sent twice to this process's subscribers")
        notify = asyncio.ensure_future(self._notify(datapoints[-1]["public_id"]))
        self._notifying.add(notify)
        notify.add_done_callback(self._notifying.discard)
        if self._expected:
            self._fetch()  # this commit may be what held the rows another process notified back
        elif self._own_unread >= OWN_TIDY_ROWS:
            self._fetch()
        elif self._tidy is None:
            # Read its own rows back even while the others are quiet: that moves the cursor past
            # them and forgets them, so that the next read has not got all of them to go through.
            self._tidy = asyncio.get_running_loop().call_later(TIDY_DELAY, self._tidy_up)

    async def _notify(self, public_id: str) -> None:
        try:
            await self._db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.identity} {public_id}"))
        except Exception as error:
            # Not lost: the others read these datapoints with the next ones anybody notifies.
            log.warning("could not notify the other processes: %s", _one_line(error))

    # --- reading past the cursor ------------------------------------------------------------

    def _fetch(self) -> None:
        """Read what is new past the cursor: now, or once more after the read in flight."""
        if self._stopped:
            return
        if self._fetching is not None:
            self._again = True
        else:
            self._fetching = asyncio.ensure_future(self._fetch_while_wanted())

    def _tidy_up(self) -> None:
        self._tidy = None
        self._fetch()

    def _look_again(self) -> None:
        self._retry = None
        self._fetch()

    async def _fetch_while_wanted(self) -> None:
        try:
            self._again = True
            while self._again and not self._stopped:
                self._again = False
                await self._fetch_round()
        except Exception as error:
            if isinstance(error, UNAVAILABLE):
                log.warning("could not read other processes' datapoints: %s", _one_line(error))
            else:
                log.exception("could not read other processes' datapoints")
            self._unsure = True
        finally:
            self._fetching = None
        self._retry_if_unsure()

    async def _fetch_round(self) -> None:
        self._own_unread = 0
        notified = set(self._expected)
        # Asked before reading: if nothing committed is held back now, the reads below return every
        # datapoint committed so far, and so every one notified so far.
        held = await self._held_back() if self._unsure else None
        while True:
            rows = await datapoints_after(self._db, self._cursor, PAGE, Filters())
            # An INSERT of ours that committed before that read may not have told us its ids yet.
            await self._settled()
            if rows:
                self._cursor = parse_cursor(rows[-1]["cursor"])
                self._relay(rows)
            if len(rows) < PAGE:
                break
        if held is False:
            self._unsure = False
            self._expected -= notified  # committed, yet not read: deleted since

    def _relay(self, rows: list[dict[str, Any]]) -> None:
        fresh = []
        for row in rows:
            self._expected.discard(row["public_id"])
            if self._own.pop(row["public_id"], _MISSING) is _MISSING:
                fresh.append(row)
        if fresh:
            try:
                self._deliver(fresh)
            except Exception:
                log.exception("delivering datapoints failed")

    async def _held_back(self) -> bool:
        cursor = await self._db.execute(_HELD_BACK, (str(self._cursor[0]), self._cursor[1]))
        return bool(cursor.fetchone()[0])

    def _retry_if_unsure(self) -> None:
        # A notification can arrive before its rows are visible to datapoints_after (an older
        # transaction is still running, maybe one that stores no datapoints and notifies nobody),
        # so look again shortly until they are there or the database says none is held back.
        if self._stopped:
            return
        if self._expected:
            self._unsure = True
        if not self._unsure:
            self._retry_delay = RETRY_FIRST
            if self._retry is not None:
                self._retry.cancel()
                self._retry = None
        elif self._retry is None:
            self._retry = asyncio.get_running_loop().call_later(self._retry_delay, self._look_again)
            self._retry_delay = min(2 * self._retry_delay, RETRY_CAP)

    # --- the LISTEN connection --------------------------------------------------------------

    async def _listen(self) -> None:
        conn = psycopg2.connect(self._url, async_=True, application_name=f"{APPLICATION_NAME}-{os.getpid()}",
                                keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
        try:
            await asyncio.wait_for(_completion(conn), CONNECT_TIMEOUT)
            listen = conn.cursor()  # kept until the statement is done: psycopg2 needs it meanwhile
            listen.execute(f"LISTEN {CHANNEL}")
            await asyncio.wait_for(_completion(conn), CONNECT_TIMEOUT)
            listen.close()
        except BaseException:
            conn.close()
            raise
        self._conn, self._fd = conn, conn.fileno()
        self._lost = asyncio.get_running_loop().create_future()
        IOLoop.current().add_handler(self._fd, self._on_readable, IOLoop.READ)
        self._on_readable()  # notifications that came with the LISTEN's answer

    def _on_readable(self, fd: int | None = None, events: int = 0) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.poll()
        except psycopg2.Error as error:
            self._drop(error)
            return
        others = False
        for notification in conn.notifies:
            sender, _, public_id = notification.payload.partition(" ")
            if sender != self.identity:
                others = True
                if public_id:
                    self._expected.add(public_id)
        conn.notifies.clear()
        if len(self._expected) > EXPECTED_LIMIT:
            self._expected.clear()
            self._unsure = True  # too many to keep: ask the database whether rows are held back instead
        if others:
            self._fetch()

    def _drop(self, error: Exception) -> None:
        self._close()
        self.state = "reconnecting"
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(error)

    def _close(self) -> None:
        if self._conn is not None:
            IOLoop.current().remove_handler(self._fd)
            self._conn.close()
            self._conn = None

    async def _stay_listening(self) -> None:
        while True:
            assert self._lost is not None
            error = await self._lost
            log.warning("lost its LISTEN connection (%s); reconnecting", _one_line(error))
            delay = RECONNECT_FIRST
            while True:
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                try:
                    await self._listen()
                    break
                except Exception as failure:  # whatever it is, keep trying: the stream depends on it
                    delay = min(2 * delay, RECONNECT_CAP)
                    log.warning("cannot listen yet (%s); next try within %.1f s", _one_line(failure), delay)
            self.state = "listening"
            # What was notified meanwhile went unheard: read from the cursor, and ask the database
            # whether rows are held back rather than wait for a notification that may not come.
            log.info("listening again; catching up from cursor %s", format_cursor(*self._cursor))
            self._unsure = True
            self._fetch()


async def _completion(conn: psycopg2.extensions.connection) -> None:
    """Drive an asynchronous psycopg2 operation (connecting, a statement) to its end on the IOLoop."""
    loop = IOLoop.current()
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    watched: int | None = None

    def unwatch() -> None:
        nonlocal watched
        if watched is not None:
            loop.remove_handler(watched)
            watched = None

    def step(fd: int | None = None, events: int = 0) -> None:
        nonlocal watched
        if done.done():
            return
        try:
            state = conn.poll()
        except Exception as error:
            unwatch()
            done.set_exception(error)
            return
        if state == psycopg2.extensions.POLL_OK:
            unwatch()
            done.set_result(None)
            return
        wanted = IOLoop.READ if state == psycopg2.extensions.POLL_READ else IOLoop.WRITE
        if watched != conn.fileno():  # libpq opens a new socket when it tries the server's next address
            unwatch()
            watched = conn.fileno()
            loop.add_handler(watched, step, wanted)
        else:
            loop.update_handler(watched, wanted)

    step()
    try:
        await done
    finally:
        unwatch()


async def _nothing_in_flight() -> None:
    pass


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__  # libpq's messages span lines
