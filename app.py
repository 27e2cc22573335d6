"""WebMACS: the Tornado application and its command line (`python app.py --help`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import getpass
import json
import logging
import os
import resource
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import momoko
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.httputil import url_concat

import handlers.activity
import handlers.alarms
import handlers.auth
import handlers.commands
import handlers.controllers
import handlers.datapoints
import handlers.docs
import handlers.events
import handlers.experiments
import handlers.health
import handlers.metrics
import handlers.pages
import handlers.stream
import handlers.telemetry
import handlers.users
import handlers.webhooks
from conf import profiles
from conf import settings as config
from conf.rendering import render_frontend_env, render_nginx, render_systemd, write_output
from conf.settings import Settings, SettingsError
from handlers.base import USER_SESSIONS, NotFoundHandler, SocketHandler
from handlers.stream import StreamHandler
from handlers.throttle import LoginThrottle
from handlers.wire import ConnectionCaps, GuardedHTTPServer
from models import (
    activity,
    backup,
    controllers,
    database,
    events,
    presence,
    retention,
    revocations,
    roles,
    sessions,
    tokens,
    users,
)
from models.commands import CommandDesk
from models.evaluator import AlarmEvaluator
from models.ingest import IngestQueue
from models.metrics import Metrics
from models.presence import PresenceBoard
from models.relay import Relay
from models.revocations import RevocationListener
from models.status import StatusWatcher
from models.webhooks import Dispatcher, Guard

log = logging.getLogger("webmacs")
PURGE_INTERVAL = 3600.0  # seconds between retention purges
FD_RESERVE = 128  # descriptors kept for the pool, the relay, logs and files when MAX_CONNECTIONS is 0
FD_LIMIT_WITHOUT_HARD_LIMIT = 1 << 20
FIRST_ADMIN = "admin@localhost"

HANDLER_MODULES = (handlers.telemetry, handlers.stream, handlers.health, handlers.metrics, handlers.auth,
                   handlers.datapoints, handlers.events, handlers.experiments, handlers.controllers, handlers.commands,
                   handlers.alarms, handlers.webhooks, handlers.activity, handlers.users, handlers.docs,
                   handlers.pages)


class WebMACS(tornado.web.Application):
    """The application: settings, the pool, the ingest queue and the relay, shared by every handler.

    `start()` and `stop()` own its lifecycle; `serve()` and the tests call the same two.
    """

    def __init__(self, settings: Settings, db: momoko.Pool, database_url: str) -> None:
        self.config = settings
        self.db = db
        self.metrics = Metrics()
        broadcast = functools.partial(StreamHandler.broadcast, deliveries=self.metrics.deliveries)
        self.relay = (Relay(database_url, db, deliver=broadcast, delay_seen=self.metrics.relay_delay.observe)
                      if settings.broadcast_across_processes else None)
        self.webhook_guard = Guard(settings.port, database_url)
        self.webhooks = Dispatcher(db, self.webhook_guard, settings.webhook_retry_seconds, settings.webhook_backoff,
                                   settings.webhook_timeout)
        self.alarms = AlarmEvaluator(database_url, db, on_alarm=StreamHandler.broadcast_alarm,
                                     on_deliveries=self.webhooks.wake)

        def committed(datapoints: list[dict[str, Any]]) -> None:
            broadcast(datapoints)
            self.alarms.observe(datapoints)  # what this process stored; other processes check their own

        self.ingest = IngestQueue(db, on_committed=committed, metrics=self.metrics,
                                  announce=None if self.relay is None else self.relay.published)
        # Always on (one connection): a revocation by another process or by `app.py controller revoke`
        # closes this process's sockets too.
        self.presence = PresenceBoard(db, settings.heartbeat_interval)
        self.status = StatusWatcher(db, self.presence.expiry, send=StreamHandler.broadcast_status,
                                    wanted=StreamHandler.status_wanted)
        self.revocations = RevocationListener(database_url, db, close=SocketHandler.close_revoked,
                                              held_token_ids=SocketHandler.held_token_ids)
        self.commands = CommandDesk(database_url, db)
        self.login_throttle = LoginThrottle()
        self.subscribers_cut_off = 0
        self.sockets_refused = 0  # WebSocket upgrades over the per-address cap behind a proxy
        self.last_purge: retention.PurgeResult | None = None
        self._stopping = asyncio.Event()
        self._purging: asyncio.Future[None] | None = None
        self._servers: list[GuardedHTTPServer] = []
        routes = [route for module in HANDLER_MODULES for route in module.default_handlers]
        super().__init__(
            routes,
            websocket_ping_interval=settings.heartbeat_interval,
            websocket_ping_timeout=settings.heartbeat_interval,
            websocket_max_message_size=settings.max_message_size,
            log_function=log_request,
            access_log=settings.access_log,
            default_handler_class=NotFoundHandler,
        )

    def listen(self, port: int, address: str | None = None, **kwargs: Any) -> HTTPServer:
        caps = ConnectionCaps(self.config.max_connections or connection_budget(),
                              self.config.max_connections_per_address, refused=self.metrics.connections_refused.inc)
        server = GuardedHTTPServer(self, caps=caps, per_address=not self.config.behind_proxy, **kwargs)
        server.listen(port, address or "")
        self._servers.append(server)  # stop() stops accepting on it
        return server

    @property
    def connections_refused(self) -> int:
        """Connections refused with 503 for being over MAX_CONNECTIONS or MAX_CONNECTIONS_PER_ADDRESS."""
        return sum(server.caps.refused for server in self._servers) + self.sockets_refused

    async def start(self) -> None:
        if self.relay is not None:
            await self.relay.start(settled=self.ingest.written)
        await self.revocations.start()
        await self.commands.start()
        await self.alarms.start()
        self.webhooks.start()
        self.presence.start()
        self.status.start()
        self._purging = asyncio.ensure_future(self._purge_regularly())

    async def stop(self) -> None:
        """Stop accepting, close every socket (1001), store what was received, then stop relaying."""
        self._stopping.set()
        for server in self._servers:
            server.stop()
        SocketHandler.close_all()
        await self.ingest.drain()
        if self._purging is not None:
            await self._purging  # ends after the batch it is on
        if self.relay is not None:
            await self.relay.stop()
        await self.revocations.stop()
        await self.commands.stop()
        await self.alarms.stop()
        await self.webhooks.stop()
        await self.presence.stop()
        await self.status.stop()

    async def revoked(self, token_id: str) -> None:
        """A token was revoked: close its sockets here now, and have every other process close its own."""
        SocketHandler.close_revoked(token_id)
        await revocations.announce(self.db, token_id)

    async def sessions_ended(self, user_id: int) -> None:
        """A user was deleted, or given another role or password: their sockets close, on every process
        (their tokens are refused from now on by check_token)."""
        await self.revoked(f"{USER_SESSIONS}{user_id}")

    async def _purge_regularly(self) -> None:
        """Retention: a purge at start, then every PURGE_INTERVAL, until stop()."""
        config = self.config
        while not self._stopping.is_set():
            try:
                self.last_purge = await retention.purge(self.db, config.datapoint_retention_days,
                                                        config.experiment_retention_days, config.rollup_retention_days,
                                                        stopping=self._stopping.is_set)
                await sessions.forget_unused(self.db)
            except database.UNAVAILABLE as error:
                log.warning("retention could not run: %s", database.one_line(error))
            except Exception:
                log.exception("retention failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), PURGE_INTERVAL)


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, without the query string: it carries tokens. Successful requests only
    with ACCESS_LOG: every dashboard poll is one."""
    status = handler.get_status()
    if status < 400 and not handler.application.settings["access_log"]:
        return
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    logging.getLogger("tornado.access").log(
        level, "%d %s %s (%s) %.1fms", status, handler.request.method, handler.request.path,
        handler.request.remote_ip, 1000.0 * handler.request.request_time(),
    )


