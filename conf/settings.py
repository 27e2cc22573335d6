"""Every setting of the server: its environment variable, type, default and meaning, in one place."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
API_PAGE_LIMIT = 1000  # most rows one API request returns; the dashboard loads a chart's history in one


class SettingsError(ValueError):
    """A setting has a value the server cannot run with; the message names the variable."""


def _setting(env: str, default: Any, meaning: str) -> Any:
    return field(default=default, metadata={"env": env, "meaning": meaning})


@dataclass(frozen=True)
class Settings:
    env: str = _setting("WEBMACS_ENV", "development", "`development` or `production` (production demands a strong JWT_SECRET).")
    host: str = _setting("HOST", "127.0.0.1", "Address the server listens on.")
    port: int = _setting("PORT", 8000, "TCP port the server listens on.")
    public_url: str = _setting("PUBLIC_URL", "", "How browsers reach the server, e.g. `https://telemetry.example.org`; empty: the address the page was loaded from.")
    behind_proxy: bool = _setting("BEHIND_PROXY", False, "`1` when a reverse proxy (nginx) is in front: client addresses and scheme are then taken from its `X-Forwarded-For`/`X-Forwarded-Proto` headers, which are ignored otherwise.")
    database_url: str = _setting("DATABASE_URL", "", "PostgreSQL URL; empty starts the embedded server under `var/pgdata`.")
    jwt_secret: str = _setting("JWT_SECRET", "", "HS256 signing key for tokens; empty in development keeps a generated one in `var/jwt-secret`.")
    heartbeat_interval: float = _setting("WS_HEARTBEAT_INTERVAL", 30.0, "Seconds between WebSocket pings; a peer that does not answer within one interval is dropped. 0 disables.")
    max_message_size: int = _setting("WS_MAX_MESSAGE_SIZE", 1024 * 1024, "Largest inbound WebSocket message (larger ones close the connection, 1009) or API request body (413), in bytes.")
    stream_require_token: bool = _setting("STREAM_REQUIRE_TOKEN", False, "`1` makes `/ws/datapoints/stream` require a valid token or stream ticket of any role (the production profile sets it; the open stream, as the spec shows it, stays the development default).")
    allowed_origins: tuple[str, ...] = _setting("ALLOWED_ORIGINS", (), "Comma-separated browser origins allowed on the WebSockets besides the server's own.")
    subscriber_buffer_limit: int = _setting("SUBSCRIBER_BUFFER_LIMIT", 1024 * 1024, "Bytes queued for one stream subscriber before it is cut off as too slow (1013).")
    subscriber_stall_timeout: float = _setting("SUBSCRIBER_STALL_TIMEOUT", 5.0, "Seconds the oldest data waiting for a stream subscriber may age before it is cut off as stalled (1013).")
    controller_window: int = _setting("CONTROLLER_WINDOW", 5000, "Readings one controller may have waiting for the database before the server stops reading from it.")
    http_idle_timeout: float = _setting("HTTP_IDLE_TIMEOUT", 60.0, "Seconds an HTTP connection may stay silent, between requests or while its headers arrive, before it is closed (WebSockets are exempt: heartbeats watch them).")
    http_body_timeout: float = _setting("HTTP_BODY_TIMEOUT", 60.0, "Seconds a request body may take to arrive in full before the connection is closed.")
    max_connections: int = _setting("MAX_CONNECTIONS", 0, "Most connections (HTTP and WebSocket) open at once; more get 503. 0: the file descriptor limit less 128 kept for the database and files.")
    max_connections_per_address: int = _setting("MAX_CONNECTIONS_PER_ADDRESS", 256, "Most connections open at once from one client address (behind a proxy: WebSockets per forwarded address); more get 503. 0: no cap.")
    log_level: str = _setting("LOG_LEVEL", "INFO", "`DEBUG`, `INFO`, `WARNING` or `ERROR`: the least severe log lines written.")
    access_log: bool = _setting("ACCESS_LOG", False, "`1` logs every HTTP request at INFO; `0` logs only those answered 4xx (WARNING) or 5xx (ERROR), which are always logged.")
    datapoint_retention_days: float = _setting("DATAPOINT_RETENTION_DAYS", 0.0, "Readings recorded longer ago than this many days are removed, at start and hourly (readings of an experiment are kept while it exists). 0: keep forever.")
    experiment_retention_days: float = _setting("EXPERIMENT_RETENTION_DAYS", 0.0, "Readings of an experiment recorded longer ago than this many days are removed too. 0: keep them while the experiment exists.")
    rollup_retention_days: float = _setting("ROLLUP_RETENTION_DAYS", 0.0, "Per-minute and per-hour rollups (what history charts read) older than this many days are removed; they may outlive the raw readings. 0: keep forever.")
    db_pool_size: int = _setting("DB_POOL_SIZE", 4, "Most PostgreSQL connections the server holds.")
    broadcast_across_processes: bool = _setting("BROADCAST_ACROSS_PROCESSES", False, "`1` when several server processes share the database (an upstream with several backends): each one relays the datapoints the others store to its own stream subscribers, through PostgreSQL LISTEN/NOTIFY.")
    webhook_retry_seconds: float = _setting("WEBHOOK_RETRY_SECONDS", 3600.0, "Webhooks: how long after a happening its delivery is retried (with exponential backoff, up to 5 minutes apart) before it is marked failed.")
    webhook_backoff: float = _setting("WEBHOOK_BACKOFF", 2.0, "Webhooks: seconds before the first retry of a failed delivery; each further wait doubles.")
    webhook_timeout: float = _setting("WEBHOOK_TIMEOUT", 10.0, "Webhooks: seconds a receiver has to connect and answer before the attempt counts as failed.")
    reconnect_base: float = _setting("FRONTEND_RECONNECT_BASE", 1.0, "Dashboard: wait before its first stream reconnect, in seconds; doubles for each further attempt (each wait is randomized between half and all of it).")
    reconnect_cap: float = _setting("FRONTEND_RECONNECT_CAP", 8.0, "Dashboard: longest wait between stream reconnects, in seconds.")
    reconnect_attempts: int = _setting("FRONTEND_RECONNECT_ATTEMPTS", 3, "Dashboard: stream reconnects before it falls back to polling the HTTP API.")
    poll_interval: float = _setting("FRONTEND_POLL_INTERVAL", 2.0, "Dashboard: seconds between polls while the stream is unavailable.")
    stream_retry: float = _setting("FRONTEND_STREAM_RETRY", 15.0, "Dashboard: seconds between tries to get the stream back while polling.")
    chart_points: int = _setting("FRONTEND_CHART_POINTS", 1000, "Dashboard: readings a Live chart draws as points per event before older ones fold into 2-second buckets (at most 1000).")
    var_dir: Path = _setting("WEBMACS_VAR_DIR", ROOT / "var", "Where the embedded database, the development secret and run state live.")
    refuse_stream: bool = _setting("WEBMACS_TEST_REFUSE_STREAM", False, "For tests and demos: `1` refuses every `/ws/datapoints/stream` upgrade (503), so dashboards fall back to polling.")

    @property
    def production(self) -> bool:
        return self.env == "production"


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) rows, for `app.py settings` and the README table."""
    return [(f.metadata["env"], _show(f.default), f.metadata["meaning"]) for f in dataclasses.fields(Settings)]


