"""Fixtures: one real PostgreSQL test database per run, the real app on a random port per test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from app import WebMACS
from conf import settings as config
from handlers.stream import StreamHandler
from handlers.telemetry import TelemetryHandler
from models import database
from tests.helpers import TEST_SECRET, Server

ROOT = Path(__file__).resolve().parent.parent


TEST_RUNS_LOCK = 0x57454254  # the advisory lock key (with a run's slot) that keeps concurrent runs apart


@pytest.fixture(scope="session")
def run_slot() -> Iterator[tuple[str, str]]:
    """(server URL, suffix) for this test run: "" for the first run on the server, "_2", "_3"... for runs beside it
    (a developer's and a helper's at once), held by a session-level advisory lock until the run ends, so two
    runs never share, and so never empty or recreate, each other's databases. They still share the server's
    transaction ids: a test of the ids' order can see the other run's transactions (run such tests alone)."""
    server_url = os.environ.get("DATABASE_URL") or database.resolve_url("", ROOT / "var")
    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for slot in range(1, 100):
                cur.execute("SELECT pg_try_advisory_lock(%s, %s)", (TEST_RUNS_LOCK, slot))
                if cur.fetchone() == (True,):
                    yield server_url, "" if slot == 1 else f"_{slot}"
                    return
        raise RuntimeError("99 test runs on this server at once")
    finally:
        conn.close()


@pytest.fixture(scope="session")
def database_url(run_slot: tuple[str, str]) -> str:
    """A fresh `<name>_test` database on DATABASE_URL's server, or on the embedded one (`<name>_test_2` and on
    while other runs are using it)."""
    server_url, suffix = run_slot
    name = (psycopg2.extensions.parse_dsn(server_url).get("dbname") or "webmacs") + "_test" + suffix
    database.ensure_database(server_url, name, recreate=True)
    url = database.with_database(server_url, name)

    async def migrate() -> None:
        pool = await database.connect_pool(url, 1)
        await database.migrate(pool)
        pool.close()

    asyncio.run(migrate())
    return url


@pytest.fixture
def sql(database_url: str) -> Iterator[psycopg2.extensions.connection]:
    """A plain connection for looking at what the server stored; every test starts with empty tables."""
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("TRUNCATE datapoints, experiments, events, users, revoked_tokens, controllers,"
                    " controller_connections, telemetry_sessions, commands, rules, alarms, webhooks,"
                    " webhook_deliveries, activity RESTART IDENTITY CASCADE")
        cur.execute("INSERT INTO events (public_id, name, unit) VALUES"
                    " ('evt_temp01', 'Inlet temperature', '°C'), ('evt_press01', 'Pressure', 'bar')")
    yield conn
    conn.close()


@pytest.fixture
def app(request: pytest.FixtureRequest, io_loop, database_url: str, sql, http_port: int) -> Iterator[WebMACS]:
    """The application as `serve` builds, starts and stops it; `@pytest.mark.settings(...)` changes its settings."""
    marker = request.node.get_closest_marker("settings")
    settings = config.load(environ={}, jwt_secret=TEST_SECRET, port=http_port, **(marker.kwargs if marker else {}))
    pool = io_loop.run_sync(lambda: database.connect_pool(database_url, settings.db_pool_size))
    # The registries are class attributes (one per endpoint): a socket the last test left closing is not ours.
    StreamHandler.subscribers.clear()
    TelemetryHandler.controllers.clear()
    application = WebMACS(settings, pool, database_url)
    io_loop.run_sync(application.start)
    yield application
    io_loop.run_sync(application.stop)
    pool.close()


@pytest.fixture
def server(app: WebMACS, http_server, http_port: int, http_client, sql) -> Server:
    return Server(app, http_port, http_client, sql)