# --- commands -------------------------------------------------------------------------------

def raise_fd_limit() -> None:
    """Take all the file descriptors the hard limit allows: every connection is one, and the usual
    soft limit (1,024) is far below what a server needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, FD_LIMIT_WITHOUT_HARD_LIMIT)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as error:
            log.warning("could not raise the file descriptor limit from %d: %s", soft, error)
            wanted = soft
    log.info("file descriptors: soft limit %d (was %d), hard limit %s", wanted, soft,
             "unlimited" if hard == resource.RLIM_INFINITY else hard)


def connection_budget() -> int:
    """MAX_CONNECTIONS when it is 0: the descriptors left after those kept for the database and files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, soft - FD_RESERVE)


async def serve(settings: Settings, url: str) -> None:
    raise_fd_limit()
    db = await database.connect_pool(url, settings.db_pool_size)
    await database.migrate(db)
    await _first_admin(db)
    app = WebMACS(settings, db, url)
    await app.start()
    # Bodies past the API's limit get a JSON 413 from ApiHandler; far past it, the server stops reading.
    # xheaders only behind a proxy: from anyone else, X-Forwarded-For would let a client pick its own
    # address (and so dodge the login throttle).
    try:
        # Tornado's own defaults wait an hour for headers and forever for a body: a client that
        # trickles or stalls would hold its connection that long.
        app.listen(settings.port, settings.host, max_body_size=4 * settings.max_message_size,
                   xheaders=settings.behind_proxy, idle_connection_timeout=settings.http_idle_timeout,
                   body_timeout=settings.http_body_timeout)
    except OSError as error:
        await app.stop()  # its background work (retention, delivery, presence) ends before the process does
        db.close()
        raise OSError(error.errno, f"cannot listen on {settings.host}:{settings.port}: {error.strerror} "
                                   "(is another server running? PORT chooses another port)") from None
    log.info("serving on http://%s:%d (database %s)", settings.host, settings.port, database.redact(url))
    _welcome_once(settings)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()

    log.info("shutting down")
    await app.stop()
    db.close()


