"""What every handler shares: settings and pool access, JSON errors, origin and token checks, fast frames."""

from __future__ import annotations

import json
import logging
import struct
from asyncio import Future
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import tornado.web
import tornado.websocket
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError

from models.tokens import Principal, TokenError, verify_token

if TYPE_CHECKING:
    import momoko

    from app import WebMACS
    from conf.settings import Settings
    from models.ingest import IngestQueue

log = logging.getLogger("webmacs.handlers")

# RFC 6455 close codes used here.
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
GOING_AWAY = 1001


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def text_frame(payload: bytes) -> bytes:
    """A complete unmasked, uncompressed server-to-client text frame (RFC 6455, 5.2)."""
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class AppMixin:
    application: WebMACS

    @property
    def config(self) -> Settings:
        return self.application.config

    @property
    def db(self) -> momoko.Pool:
        return self.application.db

    @property
    def ingest(self) -> IngestQueue:
        return self.application.ingest

    # Tornado's own log lines name the request by its URI, and ours carry tokens in the query.
    def _request_summary(self) -> str:
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)  # type: ignore[misc]
        else:
            log.error("uncaught exception in %s", self._request_summary(), exc_info=(typ, value, tb))


class ApiHandler(AppMixin, tornado.web.RequestHandler):
    """JSON in and out; errors always as {"error": {"code", "message", "details"}}."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(dumps(payload))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(error, "log_message", None) or HTTPStatus(status_code).phrase
        details = getattr(error, "details", None) or {}
        self.finish(dumps({"error": {"code": status_code, "message": message, "details": details}}))


class SocketHandler(AppMixin, tornado.websocket.WebSocketHandler):
    """A WebSocket endpoint: origin allow-list, token check before registration, cheap sends."""

    allowed_roles: frozenset[str] | None = None  # roles that may connect; None: any valid token

    def token_required(self) -> bool:
        return True

    def initialize(self) -> None:
        self.current_user: Principal | None = None
        self.refusal: str | None = None
        self._backlog = bytearray()  # frames waiting behind the write in flight
        self._in_flight: Future[None] | None = None
        self._in_flight_bytes = 0
        self._waiting_since: float | None = None  # loop time since when data has waited in our buffer

    async def prepare(self) -> None:
        # Decided before the upgrade but enforced in open(): a browser sees a close code,
        # never an HTTP status, so the refusal has to travel as a WebSocket close.
        if not self.token_required():
            return
        try:
            principal = verify_token(self.config.jwt_secret, self.get_query_argument("token", None))
            if self.allowed_roles is not None and principal.role not in self.allowed_roles:
                raise TokenError(f"role {principal.role} may not use this endpoint")
            self.current_user = principal
        except TokenError as error:
            self.refusal = str(error)

    def refuse_unauthorized(self) -> bool:
        """Close with 1008 if the token was refused; True when the connection is being closed."""
        if self.refusal is None:
            return False
        log.info("%s refused %s: %s", self.request.path, self.request.remote_ip, self.refusal)
        self.close(POLICY_VIOLATION, self.refusal)
        return True

    def check_origin(self, origin: str) -> bool:
        parsed = urlsplit(origin)
        if parsed.netloc.lower() == self.request.host.lower():
            return True
        if origin.rstrip("/") in self.config.allowed_origins:
            return True
        log.warning("refused WebSocket from origin %s; add it to ALLOWED_ORIGINS to allow it", origin)
        return False

    def peer(self) -> str:
        who = self.current_user.subject if self.current_user else "anonymous"
        return f"{who}@{self.request.remote_ip}"

    def queued_bytes(self) -> int:
        """Bytes sent to this peer that the kernel has not taken yet (an upper bound)."""
        return len(self._backlog) + (self._in_flight_bytes if self._in_flight is not None else 0)

    def seconds_behind(self) -> float:
        """How long data has been waiting for this peer without our buffer ever running empty."""
        return 0.0 if self._waiting_since is None else IOLoop.current().time() - self._waiting_since

    def send_frames(self, frames: bytes) -> bool:
        """Write ready-made frames; False if the connection is gone.

        write_message() would frame the message again and schedule a Task per call; a broadcast
        frames each datapoint once and hands the same bytes to every subscriber.
        """
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return False
        if self._in_flight is not None:
            # One write in flight per peer; what follows waits in one buffer, not as a Future each.
            self._backlog += frames
            return True
        stream = connection.stream
        # Fast path: with nothing queued before them, the bytes go straight to the kernel. Through
        # IOStream.write each send would also cost a Future and a loop callback, the larger part
        # of a broadcast's time per subscriber. Order is kept: we only get here with an empty
        # queue, and whatever the kernel does not take joins the queue as usual.
        if not stream.writing() and type(stream) is IOStream:
            try:
                sent = stream.socket.send(frames)
            except BlockingIOError:
                sent = 0
            except OSError:
                stream.close()  # reset or broken pipe: the read side reports the close as usual
                return False
            if sent == len(frames):
                return True
            frames = frames[sent:]
        return self._write(stream, frames)

    def _write(self, stream: IOStream, data: bytes) -> bool:
        try:
            written = stream.write(data)
        except StreamClosedError:
            return False
        if not written.done():
            self._in_flight, self._in_flight_bytes = written, len(data)
            written.add_done_callback(self._flushed)
            if self._waiting_since is None:
                self._waiting_since = IOLoop.current().time()
        return True

    def _flushed(self, written: Future[None]) -> None:
        self._in_flight = None
        if written.exception() is None and self._backlog and self.ws_connection is not None:
            data, self._backlog = bytes(self._backlog), bytearray()
            self._write(self.ws_connection.stream, data)
        if self._in_flight is None:
            self._waiting_since = None

    def send_json(self, payload: Any) -> bool:
        return self.send_frames(text_frame(dumps(payload).encode()))

    def mark_peer_alive(self) -> None:
        """Count an inbound message as the answer to our last ping.

        Tornado drops a peer whose pong is late, but a busy controller's pong queues in TCP
        behind its own readings, which we may be reading slowly on purpose (backpressure).
        A message that arrives proves the peer is alive just as well. Tornado has no public
        hook for this; tests/test_heartbeat.py fails if this attribute stops working.
        """
        if self.ws_connection is not None:
            self.ws_connection._received_pong = True  # type: ignore[attr-defined]
