"""The relay: datapoints that other server processes store, read back and handed to this one's stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import momoko

from models.database import UNAVAILABLE, one_line
from models.datapoints import Filters, datapoints_after, format_cursor, parse_cursor
from models.listener import Listener

log = logging.getLogger("webmacs.relay")

CHANNEL = "webmacs_datapoints"
APPLICATION_NAME = "webmacs-relay"  # then "-<pid>": which process a LISTEN connection belongs to
PAGE = 5000  # rows per read while catching up: one full INSERT
OWN_LIMIT = 100_000  # own datapoints remembered at most, about 15 MB
OWN_TIDY_ROWS = 10_000  # own datapoints stored since the last read that make it read at once
TIDY_DELAY = 1.0  # otherwise it reads its own back within this many seconds
NOTIFIED_LIMIT = 10_000
RETRY_FIRST, RETRY_CAP = 0.02, 1.0  # seconds before looking again for rows not visible yet
NOTIFY_GRACE = 2.0  # seconds stop() waits for NOTIFYs still being sent

Deliver = Callable[[list[dict[str, Any]]], None]

# Committed datapoints past the cursor that datapoints_after does not return yet, because a
# transaction older than theirs is still running.
_HELD_BACK = "SELECT EXISTS (SELECT 1 FROM datapoints WHERE id > %s AND id >= webmacs_datapoint_horizon())"


class Relay:
    """Owns the cursor up to which other processes' datapoints were relayed.

    After each commit this process sends one NOTIFY naming itself and one datapoint of the batch. A
    notification from another process, heard by its Listener, makes it read everything past its
    cursor (datapoints_after, one read at a time) and hand what is new to `deliver`. Its own
    datapoints come back in those reads too, since the table does not say who stored a row; they are
    skipped by public_id, remembered when they were committed, because the local broadcast has sent
    them already.
    """

    def __init__(self, url: str, db: momoko.Pool, deliver: Deliver,
                 delay_seen: Callable[[float], None] = lambda seconds: None) -> None:
        self.identity = f"{os.getpid()}.{secrets.token_hex(4)}"
        self._db, self._deliver = db, deliver
        self._delay_seen = delay_seen  # seconds from hearing of a datapoint to relaying it
        self._listener = Listener(url, CHANNEL, f"{APPLICATION_NAME}-{os.getpid()}",
                                  on_notified=self._notified, on_listening_again=self._catch_up)
        self._settled: Callable[[], Awaitable[None]] = _nothing_in_flight
        self._cursor = 0
        self._own_not_read_back: OrderedDict[str, None] = OrderedDict()  # oldest first, to drop at the limit
        self._own_forgotten = 0
        self._published_since_read = 0
        self._notified_not_read: dict[str, float] = {}  # public_id: loop time it was heard of
        self._maybe_held_back = False  # then look again, asking the database first
        self._reading: asyncio.Task[None] | None = None
        self._read_again = False
        self._retry_timer: asyncio.TimerHandle | None = None
        self._retry_delay = RETRY_FIRST
        self._tidy_timer: asyncio.TimerHandle | None = None
        self._notifies_in_flight: set[asyncio.Future[None]] = set()
        self._stopped = False

    @property
    def state(self) -> str:
        """The listener's state, for /healthz: "listening", "reconnecting" or "off"."""
        return self._listener.state

    async def start(self, settled: Callable[[], Awaitable[None]]) -> None:
        """Listen, and relay whatever commits from now on. `settled` waits for this process's INSERT in
        flight, so that its datapoints are known as its own before rows read meanwhile are relayed."""
        self._settled = settled
        await self._listener.start()
        try:
            # Taken after LISTEN: a transaction still running now will be notified when it commits.
            cursor = await self._db.execute("SELECT webmacs_datapoint_horizon() - 1")
        except BaseException:
            await self._listener.stop()
            raise
        self._cursor = cursor.fetchone()[0]
        log.info("relaying other processes' datapoints: listening on %s as %s, from cursor %s",
                 CHANNEL, self.identity, format_cursor(self._cursor))

    async def stop(self) -> None:
        """Let the NOTIFYs being sent finish, then stop reading and close the connection."""
        self._stopped = True
        if self._notifies_in_flight:
            await asyncio.wait(list(self._notifies_in_flight), timeout=NOTIFY_GRACE)
        for timer in (self._retry_timer, self._tidy_timer):
            if timer is not None:
                timer.cancel()
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        await self._listener.stop()

    def published(self, datapoints: list[dict[str, Any]]) -> None:
        """Called after this process committed and broadcast datapoints: remember them as its own,
        and tell the other processes."""
        if self._stopped:
            return
        for datapoint in datapoints:
            self._own_not_read_back[datapoint["public_id"]] = None
        self._published_since_read += len(datapoints)
        while len(self._own_not_read_back) > OWN_LIMIT:
            self._own_not_read_back.popitem(last=False)
            self._own_forgotten += 1
            if self._own_forgotten % OWN_LIMIT == 1:
                log.warning("this process's own datapoints are not read back (is a long transaction running?); "
                            "forgetting the oldest, so they may be sent twice to this process's subscribers")
        notify = asyncio.ensure_future(self._notify(datapoints[-1]["public_id"]))
        self._notifies_in_flight.add(notify)
        notify.add_done_callback(self._notifies_in_flight.discard)
        if self._notified_not_read:
            self._read()  # this commit may be what held the rows another process notified back
        elif self._published_since_read >= OWN_TIDY_ROWS:
            self._read()
        elif self._tidy_timer is None:
            # Read its own rows back even while the others are quiet: that moves the cursor past
            # them and forgets them, so that the next read has not got all of them to go through.
            self._tidy_timer = asyncio.get_running_loop().call_later(TIDY_DELAY, self._tidy_up)

    async def _notify(self, public_id: str) -> None:
        try:
            await self._db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.identity} {public_id}"))
        except Exception as error:
            # Not lost: the others read these datapoints with the next ones anybody notifies.
            log.warning("could not notify the other processes: %s", one_line(error))

    # --- what the listener hears ------------------------------------------------------------

    def _notified(self, payloads: list[str]) -> None:
        from_others = False
        for payload in payloads:
            sender, _, public_id = payload.partition(" ")
            if sender != self.identity:
                from_others = True
                if public_id:
                    self._notified_not_read.setdefault(public_id, asyncio.get_running_loop().time())
        if len(self._notified_not_read) > NOTIFIED_LIMIT:
            self._notified_not_read.clear()
            self._maybe_held_back = True  # too many to keep: ask the database whether rows are held back instead
        if from_others:
            self._read()

    def _catch_up(self) -> None:
        # What was notified while the listener was reconnecting went unheard: read from the cursor,
        # and ask the database whether rows are held back rather than wait for a notification that
        # may not come.
        log.info("listening again; catching up from cursor %s", format_cursor(self._cursor))
        self._maybe_held_back = True
        self._read()

    # --- reading past the cursor ------------------------------------------------------------

    def _read(self) -> None:
        """Read what is new past the cursor: now, or once more after the read in flight."""
        if self._stopped:
            return
        if self._reading is not None:
            self._read_again = True
        else:
            self._reading = asyncio.ensure_future(self._read_while_wanted())

    def _tidy_up(self) -> None:
        self._tidy_timer = None
        self._read()

    def _look_again(self) -> None:
        self._retry_timer = None
        self._read()

    async def _read_while_wanted(self) -> None:
        try:
            self._read_again = True
            while self._read_again and not self._stopped:
                self._read_again = False
                await self._read_past_cursor()
        except Exception as error:
            if isinstance(error, UNAVAILABLE):
                log.warning("could not read other processes' datapoints: %s", one_line(error))
            else:
                log.exception("could not read other processes' datapoints")
            self._maybe_held_back = True
        finally:
            self._reading = None
        self._retry_if_maybe_held_back()

    async def _read_past_cursor(self) -> None:
        self._published_since_read = 0
        notified = set(self._notified_not_read)
        # Asked before reading: if nothing committed is held back now, the reads below return every
        # datapoint committed so far, and so every one notified so far.
        held = await self._held_back() if self._maybe_held_back else None
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
            self._maybe_held_back = False
            for public_id in notified:  # committed, yet not read: deleted since
                self._notified_not_read.pop(public_id, None)

    def _relay(self, rows: list[dict[str, Any]]) -> None:
        fresh = []
        for row in rows:
            public_id = row["public_id"]
            heard = self._notified_not_read.pop(public_id, None)
            if heard is not None:
                self._delay_seen(asyncio.get_running_loop().time() - heard)
            if public_id in self._own_not_read_back:
                del self._own_not_read_back[public_id]  # the local broadcast sent it already
            else:
                fresh.append(row)
        if fresh:
            try:
                self._deliver(fresh)
            except Exception:
                log.exception("delivering datapoints failed")

    async def _held_back(self) -> bool:
        cursor = await self._db.execute(_HELD_BACK, (self._cursor,))
        return bool(cursor.fetchone()[0])

    def _retry_if_maybe_held_back(self) -> None:
        # A notification can arrive before its rows are visible to datapoints_after (an older
        # transaction is still running, maybe one that stores no datapoints and notifies nobody),
        # so look again shortly until they are there or the database says none is held back.
        if self._stopped:
            return
        if self._notified_not_read:
            self._maybe_held_back = True
        if not self._maybe_held_back:
            self._retry_delay = RETRY_FIRST
            if self._retry_timer is not None:
                self._retry_timer.cancel()
                self._retry_timer = None
        elif self._retry_timer is None:
            self._retry_timer = asyncio.get_running_loop().call_later(self._retry_delay, self._look_again)
            self._retry_delay = min(2 * self._retry_delay, RETRY_CAP)


async def _nothing_in_flight() -> None:
    pass