async def _first_admin(db: momoko.Pool) -> None:
    """On an empty database, create an admin and show its password this once."""
    if await users.count_users(db):
        return
    password = secrets.token_urlsafe(18)
    try:
        await users.add_user(db, FIRST_ADMIN, password, "admin")
    except users.DuplicateUser:
        return  # another server process created it first
    print(f"\nCreated the first user: {FIRST_ADMIN} (role admin), password: {password}\n"
          "It is shown only now. Add others with: .venv/bin/python app.py user add EMAIL --role ROLE\n", flush=True)


def _welcome_once(settings: Settings) -> None:
    marker = settings.var_dir / "welcomed"
    if marker.exists():
        return
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"\nWebMACS is running. The dashboard will be at {base}/ ; health at {base}/healthz\n"
        "To see data flowing, in another terminal:\n"
        '  .venv/bin/python app.py event add evt_temp01 --name "Inlet temperature" --unit "°C"\n'
        '  TOKEN=$(.venv/bin/python app.py controller add "Rig 1" --prefix evt_)\n'
        f"  .venv/bin/python app.py simulate --url {base.replace('http', 'ws', 1)} --token $TOKEN"
        " --events evt_temp01\n",
        flush=True,
    )
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    marker.touch()


async def _with_pool(url: str, work: Any) -> Any:
    db = await database.connect_pool(url, 1)
    try:
        return await work(db)
    finally:
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it narrates every start at INFO
    if args.command == "settings":
        for env, default, meaning in config.describe():
            print(f"{env:28} {default or '(empty)':12} {meaning}")
        return 0
    try:
        settings = profiles.settings_for(getattr(args, "conf", None), os.environ, **_overrides(args))
        if args.command == "render":
            return _render(args, settings)
        settings = config.with_jwt_secret(settings)
        logging.getLogger().setLevel(settings.log_level)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    if args.command == "token":
        print(tokens.issue_token(settings.jwt_secret, args.subject, args.role, args.ttl))
        return 0
    if args.command == "simulate":
        from controller.simulator import run_simulator
        if not args.url.startswith(("ws://", "wss://")):
            print(f"error: --url must start with ws:// or wss://, got {args.url!r}", file=sys.stderr)
            return 2
        url = url_concat(args.url.rstrip("/") + "/ws/controller/telemetry", {"token": args.token})
        return asyncio.run(run_simulator(url, args.events.split(","), args.rate, args.batch))

    url = database.resolve_url(settings.database_url, settings.var_dir)
    try:
        return _run_database_command(args, settings, url)
    except backup.BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except database.UNAVAILABLE as error:
        print(f"error: cannot reach the database at {database.redact(url)}: {error}".strip(), file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {error.strerror or error}", file=sys.stderr)
        return 1
    except Exception as error:
        # One line, never a traceback: PostgreSQL's DETAIL (the second line on) can quote a row,
        # a password hash included.
        log.debug("command failed", exc_info=True)
        print(f"error: {type(error).__name__}: {database.first_line(error)}", file=sys.stderr)
        return 1



def _run_database_command(args: argparse.Namespace, settings: Settings, url: str) -> int:
    if args.command == "serve":
        asyncio.run(serve(settings, url))
    elif args.command == "purge":
        result = asyncio.run(_with_pool(url, lambda db: retention.purge(
            db, settings.datapoint_retention_days, settings.experiment_retention_days,
            settings.rollup_retention_days)))
        print(json.dumps(result.as_json()))
    elif args.command == "migrate":
        applied = asyncio.run(_with_pool(url, database.migrate))
        print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    elif args.command == "backup":
        print(backup.backup(url, args.output, force=args.force))
    elif args.command == "restore":
        print(backup.restore(url, args.file, force=args.force), flush=True)
        applied = asyncio.run(_with_pool(url, database.migrate))  # brings an older backup up to date
        print("then applied: " + ", ".join(applied) if applied else "schema is up to date")
    elif args.command == "event":
        if args.action == "list":
            for event in asyncio.run(_with_pool(url, events.list_events)):
                print(json.dumps(event, ensure_ascii=False))
            return 0
        event = asyncio.run(_with_pool(url, lambda db: events.upsert_event(
            db, args.public_id, name=args.name or args.public_id, unit=args.unit, type=args.type,
            stale_after=args.stale_after, group=args.group)))
        print(json.dumps(event, ensure_ascii=False))
    elif args.command == "controller":
        return _controller_command(args, settings, url)
    elif args.command == "user":
        return _user_command(args, url)
    return 0


def _user_command(args: argparse.Namespace, url: str) -> int:
    """`user add|list|set-role|reset-password|delete`; each change is in the activity log, by the command line."""
    if args.action == "list":
        for user in asyncio.run(_with_pool(url, users.list_users)):
            print(json.dumps(user))
        return 0
    if not users.EMAIL.match(args.email.strip()):
        print(f"error: {args.email!r} is not an e-mail address", file=sys.stderr)
        return 2
    password = ""
    if args.action == "add":
        password = os.environ.get("WEBMACS_PASSWORD", "")
        if not password and not sys.stdin.isatty():
            print("error: no password: set WEBMACS_PASSWORD, or run this in a terminal to be asked", file=sys.stderr)
            return 2
        password = password or getpass.getpass(f"Password for {args.email}: ")
        if len(password) < users.MIN_PASSWORD:
            print(f"error: the password needs at least {users.MIN_PASSWORD} characters", file=sys.stderr)
            return 2

    async def change(db: momoko.Pool) -> tuple[dict[str, Any] | None, str | None]:
        if args.action == "add":
            added = await users.add_user(db, args.email, password, args.role)
            await activity.record(db, activity.COMMAND_LINE, "user.added", added["email"], role=added["role"])
            return added, None
        user = await users.get_user(db, email=args.email)
        if user is None:
            return None, None
        one_time = None
        if args.action == "set-role":
            changed = await users.set_role(db, user["id"], args.role)
            await activity.record(db, activity.COMMAND_LINE, "user.role_changed", user["email"], role=args.role,
                                  was=user["role"])
        elif args.action == "reset-password":
            one_time = users.one_time_password()
            changed = await users.set_password(db, user["id"], one_time, one_time=True)
            await activity.record(db, activity.COMMAND_LINE, "user.password_reset", user["email"])
        else:
            changed = await users.delete_user(db, user["id"])
            await activity.record(db, activity.COMMAND_LINE, "user.deleted", user["email"])
        await revocations.announce(db, f"{USER_SESSIONS}{user['id']}")  # running servers close their sockets
        return changed, one_time

    try:
        user, one_time = asyncio.run(_with_pool(url, change))
    except (users.DuplicateUser, users.LastAdmin) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if user is None:
        print(f"error: no user {args.email}", file=sys.stderr)
        return 1
    if one_time is not None:
        print(f"a one-time password for {user['email']} follows; it must be changed at the first sign-in",
              file=sys.stderr)
        print(one_time)
    else:
        print(json.dumps(user))
    return 0


def _controller_command(args: argparse.Namespace, settings: Settings, url: str) -> int:
    if args.action == "add":
        try:
            events, prefix = controllers.check_scope(args.events.split(",") if args.events else None, args.prefix)
        except controllers.ScopeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        async def register(db: momoko.Pool) -> tuple[dict[str, Any], str]:
            added, token = await controllers.add_controller(db, settings.jwt_secret, args.name, events, prefix,
                                                            args.ttl)
            await activity.record(db, activity.COMMAND_LINE, "controller.registered", added["public_id"],
                                  name=args.name, events=events, event_prefix=prefix)
            return added, token

        controller, token = asyncio.run(_with_pool(url, register))
        print(f"registered {controller['public_id']} ({controller['name']}); its token follows, shown only now",
              file=sys.stderr)
        print(token)
    elif args.action == "list":
        expiry = presence.expiry(settings.heartbeat_interval)
        for controller in asyncio.run(_with_pool(url, lambda db: controllers.list_controllers(db, expiry))):
            print(json.dumps(controller, ensure_ascii=False))
    elif args.action == "revoke":
        async def revoke(db: momoko.Pool) -> bool:
            token_id = await controllers.revoke_controller(db, args.public_id)
            if token_id is not None:
                await revocations.announce(db, token_id)  # running servers close its sockets
                await activity.record(db, activity.COMMAND_LINE, "controller.revoked", args.public_id)
            return token_id is not None

        if not asyncio.run(_with_pool(url, revoke)):
            print(f"error: no controller {args.public_id}", file=sys.stderr)
            return 1
        print(f"revoked {args.public_id}")
    return 0


def _render(args: argparse.Namespace, settings: Settings) -> int:
    if args.target in ("nginx", "systemd"):
        if args.conf is None:
            raise SettingsError(f"render {args.target} needs --conf PROFILE (e.g. conf/production.toml)")
        # Only the profile counts here, not the environment: the same profile gives the same config anywhere.
        # The certificate files are looked for only when rendering for nginx, which reads them.
        render = render_nginx if args.target == "nginx" else render_systemd
        profile = profiles.load_profile(args.conf, check_files=args.target == "nginx")
        write_output(render(profile, str(args.conf)), args.output)
        return 0
    if not settings.public_url:
        raise SettingsError("PUBLIC_URL is empty: set it (in the environment or the profile's [app] table) "
                            "to the address browsers use, e.g. https://telemetry.example.org")
    write_output(render_frontend_env(settings, settings.public_url), args.output)
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in ("host", "port") if getattr(args, name, None) is not None}


