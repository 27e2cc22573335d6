"""`/ws/datapoints/stream`: every committed datapoint, live, to every open dashboard."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import tornado.web
from prometheus_client import Counter

from handlers.base import TRY_AGAIN_LATER, SocketHandler
from handlers.wire import dumps, text_frame

log = logging.getLogger("webmacs.stream")

KERNEL_UNSENT_BYTES = 16 * 1024


class StreamHandler(SocketHandler):
    """Owns the subscriber registry: open() adds, on_close() and failed sends remove."""

    subscribers: ClassVar[set[StreamHandler]] = set()
    kind = "subscribers"

    def token_required(self) -> bool:
        return self.config.stream_require_token

    async def get(self, *args: str, **kwargs: str) -> None:
        if self.config.refuse_stream:
            # Before the upgrade, as a proxy or a crashed backend would: the browser sees a failed handshake.
            raise tornado.web.HTTPError(503, "stream refused (WEBMACS_TEST_REFUSE_STREAM)")
        await super().get(*args, **kwargs)

    def open(self) -> None:
        if self.refuse_unauthorized():
            return
        self.set_nodelay(True)
        self.writer.limit_kernel_backlog(KERNEL_UNSENT_BYTES)
        StreamHandler.subscribers.add(self)
        self.app.metrics.connections_open.labels(self.kind).inc()
        log.info("subscriber %s connected (%d open)", self.peer(), len(self.subscribers))

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
        frames = b"".join(text_frame(dumps(datapoint).encode()) for datapoint in datapoints)
        subscribers = list(cls.subscribers)  # a send may remove a subscriber
        for subscriber in subscribers:
            subscriber._deliver(frames)
        if deliveries is not None:
            deliveries.inc(len(datapoints) * len(subscribers))

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
