"""Backups: `pg_dump -Fc` of the database to a file, written atomically, and `pg_restore` of one into a database."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from models.database import one_line

# libpq's connection keywords and the environment variables that carry them to pg_dump and pg_restore.
# The environment, because a command line is visible to every user of the machine (ps, /proc): the
# password must never be on one.
_ENVIRONMENT = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
    "password": "PGPASSWORD", "passfile": "PGPASSFILE", "service": "PGSERVICE", "options": "PGOPTIONS",
    "application_name": "PGAPPNAME", "connect_timeout": "PGCONNECT_TIMEOUT", "client_encoding": "PGCLIENTENCODING",
    "channel_binding": "PGCHANNELBINDING", "sslmode": "PGSSLMODE", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT", "sslcrl": "PGSSLCRL", "sslcrldir": "PGSSLCRLDIR", "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER", "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION", "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB", "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}
# Keywords no environment variable carries that only tune the connection: the tools use their defaults.
_TUNING_ONLY = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                "fallback_application_name"}
# A restore replaces these; any row in them means the database is in use.
DATA_TABLES = ("datapoints", "events", "experiments", "users")
_COPY_MIGRATIONS = re.compile(r"^COPY public\.schema_migrations \(version[,)].*?\n(.*?)^\\\.$", re.M | re.S)


class BackupError(Exception):
    """A refusal or a failure, in one line fit for a terminal: never a password, a token or a row."""


class Target:
    """The database a URL names, as the PostgreSQL tools are given it: in their environment."""

    def __init__(self, url: str) -> None:
        try:
            self.params = psycopg2.extensions.parse_dsn(url)
        except psycopg2.ProgrammingError:
            raise BackupError("DATABASE_URL is not a PostgreSQL URL libpq understands") from None
        unknown = sorted(set(self.params) - set(_ENVIRONMENT) - _TUNING_ONLY)
        if unknown:
            raise BackupError(f"DATABASE_URL sets {', '.join(unknown)}, which pg_dump and pg_restore cannot be "
                              "given without a command line: leave it out of the URL")
        self.url = url
        # As parsed (percent-decoded) and as written in the URL, to scrub both from the tools' messages.
        self._secrets = [s for s in (self.params.get("password"), _raw_password(url)) if s]
        self.name = self.scrub(f'database "{self.params["dbname"]}"') if "dbname" in self.params else "database"

    def environment(self) -> dict[str, str]:
        return {**os.environ, **{_ENVIRONMENT[key]: value for key, value in self.params.items()
                                 if key in _ENVIRONMENT}}

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        try:
            conn = psycopg2.connect(self.url)
        except psycopg2.Error as error:
            raise BackupError(f"cannot reach the {self.name}: {self.scrub(one_line(error))}") from None
        self.name = self.scrub(f'database "{conn.info.dbname}"')  # libpq's defaults filled in
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def run(self, tool: str, *args: str) -> str:
        """Run one of pgserver's PostgreSQL tools against this database; its standard output."""
        result = subprocess.run([str(tool_path(tool)), "--no-password", *args], env=self.environment(),
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
        if result.returncode != 0:
            # Only the first line: pg_restore's DETAIL and CONTEXT lines, after it, can quote a row.
            lines = result.stderr.strip().splitlines() or [f"{tool}: exit status {result.returncode}"]
            raise BackupError(self.scrub(lines[0].replace(f"{tool}: error: ", f"{tool}: ", 1)))
        return result.stdout


def backup(url: str, path: Path, *, force: bool = False) -> str:
    """Write a pg_dump custom-format archive of the database to path (a temporary file in the same
    folder, renamed when complete); returns the line to print. pg_dump reads one snapshot, so the
    archive holds exactly what was committed when it started, while the server goes on writing."""
    path = Path(path)
    if path.is_dir():
        raise BackupError(f"{path} is a folder: name the file to write")
    if path.exists() and not force:
        raise BackupError(f"{path} exists: pass --force to replace it")
    if not path.parent.is_dir():
        raise BackupError(f"folder {path.parent} does not exist")
    target = Target(url)
    with target.connection() as conn:
        server = conn.server_version // 10000  # 160002 is 16, 90624 is 9
    tool = tool_version("pg_dump")
    if server > int(tool.split(".")[0]):
        raise BackupError(f"pg_dump {tool} (shipped with pgserver) cannot back up PostgreSQL {server}, a newer "
                          f"major version: run PostgreSQL {server}'s own pg_dump -Fc against the {target.name}")
    # mkstemp's file is private (0600), as it should stay: the archive holds password hashes.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        target.run("pg_dump", "--format=custom", "--file", temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        if path.exists() and not force:
            raise BackupError(f"{path} appeared while the backup ran: pass --force to replace it")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return f"wrote {path}: {_size(path.stat().st_size)}, pg_dump -Fc of the {target.name} (PostgreSQL {server})"


def restore(url: str, path: Path, *, force: bool = False) -> str:
    """Restore an archive `backup` wrote into the database, in one transaction; returns the line to print.

    Meant for an empty database; one with data, or with other connections open (a server), is refused
    unless `force`, and then its tables are dropped and recreated. The schema_migrations table comes
    along, so migrations afterwards apply only what is newer than the backup.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    target = Target(url)
    # Reads the archive's table of contents: a file that is not one fails here, before the database is touched.
    in_backup = _migrations_in(target, path)
    with target.connection() as conn:
        others = _other_connections(conn)
        if others and not force:
            raise BackupError(f"{len(others)} other connection(s) to the {target.name} are open ({', '.join(others)}):"
                              " stop the server that uses it first, or pass --force")
        held = _tables_with_rows(conn)
        if held and not force:
            raise BackupError(f"the {target.name} already holds {', '.join(held)}: restore into an empty "
                              "database, or pass --force to replace them")
        newer = sorted(_applied_migrations(conn) - in_backup)
        if newer:
            raise BackupError(f"the {target.name} has migrations the backup lacks ({', '.join(newer)}): "
                              "restore into an empty database")
        dbname = conn.info.dbname
    # --clean --if-exists drops what the archive recreates (nothing, in an empty database); ownership and
    # grants are left to the restoring user, who need not be the one who took the backup.
    target.run("pg_restore", "--single-transaction", "--clean", "--if-exists", "--no-owner", "--no-privileges",
               "--dbname", f"dbname={_conninfo_value(dbname)}", str(path))
    with target.connection() as conn:
        _place_new_ids_after_restored(conn)
        counts = _counts(conn)
    return f"restored {path} into the {target.name}: {counts}"


def tool_path(name: str) -> Path:
    """pg_dump or pg_restore of the PostgreSQL that pgserver ships (the embedded server's own version)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise BackupError("the pgserver package is not installed (its wheel ships pg_dump and pg_restore): run make")
    path = Path(spec.origin).parent / "pginstall" / "bin" / name
    if not path.is_file():
        raise BackupError(f"{name} is missing from pgserver's PostgreSQL ({path.parent})")
    return path


def tool_version(name: str) -> str:
    """"16.2" from `pg_dump --version`."""
    output = subprocess.run([str(tool_path(name)), "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+)(\.\d+)?", output)
    if match is None:
        raise BackupError(f"{name} --version said nothing recognisable")
    return match.group(0)


def _migrations_in(target: Target, path: Path) -> set[str]:
    script = target.run("pg_restore", "--data-only", "--table=schema_migrations", "--file=-", str(path))
    match = _COPY_MIGRATIONS.search(script)
    if match is None:
        raise BackupError(f"{path} is a PostgreSQL archive but no WebMACS backup: it has no schema_migrations")
    return {line.split("\t", 1)[0] for line in match.group(1).splitlines() if line}


def _other_connections(conn: psycopg2.extensions.connection) -> list[str]:
    """The application names (or "unnamed") of the other client connections to this database."""
    with conn.cursor() as cur:
        cur.execute("SELECT coalesce(nullif(application_name, ''), 'unnamed') FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend' ORDER BY 1")
        return [name for (name,) in cur.fetchall()]


def _tables_with_rows(conn: psycopg2.extensions.connection) -> list[str]:
    with conn.cursor() as cur:
        present = [table for table in DATA_TABLES if _value(cur, "SELECT to_regclass(%s) IS NOT NULL", (table,))]
        return [table for table in present
                if _value(cur, sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table)))]


def _applied_migrations(conn: psycopg2.extensions.connection) -> set[str]:
    with conn.cursor() as cur:
        if not _value(cur, "SELECT to_regclass('schema_migrations') IS NOT NULL"):
            return set()
        cur.execute("SELECT version FROM schema_migrations")
        return {version for (version,) in cur.fetchall()}


def _place_new_ids_after_restored(conn: psycopg2.extensions.connection) -> None:
    """Make the ids this server takes from now on larger than every restored one.

    Ids follow transaction ids (0006_transaction_ordered_ids.sql), and a restored datapoint's came from
    the server that stored it: on another server with a counter behind it (a fresh one, say), new
    datapoints would sort before restored ones, and could even take their ids. Restored ids, public ids
    and cursors stay as they were. An archive from before 0006 has no origin yet: that migration, which
    runs next, places new ids after the restored ones itself.
    """
    with conn.cursor() as cur:
        if _value(cur, "SELECT to_regclass('datapoint_id_origin') IS NOT NULL"):
            cur.execute("UPDATE datapoint_id_origin SET shift = greatest(shift, (SELECT coalesce(max(id), 0) >> 20"
                        " FROM datapoints) + 1 - pg_current_xact_id()::text::bigint)")


def _counts(conn: psycopg2.extensions.connection) -> str:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(
            sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier(table)) for table in DATA_TABLES)))
        [counts] = cur.fetchall()
        return ", ".join(f"{count} {table}" for table, count in zip(DATA_TABLES, counts, strict=True))


def _value(cur: psycopg2.extensions.cursor, query: str | sql.Composable, params: tuple[Any, ...] = ()) -> Any:
    cur.execute(query, params)
    [(value,)] = cur.fetchall()
    return value


def _raw_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _conninfo_value(text: str) -> str:
    """A value for a libpq "key=value" string, quoted so that no character in it can start another key."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    size, unit = count / 1000, "kB"
    for bigger in ("MB", "GB", "TB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{size:.1f} {unit}"
