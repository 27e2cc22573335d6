"""What every handler shares: the application's services, JSON errors, token checks, and the WebSocket base
with its operations over all endpoints."""

from __future__ import annotations

import csv
import functools
import io
import ipaddress
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import tornado.httputil
import tornado.web
import tornado.websocket
from tornado.http1connection import HTTP1Connection
from tornado.ioloop import IOLoop

from handlers.wire import FrameWriter, OriginCheckedByUs, dumps, masked_frames_only
from models import activity
from models.database import UNAVAILABLE
from models.tokens import Principal, TokenError, check_token, redeem_stream_ticket

if TYPE_CHECKING:
    import momoko

    from conf.settings import Settings
    from handlers.throttle import LoginThrottle
    from models.commands import CommandDesk
    from models.evaluator import AlarmEvaluator
    from models.ingest import IngestQueue
    from models.metrics import Metrics
    from models.presence import PresenceBoard
    from models.relay import Relay
    from models.retention import PurgeResult
    from models.status import StatusWatcher
    from models.webhooks import Guard

log = logging.getLogger("webmacs.handlers")
USER_SESSIONS = "user:"  # a revocation of this and a user id ends all of that user's sockets
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])

EXPORT_CHUNK_ROWS = 2000  # rows per FETCH of a CSV export: the most one holds in memory
DRAIN_LIMIT_FACTOR = 64  # bodies up to this many times the limit are read and dropped after a 413
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}\Z")

# RFC 6455 close codes used here.
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
GOING_AWAY = 1001


class Services(Protocol):
    """What handlers use of the application (app.WebMACS): made once, shared by every request."""

    config: Settings
    db: momoko.Pool
    ingest: IngestQueue
    relay: Relay | None  # only with BROADCAST_ACROSS_PROCESSES
    presence: PresenceBoard
    commands: CommandDesk
    alarms: AlarmEvaluator
    webhook_guard: Guard
    status: StatusWatcher
    login_throttle: LoginThrottle
    metrics: Metrics
    last_purge: PurgeResult | None
    subscribers_cut_off: int
    sockets_refused: int

    @property
    def connections_refused(self) -> int: ...

    async def revoked(self, token_id: str) -> None: ...

    async def sessions_ended(self, user_id: int) -> None: ...


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
        return cast(Handler, checked)

    return decorate


class AppMixin:
    application: tornado.web.Application
    request: tornado.httputil.HTTPServerRequest

    # Cached: a controller's every message reads them, and they never change while a handler lives.
    @functools.cached_property
    def app(self) -> Services:
        return cast(Services, self.application)

    @functools.cached_property
    def config(self) -> Settings:
        return self.app.config

    @functools.cached_property
    def db(self) -> momoko.Pool:
        return self.app.db

    @functools.cached_property
    def ingest(self) -> IngestQueue:
        return self.app.ingest

    # Tornado's own log lines name the request by its URI, and ours carry tokens in the query.
    def _request_summary(self) -> str:
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)  # type: ignore[misc]
        else:
            log.error("uncaught exception in %s", self._request_summary(), exc_info=(typ, value, tb))