def load(environ: Mapping[str, str] = os.environ, **overrides: Any) -> Settings:
    """Settings from the environment; raises SettingsError naming the first bad variable."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = environ.get(f.metadata["env"])
        if raw is not None and raw.strip() != "":
            values[f.name] = _parse(f.metadata["env"], f.type, raw.strip())
    settings = dataclasses.replace(Settings(**values), **overrides)
    _check(settings)
    return settings


def with_jwt_secret(settings: Settings) -> Settings:
    """Fill in the development secret, kept under var/ so tokens survive restarts."""
    if settings.jwt_secret:
        return settings
    if settings.production:
        raise SettingsError(
            f"JWT_SECRET must be set in production (at least {MIN_SECRET_LENGTH} characters; "
            "for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    path = settings.var_dir / "jwt-secret"
    if not path.exists():
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not end up with different secrets.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as secret_file:
                secret_file.write(secrets.token_urlsafe(48))
    return dataclasses.replace(settings, jwt_secret=path.read_text().strip())


def _parse(env: str, kind: Any, raw: str) -> Any:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise SettingsError(f"{env} must be {'an integer' if kind == 'int' else 'a number'}, got {raw!r}") from None
    if kind == "Path":
        return Path(raw)
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{env} must be 1 or 0, got {raw!r}")
    if kind == "tuple[str, ...]":
        return tuple(item.strip().rstrip("/") for item in raw.split(",") if item.strip())
    return raw


def _check(settings: Settings) -> None:
    if settings.env not in ("development", "production"):
        raise SettingsError(f"WEBMACS_ENV must be development or production, got {settings.env!r}")
    if not 0 < settings.port < 65536:
        raise SettingsError(f"PORT must be between 1 and 65535, got {settings.port}")
    if settings.subscriber_stall_timeout <= 0:
        raise SettingsError("SUBSCRIBER_STALL_TIMEOUT must be a positive number of seconds")
    if settings.log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {settings.log_level!r}")
    for name, env in (("datapoint_retention_days", "DATAPOINT_RETENTION_DAYS"),
                      ("experiment_retention_days", "EXPERIMENT_RETENTION_DAYS"),
                      ("rollup_retention_days", "ROLLUP_RETENTION_DAYS")):
        if getattr(settings, name) < 0:
            raise SettingsError(f"{env} must be 0 (keep forever) or a positive number of days")
    for name, env in (("max_connections", "MAX_CONNECTIONS"), ("max_connections_per_address",
                                                               "MAX_CONNECTIONS_PER_ADDRESS")):
        if getattr(settings, name) < 0:
            raise SettingsError(f"{env} must be 0 (see its meaning) or a positive number")
    for name, env in (("http_idle_timeout", "HTTP_IDLE_TIMEOUT"), ("http_body_timeout", "HTTP_BODY_TIMEOUT")):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{env} must be a positive number of seconds")
    if settings.heartbeat_interval < 0:
        raise SettingsError("WS_HEARTBEAT_INTERVAL must be 0 (off) or a positive number of seconds")
    for name, env in (("max_message_size", "WS_MAX_MESSAGE_SIZE"), ("subscriber_buffer_limit", "SUBSCRIBER_BUFFER_LIMIT"),
                      ("controller_window", "CONTROLLER_WINDOW"), ("db_pool_size", "DB_POOL_SIZE")):
        if getattr(settings, name) < 1:
            raise SettingsError(f"{env} must be at least 1")
    if settings.jwt_secret and settings.production and len(settings.jwt_secret) < MIN_SECRET_LENGTH:
        raise SettingsError(f"JWT_SECRET is too short for production: use at least {MIN_SECRET_LENGTH} random characters")
    if settings.public_url:
        _check_public_url(settings.public_url)
    for name, env in (("reconnect_base", "FRONTEND_RECONNECT_BASE"), ("reconnect_cap", "FRONTEND_RECONNECT_CAP"),
                      ("poll_interval", "FRONTEND_POLL_INTERVAL"), ("stream_retry", "FRONTEND_STREAM_RETRY")):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{env} must be a positive number of seconds")
    if settings.reconnect_cap < settings.reconnect_base:
        raise SettingsError("FRONTEND_RECONNECT_CAP must not be shorter than FRONTEND_RECONNECT_BASE")
    if settings.reconnect_attempts < 1:
        raise SettingsError("FRONTEND_RECONNECT_ATTEMPTS must be at least 1")
    if not 1 <= settings.chart_points <= API_PAGE_LIMIT:
        raise SettingsError(f"FRONTEND_CHART_POINTS must be between 1 and {API_PAGE_LIMIT}")
    for origin in settings.allowed_origins:
        if "://" not in origin:
            raise SettingsError(f"ALLOWED_ORIGINS entries look like https://example.org, got {origin!r}")


def _check_public_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        _ = parts.port  # raises on a port that is not a number in range
        port_ok = True
    except ValueError:
        port_ok = False
    if not port_ok or parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise SettingsError(f"PUBLIC_URL must look like https://telemetry.example.org[:port], got {url!r}")


def _show(default: Any) -> str:
    if isinstance(default, Path):
        return "var" if default == ROOT / "var" else str(default)
    if isinstance(default, bool):
        return "1" if default else "0"
    if isinstance(default, tuple):
        return ",".join(default)
    return str(default)
