"""`/ws/datapoints/stream`: every committed datapoint, live, to every open dashboard."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import tornado.web
from prometheus_client import Counter

from handlers.base import TRY_AGAIN_LATER, SocketHandler
from handlers.wire import dumps, text_frame
from models import public_ids
from models.database import UNAVAILABLE
from models.datapoints import datapoints_since, format_cursor, parse_cursor

log = logging.getLogger("webmacs.stream")

KERNEL_UNSENT_BYTES = 16 * 1024
CATCH_UP_LIMIT = 10_000  # datapoints one subscriber is sent from the database past its cursor, at most
CATCH_UP_PAGE = 1000
INVALID_QUERY = 4400  # an application close code: the stream's query (after=, events=) cannot be used


class StreamHandler(SocketHandler):
    """Owns the subscriber registry: open() adds, on_close() and failed sends remove.

    Optional, beyond the spec: `?events=A,B` sends only those events' datapoints, and `?after=CURSOR`
    first sends what committed past the cursor, then continues live with nothing missed or doubled;
    `?status=1` and `?alarms=1` add typed frames about controllers, stale events and alarms.
    """

    subscribers: ClassVar[set[StreamHandler]] = set()
    kind = "subscribers"
    accepts_tickets = True  # browsers: a ticket from POST /api/v1/stream-ticket, never their token

    def initialize(self) -> None:
        super().initialize()
        self.events: frozenset[str] | None = None  # None: every event
        self.wants_status = False  # ?status=1: also typed frames about controllers and stale events
        self.wants_alarms = False  # ?alarms=1: also a frame for each change of an alarm's state
        self._after: int | None = None
        self._query_problem: str | None = None
        # While catching up: live datapoints wait here, to be sent after the database's.
        self._held: list[dict[str, Any]] | None = None

    def token_required(self) -> bool:
        return self.config.stream_require_token

    async def get(self, *args: str, **kwargs: str) -> None:
        if self.config.refuse_stream:
            # Before the upgrade, as a proxy or a crashed backend would: the browser sees a failed handshake.
            raise tornado.web.HTTPError(503, "stream refused (WEBMACS_TEST_REFUSE_STREAM)")
        self._read_query()
        await super().get(*args, **kwargs)

    def _read_query(self) -> None:
        events = self.get_query_argument("events", None)
        if events is not None:
            self.events = frozenset(event.strip() for event in events.split(",") if event.strip())
            if not self.events or not all(public_ids.PUBLIC_ID.match(event) for event in self.events):
                self._query_problem = "events must be a comma-separated list of event ids"
        status = self.get_query_argument("status", None)
        if status is not None:
            self.wants_status = status == "1"
            if status not in ("0", "1"):
                self._query_problem = "status must be 1 (or 0)"
        alarms = self.get_query_argument("alarms", None)
        if alarms is not None:
            self.wants_alarms = alarms == "1"
            if alarms not in ("0", "1"):
                self._query_problem = "alarms must be 1 (or 0)"
        after = self.get_query_argument("after", None)
        if after is not None:
            try:
                self._after = parse_cursor(after)
            except ValueError as error:
                self._query_problem = f"after: {error}"

    async def open(self) -> None:
        if self.refuse_unauthorized():
            return
        if self._query_problem is not None:
            self.close(INVALID_QUERY, self._query_problem)
            return
        self.set_nodelay(True)
        self.writer.limit_kernel_backlog(KERNEL_UNSENT_BYTES)
        if self._after is not None:
            self._held = []  # registered first, so that nothing committing meanwhile is missed
        StreamHandler.subscribers.add(self)
        self.app.metrics.connections_open.labels(self.kind).inc()
        log.info("subscriber %s connected (%d open)", self.peer(), len(self.subscribers))
        if self.wants_status:
            try:
                frames = await self.app.status.snapshot()
            except UNAVAILABLE:
                frames = []  # the next change will be told; the datapoints matter more
            if frames and self in StreamHandler.subscribers:
                self._deliver(b"".join(text_frame(dumps(frame).encode()) for frame in frames))
        if self._after is not None:
            await self._catch_up(self._after)

    async def _catch_up(self, after: int) -> None:
        """What committed past the cursor, from the database, then what was broadcast meanwhile."""
        sent: set[str] = set()
        position, complete = after, True
        try:
            while True:
                rows = await datapoints_since(self.db, position, CATCH_UP_PAGE, self.events)
                for row in rows:
                    sent.add(row["public_id"])
                if rows:
                    if not self.writer.send(b"".join(text_frame(dumps(row).encode()) for row in rows)):
                        return  # gone meanwhile
                    position = parse_cursor(rows[-1]["cursor"])
                if len(rows) < CATCH_UP_PAGE:
                    break
                if len(sent) >= CATCH_UP_LIMIT:
                    complete = False
                    break
        except UNAVAILABLE:
            complete = False
        if not complete:
            # Centrifugo's recovery, for any client: say that datapoints were skipped, and from where.
            self.writer.send_json({"type": "recovery", "complete": False, "cursor": format_cursor(position),
                                   "message": f"more than {CATCH_UP_LIMIT} datapoints since the cursor, or the "
                                              "database is unavailable: fetch the rest from /api/v1/datapoints"
                                              "?after=<cursor>"})
        held, self._held = self._held or [], None
        fresh = [datapoint for datapoint in held if datapoint["public_id"] not in sent]
        if fresh and self in StreamHandler.subscribers:
            self._deliver(b"".join(text_frame(dumps(datapoint).encode()) for datapoint in fresh))

    def on_message(self, message: str | bytes) -> None:
        pass  # the stream is one-way; whatever a browser sends is ignored

    def on_close(self) -> None:
        self._leave()
        if self.refusal is None:
            log.info("subscriber %s disconnected (code %s, %d open)", self.peer(), self.close_code,
                     len(self.subscribers))

    @classmethod
    def connected(cls) -> list[SocketHandler]:
        return list(cls.subscribers)

    @classmethod
    def broadcast(cls, datapoints: list[dict[str, Any]], deliveries: Counter | None = None) -> None:
        """Send each datapoint to every subscriber, JSON-encoded and framed once for all of them."""
        if not cls.subscribers:
            return
        frames = [text_frame(dumps(datapoint).encode()) for datapoint in datapoints]
        everything = b"".join(frames)
        chosen: dict[frozenset[str], tuple[bytes, int]] = {}  # per distinct events= filter, built once
        delivered = 0
        for subscriber in list(cls.subscribers):  # a send may remove a subscriber
            wanted = subscriber.events
            if subscriber._held is not None:
                subscriber._held.extend(datapoint for datapoint in datapoints
                                        if wanted is None or datapoint["event_public_id"] in wanted)
                continue
            if wanted is None:
                data, count = everything, len(frames)
            else:
                if wanted not in chosen:
                    picked = [frame for datapoint, frame in zip(datapoints, frames, strict=True)
                              if datapoint["event_public_id"] in wanted]
                    chosen[wanted] = b"".join(picked), len(picked)
                data, count = chosen[wanted]
                if not count:
                    continue
            subscriber._deliver(data)
            delivered += count
        if deliveries is not None:
            deliveries.inc(delivered)

    @classmethod
    def broadcast_status(cls, frames: list[dict[str, Any]]) -> None:
        """Typed status frames, encoded once, to the subscribers that asked for them."""
        data = b"".join(text_frame(dumps(frame).encode()) for frame in frames)
        for subscriber in list(cls.subscribers):
            if subscriber.wants_status:
                subscriber._deliver(data)

    @classmethod
    def broadcast_alarm(cls, frame: dict[str, Any]) -> None:
        """An alarm's change, encoded once, to the subscribers that asked for them."""
        data = text_frame(dumps(frame).encode())
        for subscriber in list(cls.subscribers):
            if subscriber.wants_alarms:
                subscriber._deliver(data)

    @classmethod
    def status_wanted(cls) -> bool:
        return any(subscriber.wants_status for subscriber in cls.subscribers)

    def _deliver(self, frames: bytes) -> None:
        if self.writer.writing() and self._lagging(len(frames)):
            self.app.subscribers_cut_off += 1
            self.app.metrics.subscribers_cut_off.inc()
            self._leave()
            self.close(TRY_AGAIN_LATER, "too slow: messages were piling up unread")
        elif not self.writer.send(frames):
            self._leave()

    def _leave(self) -> None:
        if self in StreamHandler.subscribers:
            StreamHandler.subscribers.discard(self)
            self.app.metrics.connections_open.labels(self.kind).dec()

    def _lagging(self, incoming: int) -> bool:
        queued, behind = self.writer.queued_bytes() + incoming, self.writer.seconds_behind()
        if queued <= self.config.subscriber_buffer_limit and behind <= self.config.subscriber_stall_timeout:
            return False
        log.warning("subscriber %s cut off: %d bytes unread, %.1f s behind (SUBSCRIBER_BUFFER_LIMIT %d, "
                    "SUBSCRIBER_STALL_TIMEOUT %g)", self.peer(), queued, behind,
                    self.config.subscriber_buffer_limit, self.config.subscriber_stall_timeout)
        return True


default_handlers = [(r"/ws/datapoints/stream", StreamHandler)]