@tornado.web.stream_request_body
class ApiHandler(AppMixin, tornado.web.RequestHandler):
    """JSON in and out; errors always as {"error": {"code", "message", "details"}}.

    Bodies arrive through data_received, so that one the headers already say is too large is
    answered 413 before it is read (and then read and dropped, see refuse_declared_body).
    """

    def initialize(self) -> None:
        self.current_user: Principal | None = None
        self.refusal: str | None = None
        self._body = bytearray()
        self._body_too_large = False

    def authentication_required(self) -> bool:
        return True

    @property
    def principal(self) -> Principal:
        """The caller of a method that @allow let in."""
        if self.current_user is None:
            raise ApiError(401, self.refusal or "missing token")
        return self.current_user

    @property
    def actor(self) -> str:
        """Who the activity log says did it: the token's subject (a signed-in user's e-mail address)."""
        return self.principal.subject

    async def record(self, action: str, subject: str | None, **details: Any) -> None:
        """Note a change in the activity log."""
        await activity.record(self.db, self.actor, action, subject, **details)

    async def prepare(self) -> None:
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdecimal() and int(declared) > self.config.max_message_size:
            self.refuse_declared_body(int(declared))
        if "chunked" in self.request.headers.get("Transfer-Encoding", "").lower():
            # No length to judge by: data_received counts, and a method refuses it with 413 once it is in.
            self._allow_body_up_to(DRAIN_LIMIT_FACTOR * self.config.max_message_size)
        # Reads the bearer token once, before any method; methods declare roles with @allow.
        if not self.authentication_required():
            return
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.refusal = "missing bearer token"
            return
        try:
            self.current_user = await check_token(self.db, self.config.jwt_secret, token.strip())
        except TokenError as error:
            self.refusal = str(error)
        except UNAVAILABLE:
            raise ApiError(503, "database unavailable; try again later") from None

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")

    def data_received(self, chunk: bytes) -> None:
        if self._body_too_large or self._finished:
            return  # answered already: what is left of it is read and dropped
        if len(self._body) + len(chunk) > self.config.max_message_size:
            self._body_too_large = True  # a body without Content-Length; refused when a method reads it
            self._body.clear()
            return
        self._body += chunk

    def body(self) -> bytes:
        """The request body; 413 if it was larger than WS_MAX_MESSAGE_SIZE."""
        if self._body_too_large:
            raise ApiError(413, f"request body is larger than {self.config.max_message_size} bytes")
        return bytes(self._body)

    def refuse_declared_body(self, declared: int) -> None:
        """Answer 413, and read the body anyway (dropping it) if it is not absurdly large: a server that
        closes with unread bytes resets the connection, and the client may never see the answer."""
        if declared <= DRAIN_LIMIT_FACTOR * self.config.max_message_size:
            self._allow_body_up_to(declared)
        raise ApiError(413, f"request body is larger than {self.config.max_message_size} bytes")

    def _allow_body_up_to(self, size: int) -> None:
        """Let the connection read this much of the body (it closes past the server's max_body_size)."""
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.set_max_body_size(size)

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

    def time_argument(self, name: str) -> datetime | None:
        """An ISO-8601 query argument with Z or an offset, in UTC; 400 naming it otherwise."""
        text = self.get_query_argument(name, None)
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise ValueError("no offset")
            # In UTC before PostgreSQL sees it: it refuses offsets Python accepts (beyond 15:59).
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            raise ApiError(400, f"invalid {name}", {name: "an ISO-8601 time with Z or an offset"}) from None

    def bool_argument(self, name: str) -> bool:
        """A true/false query argument (absent: false); 400 naming it otherwise."""
        text = self.get_query_argument(name, "false").lower()
        if text not in ("true", "false", "1", "0"):
            raise ApiError(400, f"invalid {name}", {name: "true or false"})
        return text in ("true", "1")

    def json_body(self, required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
        """The request body as a JSON object with these fields of these types; 400 naming each bad one."""
        try:
            body = json.loads(self.body() or b"null")
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

    async def stream_csv(self, filename: str, header: Sequence[str],
                         chunks: AsyncIterator[list[tuple[Any, ...]]]) -> None:
        """A CSV download written chunk by chunk as the database yields it."""
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.write(_csv([header]))
        async for rows in chunks:
            self.write(_csv(rows))
            await self.flush()  # waits until the client has taken it: memory stays one chunk
        self.finish()

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


def _csv(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL, the port made explicit; None if it is not one."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


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


class SocketHandler(AppMixin, OriginCheckedByUs, tornado.websocket.WebSocketHandler):
    """A WebSocket endpoint: origin allow-list, token check before registration, a FrameWriter per peer.

    Each endpoint subclass owns the registry of its open connections (see `connected`); the class
    methods here act on every endpoint at once, so feature modules need no endpoint's module.
    """

    endpoints: ClassVar[list[type[SocketHandler]]] = []  # every subclass, as it is defined
    kind: ClassVar[str]  # what its peers are called in counts, e.g. "subscribers"
    allowed_roles: ClassVar[tuple[str, ...] | None] = None  # roles that may connect; None: any valid token
    accepts_tickets: ClassVar[bool] = False  # `?ticket=` (models/tokens.py) instead of `?token=`

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        SocketHandler.endpoints.append(cls)

    def token_required(self) -> bool:
        return True

    async def get(self, *args: Any, **kwargs: Any) -> None:
        # Behind a proxy the server sees one address for everyone, so the cap per client applies here,
        # by the forwarded address, before the upgrade.
        cap = self.config.max_connections_per_address
        if self.config.behind_proxy and cap:
            address = self.request.remote_ip
            if sum(1 for peer in SocketHandler.connected() if peer.request.remote_ip == address) >= cap:
                self.app.sockets_refused += 1
                self.app.metrics.connections_refused.inc()
                raise tornado.web.HTTPError(503, "too many connections from %s", address)
        await super().get(*args, **kwargs)

    def get_websocket_protocol(self) -> tornado.websocket.WebSocketProtocol | None:
        return masked_frames_only(super().get_websocket_protocol(), self)

    def initialize(self) -> None:
        self.current_user: Principal | None = None
        self.refusal: str | None = None
        self.refusal_code = POLICY_VIOLATION
        self.writer = FrameWriter(self)
        self._expiry: object | None = None  # the timer that closes the socket when its token expires

    async def prepare(self) -> None:
        # Decided before the upgrade but enforced in open(): a browser sees a close code,
        # never an HTTP status, so the refusal has to travel as a WebSocket close.
        ticket = self.get_query_argument("ticket", None) if self.accepts_tickets else None
        if ticket is None and not self.token_required():
            return
        try:
            secret = self.config.jwt_secret
            principal = await (redeem_stream_ticket(self.db, secret, ticket) if ticket is not None
                               else check_token(self.db, secret, self.get_query_argument("token", None)))
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
        """A snapshot of the open connections: an endpoint's own (each overrides this with its registry),
        or on SocketHandler every endpoint's."""
        if cls is not SocketHandler:
            raise NotImplementedError(f"{cls.__name__} must say where its connections are")
        return [peer for endpoint in cls.endpoints for peer in endpoint.connected()]

    @classmethod
    def counts(cls) -> dict[str, int]:
        """Open connections per endpoint, by kind: {"subscribers": 3, "controllers": 1}."""
        return {endpoint.kind: len(endpoint.connected()) for endpoint in cls.endpoints}

    @classmethod
    def close_all(cls) -> None:
        for peer in cls.connected():
            peer.close(GOING_AWAY, "server shutting down")

    @classmethod
    def held_token_ids(cls) -> set[str]:
        return {peer.current_user.token_id for peer in cls.connected() if peer.current_user is not None}

    @classmethod
    def close_revoked(cls, token_id: str) -> None:
        """Close the sockets of a revoked token, or (for "user:<id>") of every token of that user."""
        user = token_id.removeprefix(USER_SESSIONS)
        user_id = int(user) if user != token_id and user.isdecimal() else None
        for peer in cls.connected():
            principal = peer.current_user
            if principal is None:
                continue
            if principal.token_id == token_id:
                peer.close(POLICY_VIOLATION, "token revoked")
            elif user_id is not None and principal.user_id == user_id:
                peer.close(POLICY_VIOLATION, "the user's sessions were ended; sign in again")

    def refuse_unauthorized(self) -> bool:
        """Close with 1008 if the token was refused; True when the connection is being closed. Otherwise
        the socket is closed (1008) when its token expires: a session's socket ends with the session."""
        if self.refusal is None:
            if self.current_user is not None:
                self._expiry = IOLoop.current().call_later(max(0.0, self.current_user.expires_at - time.time()),
                                                           self._expired)
            return False
        log.info("%s refused %s: %s", self.request.path, self.request.remote_ip, self.refusal)
        self.close(self.refusal_code, self.refusal)
        return True

    def _expired(self) -> None:
        self._expiry = None
        if self.ws_connection is not None and not self.ws_connection.is_closing():
            self.close(POLICY_VIOLATION, "token expired")

    def on_connection_close(self) -> None:
        if self._expiry is not None:  # a timer left would hold this handler until the token expires
            IOLoop.current().remove_timeout(self._expiry)
            self._expiry = None
        super().on_connection_close()

    def check_origin(self, origin: str) -> bool:
        theirs = origin_of(origin)
        # The page's own origin (scheme, host and port), but only under a name nobody else can give us:
        # a DNS-rebinding page sends a matching Host and Origin for a name its owner controls.
        ours = origin_of(f"{self.request.protocol}://{self.request.host}")
        if theirs is not None and theirs == ours and self._is_our_name(theirs[1]):
            return True
        # Behind a proxy the Host header may lack the public port, so the public URL counts as our own.
        known = {origin_of(url) for url in (*self.config.allowed_origins, self.config.public_url) if url}
        if theirs is not None and theirs in known:
            return True
        log.warning("refused WebSocket from origin %s; add it to ALLOWED_ORIGINS (or set PUBLIC_URL) to allow it",
                    origin[:200])
        return False

    def _is_our_name(self, host: str) -> bool:
        if host in ("localhost", self.config.host.lower()):
            return True
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return True

    def peer(self) -> str:
        who = self.current_user.subject if self.current_user else "anonymous"
        return f"{who}@{self.request.remote_ip}"
