"""What every handler shares: settings and pool access, JSON errors, origin and token checks, fast frames."""

from __future__ import annotations

import functools
import json
import logging
import re
import struct
from asyncio import Future
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar
from urllib.parse import urlsplit

import tornado.web
import tornado.websocket
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError

from models.tokens import Principal, TokenError, verify_token
from models.database import UNAVAILABLE
from models.users import is_revoked

if TYPE_CHECKING:
    import momoko

    from app import WebMACS
    from conf.settings import Settings
    from models.ingest import IngestQueue

log = logging.getLogger("webmacs.handlers")
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])

WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}\Z")

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


class ApiError(tornado.web.HTTPError):
    """An HTTP error answered as JSON; `details` maps field names to what is wrong with them."""

    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(status, message)
        self.details = details or {}


def allow(*roles: str) -> Callable[[Handler], Handler]:
    """Declare on a handler method which token roles may call it (401 without a token, 403 otherwise)."""

    def decorate(method: Handler) -> Handler:
        @functools.wraps(method)
        async def checked(self: ApiHandler, *args: Any, **kwargs: Any) -> Any:
            if self.current_user is None:
                raise ApiError(401, self.refusal or "missing token")
            if self.current_user.role not in roles:
                raise ApiError(403, f"role {self.current_user.role} may not do this")
            return await method(self, *args, **kwargs)
        return checked

    return decorate


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

    def initialize(self) -> None:
        self.current_user: Principal | None = None
        self.refusal: str | None = None

    def authentication_required(self) -> bool:
        return True

    async def prepare(self) -> None:
        if len(self.request.body) > self.config.max_message_size:
            raise ApiError(413, f"request body is larger than {self.config.max_message_size} bytes")
        # Reads the bearer token once, before any method; methods declare roles with @allow.
        if not self.authentication_required():
            return
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.refusal = "missing bearer token"
            return
        try:
            self.current_user = await authenticate_token(self, token.strip())
        except TokenError as error:
            self.refusal = str(error)
        except UNAVAILABLE:
            raise ApiError(503, "database unavailable; try again later") from None

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")

    def int_argument(self, name: str, default: int, low: int, high: int | None) -> int:
        """A whole-number query argument within [low, high]; 400 naming it otherwise."""
        text = self.get_query_argument(name, None)
        if text is None:
            return default
        value = int(text) if WHOLE_NUMBER.match(text) else None
        if value is None or value < low or (high is not None and value > high):
            allowed = f"a whole number from {low}" + (f" to {high}" if high is not None else " up")
            raise ApiError(400, f"invalid {name}", {name: allowed})
        return value

    def bool_argument(self, name: str) -> bool:
        """A true/false query argument (absent: false); 400 naming it otherwise."""
        text = self.get_query_argument(name, "false").lower()
        if text not in ("true", "false", "1", "0"):
            raise ApiError(400, f"invalid {name}", {name: "true or false"})
        return text in ("true", "1")

    def json_body(self, required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
        """The request body as a JSON object with these fields of these types; 400 naming each bad one."""
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            raise ApiError(400, "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        if not _storable_text(body):
            raise ApiError(400, "request body holds text PostgreSQL cannot store (NUL or a lone surrogate)")
        problems = {}
        for name, kind in {**required, **(optional or {})}.items():
            if name not in body:
                if name in required:
                    problems[name] = "required"
            elif not isinstance(body[name], kind) or isinstance(body[name], bool) and kind is not bool:
                problems[name] = f"must be {_type_name(kind)}"
        if problems:
            raise ApiError(400, "invalid request body", problems)
        return body

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(dumps(payload))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:
            self.set_header("Allow", ", ".join(self._implemented_methods()))
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(error, "log_message", None) or HTTPStatus(status_code).phrase
        details = getattr(error, "details", None) or {}
        self.finish(dumps({"error": {"code": status_code, "message": message, "details": details}}))


    def _implemented_methods(self) -> list[str]:
        base = tornado.web.RequestHandler
        return [method for method in ("GET", "POST", "PUT", "DELETE")
                if getattr(type(self), method.lower()) is not getattr(base, method.lower())]


class NotFoundHandler(ApiHandler):
    """Unknown paths answer like the rest of the API: JSON, 404."""

    def authentication_required(self) -> bool:
        return False

    async def prepare(self) -> None:
        raise ApiError(404, f"no such path: {self.request.path}")


async def authenticate_token(handler: AppMixin, token: str | None) -> Principal:
    """The token's principal if it is valid and not revoked; TokenError says why not."""
    principal = verify_token(handler.config.jwt_secret, token)
    if await is_revoked(handler.db, principal.token_id):
        raise TokenError("token revoked")
    return principal


def _storable_text(value: Any) -> bool:
    """False if any string in it has a NUL or a lone UTF-16 surrogate: JSON can escape both,
    PostgreSQL text can hold neither."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_storable_text(key) and _storable_text(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_storable_text(item) for item in value)
    return True


def _type_name(kind: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "an object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


class SocketHandler(AppMixin, tornado.websocket.WebSocketHandler):
    """A WebSocket endpoint: origin allow-list, token check before registration, cheap sends."""

    allowed_roles: frozenset[str] | None = None  # roles that may connect; None: any valid token

    def token_required(self) -> bool:
        return True

    def initialize(self) -> None:
        self.current_user: Principal | None = None
        self.refusal: str | None = None
        self.refusal_code = POLICY_VIOLATION
        self._backlog = bytearray()  # frames waiting behind the write in flight
        self._in_flight: Future[None] | None = None
        self._in_flight_bytes = 0
        self._in_flight_since = 0.0  # loop time when the oldest byte of the write in flight was queued
        self._backlog_since = 0.0

    async def prepare(self) -> None:
        # Decided before the upgrade but enforced in open(): a browser sees a close code,
        # never an HTTP status, so the refusal has to travel as a WebSocket close.
        if not self.token_required():
            return
        try:
            principal = await authenticate_token(self, self.get_query_argument("token", None))
            if self.allowed_roles is not None and principal.role not in self.allowed_roles:
                raise TokenError(f"role {principal.role} may not use this endpoint")
            self.current_user = principal
        except TokenError as error:
            self.refusal = str(error)
        except UNAVAILABLE:
            # Revocation cannot be checked, so the token cannot be trusted: ask to come back.
            self.refusal, self.refusal_code = "database unavailable; try again later", TRY_AGAIN_LATER

    @classmethod
    def connected(cls) -> list[SocketHandler]:
        """A snapshot of this endpoint's open connections (each subclass owns its registry)."""
        raise NotImplementedError

    @classmethod
    def close_all(cls) -> None:
        for peer in cls.connected():
            peer.close(GOING_AWAY, "server shutting down")

    @classmethod
    def close_revoked(cls, token_id: str) -> None:
        for peer in cls.connected():
            if peer.current_user is not None and peer.current_user.token_id == token_id:
                peer.close(POLICY_VIOLATION, "token revoked")

    def refuse_unauthorized(self) -> bool:
        """Close with 1008 if the token was refused; True when the connection is being closed."""
        if self.refusal is None:
            return False
        log.info("%s refused %s: %s", self.request.path, self.request.remote_ip, self.refusal)
        self.close(self.refusal_code, self.refusal)
        return True

    def check_origin(self, origin: str) -> bool:
        parsed = urlsplit(origin)
        if parsed.netloc.lower() == self.request.host.lower():
            return True
        # Behind a proxy the Host header may lack the public port, so the public URL counts as our own.
        if origin.rstrip("/") in self.config.allowed_origins or origin.rstrip("/") == self.config.public_url.rstrip("/"):
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
        """Age of the oldest byte queued for this peer that the kernel has not taken yet."""
        return 0.0 if self._in_flight is None else IOLoop.current().time() - self._in_flight_since

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
            if not self._backlog:
                self._backlog_since = IOLoop.current().time()
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
        return self._write(stream, frames, IOLoop.current().time())

    def _write(self, stream: IOStream, data: bytes, queued_at: float) -> bool:
        try:
            written = stream.write(data)
        except StreamClosedError:
            return False
        if not written.done():
            self._in_flight, self._in_flight_bytes, self._in_flight_since = written, len(data), queued_at
            written.add_done_callback(self._flushed)
        return True

    def _flushed(self, written: Future[None]) -> None:
        self._in_flight = None
        connection = self.ws_connection
        if written.exception() is not None or connection is None or connection.is_closing():
            self._backlog.clear()  # nothing may follow a close frame
        elif self._backlog:
            data, self._backlog = bytes(self._backlog), bytearray()
            self._write(connection.stream, data, self._backlog_since)

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
