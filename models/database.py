"""Where the database is (embedded or DATABASE_URL), the momoko pool, and the versioned migrations."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import momoko
import psycopg2
from psycopg2 import sql
from tornado.ioloop import IOLoop

log = logging.getLogger("webmacs.database")

EMBEDDED_DATABASE = "webmacs"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same in every process that migrates.
MIGRATION_LOCK = 0x5745424D  # "WEBM"

# Errors that mean "the database could not do it right now", as opposed to a bug in our SQL.
UNAVAILABLE = (psycopg2.OperationalError, psycopg2.InterfaceError, momoko.Pool.DatabaseNotAvailable,
               momoko.PartiallyConnectedError)


def resolve_url(database_url: str, var_dir: Path) -> str:
    """DATABASE_URL if given, else the URL of the embedded server, started if it is not running."""
    if database_url:
        return database_url
    return _embedded_url(var_dir)


def _embedded_url(var_dir: Path) -> str:
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; pgserver copes.
        warnings.simplefilter("ignore")
        import pgserver
    var_dir.mkdir(parents=True, exist_ok=True)
    # pgserver stops the server when the last process using it exits.
    server = pgserver.get_server(var_dir / "pgdata", cleanup_mode="stop")
    ensure_database(server.get_uri(), EMBEDDED_DATABASE)
    return server.get_uri(EMBEDDED_DATABASE)


def ensure_database(admin_url: str, name: str, *, recreate: bool = False) -> None:
    """Create database `name` on the server behind admin_url (drop it first when recreate)."""
    conn = psycopg2.connect(admin_url)
    try:
        conn.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
        with conn.cursor() as cur:
            if recreate:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def connect_pool(url: str, size: int) -> momoko.Pool:
    """An open momoko pool; raises psycopg2.OperationalError when the server cannot be reached."""
    pool = momoko.Pool(dsn=url, size=1, max_size=size, ioloop=IOLoop.current(), raise_connect_errors=True)
    await pool.connect()
    return pool


async def migrate(db: momoko.Pool, until: str | None = None) -> list[str]:
    """Apply the migrations not yet applied, each in its own transaction; returns their names.
    `until` stops after that one (upgrade tests start from an older schema)."""
    conn = await db.getconn()
    applied: list[str] = []
    # Two servers starting at once must not both create the table or apply the same migration.
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await conn.execute("SELECT version FROM schema_migrations")
        done = {version for (version,) in cursor.fetchall()}
        for path in sorted(MIGRATIONS.glob("*.sql")):
            if until is not None and path.stem > until:
                break
            if path.stem in done:
                continue
            await conn.execute("BEGIN")
            try:
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,))
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            applied.append(path.stem)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        db.putconn(conn)
    for version in applied:
        log.info("applied migration %s", version)
    return applied


def one_line(error: BaseException) -> str:
    """The error's whole message on one line, for a log line (libpq's messages span lines)."""
    return " ".join(str(error).split()) or type(error).__name__


def first_line(error: BaseException) -> str:
    """Only the first line of the error's message: what may be shown to a client or a terminal.
    PostgreSQL's DETAIL, on the lines after it, can quote a whole row, a password hash included."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


async def ping(db: momoko.Pool) -> None:
    """Raises one of UNAVAILABLE unless the database answers."""
    await db.execute("SELECT 1")


def connections_in_use(db: momoko.Pool) -> int:
    """Connections of the pool running a statement now. momoko 2.2.5.1 has no public count: its
    container's `busy` set is read here, and only here."""
    return len(db.conns.busy)


@contextlib.asynccontextmanager
async def transaction(db: momoko.Pool) -> AsyncIterator[momoko.Connection]:
    """One connection of the pool inside BEGIN, committed if the block ends normally, else rolled back."""
    conn = await db.getconn()
    try:
        await conn.execute("BEGIN")
        try:
            yield conn
        except BaseException:
            if not conn.closed:
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
    finally:
        db.putconn(conn)


@contextlib.asynccontextmanager
async def savepoint(conn: momoko.Connection) -> AsyncIterator[None]:
    """Inside a transaction: what the block did is undone if it raises (and the transaction goes on)."""
    await conn.execute("SAVEPOINT attempt")
    try:
        yield
    except BaseException:
        if not conn.closed:
            await conn.execute("ROLLBACK TO SAVEPOINT attempt; RELEASE SAVEPOINT attempt")
        raise
    await conn.execute("RELEASE SAVEPOINT attempt")


async def stream_rows(db: momoko.Pool, query: str, params: Sequence[Any],
                      chunk_rows: int) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The query's rows, chunk by chunk from a server-side cursor: memory holds one chunk, however many."""
    conn = await db.getconn()
    try:
        await conn.execute("BEGIN READ ONLY")
        await conn.execute(f"DECLARE stream NO SCROLL CURSOR FOR {query}", params)
        while rows := (await conn.execute(f"FETCH {int(chunk_rows)} FROM stream")).fetchall():
            yield rows
        await conn.execute("COMMIT")
    except BaseException:
        if not conn.closed:
            await conn.execute("ROLLBACK")
        raise
    finally:
        db.putconn(conn)