def _ttl(text: str) -> int:
    try:
        return tokens.parse_ttl(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="WebMACS real-time telemetry server.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser("serve", help="apply migrations and serve HTTP and WebSockets")
    serve_cmd.add_argument("--host", help="overrides HOST")
    serve_cmd.add_argument("--port", type=int, help="overrides PORT")
    serve_cmd.add_argument("--conf", type=Path, help="a deployment profile (conf/*.toml); the environment overrides it")

    render = commands.add_parser("render", help="write a file generated from templates/ and the settings")
    render.add_argument("target", choices=["nginx", "systemd", "frontend-env"],
                        help="nginx: the reverse-proxy config for a profile's [proxy] table; "
                             "systemd: the service unit (webmacs@.service, one instance per port) for its "
                             "[service] table; "
                             "frontend-env: the dashboard's static/env.js, for a proxy that serves static/ itself")
    render.add_argument("--conf", type=Path, help="a deployment profile (conf/*.toml); nginx and systemd read it "
                                                  "alone, for frontend-env the environment overrides it")
    render.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="file to write (replaced atomically, only on success) or - for standard output")

    commands.add_parser("migrate", help="apply database migrations not yet applied")
    commands.add_parser("purge", help="remove, now, the readings the retention settings no longer keep; "
                                      "prints what it removed as JSON")

    backup_cmd = commands.add_parser("backup", help="write a pg_dump -Fc archive of the database; safe while serving")
    backup_cmd.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                            help="the file to write (complete or not at all)")
    backup_cmd.add_argument("--force", action="store_true", help="replace FILE if it exists")
    restore_cmd = commands.add_parser("restore", help="restore a backup into an empty database, then migrate")
    restore_cmd.add_argument("file", type=Path, metavar="FILE", help="an archive `backup` wrote")
    restore_cmd.add_argument("--force", action="store_true",
                             help="even into a database that holds data or has other connections: replaces its tables")
    commands.add_parser("settings", help="list every setting with its environment variable and default")

    event_cmd = commands.add_parser("event", help="manage events (sensors and actuators)")
    event_actions = event_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = event_actions.add_parser("add", help="create or update an event; prints it as JSON")
    add.add_argument("public_id", help="e.g. evt_temp01")
    add.add_argument("--name", help="human name (default: the public id)")
    add.add_argument("--unit", default="", help='e.g. "°C"')
    add.add_argument("--type", default="sensor", choices=events.EVENT_TYPES)
    add.add_argument("--stale-after", type=_positive(float), metavar="SECONDS",
                     help="the event is stale when its newest reading is older than this (default: never)")
    add.add_argument("--group", help='where the dashboard shows it, e.g. "Reactor" (default: no group)')
    event_actions.add_parser("list", help="print every event as JSON, one per line")

    user_cmd = commands.add_parser("user", help="manage users who log in to the API and dashboard")
    user_actions = user_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    user_add = user_actions.add_parser("add", help="create a user; the password is asked for, or read from "
                                                   "WEBMACS_PASSWORD; prints the user as JSON")
    user_add.add_argument("email")
    user_add.add_argument("--role", required=True, choices=roles.USER_ROLES)
    user_actions.add_parser("list", help="print every user as JSON, one per line (never a password hash)")
    set_role = user_actions.add_parser("set-role", help="give a user another role; their sessions end")
    set_role.add_argument("email")
    set_role.add_argument("role", choices=roles.USER_ROLES)
    reset = user_actions.add_parser("reset-password", help="print a new one-time password for the user (to be "
                                                           "changed at the first sign-in); their sessions end")
    reset.add_argument("email")
    user_delete = user_actions.add_parser("delete", help="delete a user; their sessions end")
    user_delete.add_argument("email")

    controller_cmd = commands.add_parser("controller", help="register, list and revoke controllers (devices)")
    controller_actions = controller_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    controller_add = controller_actions.add_parser("add", help="register a controller and print its token (only "
                                                               "the token, on standard output)")
    controller_add.add_argument("name", help='what people call it, e.g. "Reactor rig 1"')
    scope = controller_add.add_mutually_exclusive_group()
    scope.add_argument("--events", help="the only events it may write, comma-separated (default: any)")
    scope.add_argument("--prefix", help="or every event whose id starts with this")
    controller_add.add_argument("--ttl", type=_ttl, default=str(controllers.DEFAULT_TTL),
                                help=f"its token's lifetime (default {controllers.DEFAULT_TTL // 86400}d)")
    controller_actions.add_parser("list", help="one JSON line per controller (never a token)")
    controller_revoke = controller_actions.add_parser("revoke", help="refuse its token from now on; running "
                                                                     "servers close its sockets")
    controller_revoke.add_argument("public_id", help="e.g. ctl_4f2a...")

    token_cmd = commands.add_parser("token", help="print a signed JWT and nothing else")
    token_cmd.add_argument("--role", required=True, choices=roles.ROLES)
    token_cmd.add_argument("--subject", required=True, help="who the token is for, e.g. ctl-1")
    token_cmd.add_argument("--ttl", type=_ttl, default="30d", help="lifetime: 3600, 15m, 12h, 30d (default 30d)")

    sim = commands.add_parser("simulate", help="the reference controller: send plausible readings until stopped")
    sim.add_argument("--token", required=True, help="a controller token (see `token`)")
    sim.add_argument("--events", required=True, help="comma-separated event public ids")
    sim.add_argument("--rate", type=_positive(float), default=10.0, help="readings per second per event (default 10)")
    sim.add_argument("--batch", type=_positive(int), default=1, help="readings per message (default 1)")
    sim.add_argument("--url", default="ws://127.0.0.1:8000", help="server base URL (default ws://127.0.0.1:8000)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
