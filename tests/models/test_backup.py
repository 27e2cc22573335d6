"""`app.py backup` and `app.py restore`: the restore drill, the refusals, and no secret in any output."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg2
import pytest
from psycopg2 import sql
from tornado.websocket import websocket_connect

from models import backup, database
from models.tokens import issue_token
from tests.helpers import ROOT, SPEC_READING, Peer, Serving, run_app, serving

SECRET = "b" * 48
PASSWORD = "p@ss%w0rd-Backup-7"  # needs percent-encoding in a URL: neither spelling may show anywhere
OPS_ROLE = "webmacs_ops"


def server_url() -> str:
    """The PostgreSQL server the tests run on, as the session fixtures find it (conftest.database_url)."""
    return os.environ.get("DATABASE_URL") or database.resolve_url("", ROOT / "var")


def create_database(purpose: str) -> str:
    """An empty database of our own, `webmacs_backup_<purpose>_<random>`: no other test run uses it."""
    name = f"webmacs_backup_{purpose}_{secrets.token_hex(4)}"
    database.ensure_database(server_url(), name, recreate=True)
    return database.with_database(server_url(), name)


def drop_database(url: str) -> None:
    conn = psycopg2.connect(server_url())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            name = urlsplit(url).path.lstrip("/")
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


@pytest.fixture
def new_database() -> Iterator[Callable[[str], str]]:
    """Makes empty databases (see create_database), dropped when the test ends."""
    made: list[str] = []

    def make(purpose: str) -> str:
        made.append(create_database(purpose))
        return made[-1]

    yield make
    for url in made:
        drop_database(url)


@pytest.fixture(scope="module")
def small_backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A backup of a migrated database holding one event and two datapoints."""
    url = create_database("small")
    path = tmp_path_factory.mktemp("small") / "small.dump"
    try:
        env = environment(url, path.parent)
        ok("migrate", env=env)
        ok("event", "add", "evt_small", env=env)
        execute(url, "INSERT INTO datapoints (event_id, value, recorded_at)"
                     " SELECT id, n, now() FROM events, generate_series(1, 2) AS n")
        source_ids(path).write_text(json.dumps(datapoint_ids(url)))
        ok("backup", "-o", str(path), env=env)
        yield path
    finally:
        drop_database(url)


def source_ids(backup: Path) -> Path:
    """Where the small backup's fixture keeps the public ids its datapoints had in the source."""
    return backup.with_name("source-ids.json")


def environment(url: str, var_dir: Path) -> dict[str, str]:
    return {"DATABASE_URL": url, "WEBMACS_VAR_DIR": str(var_dir), "JWT_SECRET": SECRET}


def ok(*args: str, env: dict[str, str]) -> list[str]:
    """Run `app.py ARGS`, which must succeed; its standard output's lines."""
    result = run_app(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def refused(*args: str, env: dict[str, str]) -> str:
    """Run `app.py ARGS`, which must fail with one line on stderr and nothing on stdout; that line."""
    result = run_app(*args, env=env)
    assert result.returncode != 0
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def execute(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a restore replaces (the tables that do not exist yet are left out)."""
    present = [t for t in backup.DATA_TABLES if execute(url, "SELECT to_regclass(%s)", t)[0][0] is not None]
    return {table: execute(url, f"SELECT * FROM {table} ORDER BY 1") for table in present}


def datapoint_ids(url: str) -> list[str]:
    return [public_id for (public_id,) in execute(url, "SELECT 'dp_' || id FROM datapoints ORDER BY id")]


def with_password(url: str, password: str = PASSWORD) -> str:
    """The URL with the password in it, unless it has one already (then that server wants it).
    The embedded server trusts local connections, so it lets a client in whatever password it sends."""
    parts = urlsplit(url)
    if parts.password:
        return url
    user = parts.username or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{parts.hostname or ''}"
                                            + (f":{parts.port}" if parts.port else "")))


def password_of(url: str) -> tuple[str, str]:
    """The password as libpq reads it and as the URL spells it."""
    return psycopg2.extensions.parse_dsn(url)["password"], urlsplit(url).password or ""


def api(server: Serving, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(server.base_url + "/api/v1" + path,
                                     headers={"Authorization": "Bearer " + issue_token(SECRET, "ops", "admin", 600)})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def polled(server: Serving, after: str = "0") -> tuple[list[str], str]:
    """Every datapoint the polling fallback returns past the cursor, in its order; and the last cursor."""
    ids: list[str] = []
    while True:
        status, page = api(server, f"/datapoints?after={after}&limit=500")
        assert status == 200, page
        ids += [datapoint["public_id"] for datapoint in page["data"]]
        after = page["cursor"]
        if not page["has_more"]:
            return ids, after


async def controller_on(server: Serving) -> Peer:
    token = issue_token(SECRET, "ctl-backup-test", "controller", 600)
    return Peer(await websocket_connect(f"ws://127.0.0.1:{server.port}/ws/controller/telemetry?token={token}"))


async def keep_storing(controller: Peer, acked: list[str], stop: asyncio.Event) -> None:
    """Send batches of ten readings, one after another's ack, until stopped; collect the acked public_ids."""
    seq = 0
    while not stop.is_set():
        controller.send({"datapoints": [{**SPEC_READING, "value": seq + i / 10} for i in range(10)], "seq": seq})
        ack = await controller.receive()
        assert ack["type"] == "ack" and ack["seq"] == seq and None not in ack["public_ids"], ack
        acked += ack["public_ids"]
        seq += 1


async def in_thread(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`app.py ARGS` without blocking the IOLoop, so that the test's controller goes on sending meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, lambda: run_app(*args, env=env))


# --- the drill --------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=180)
async def test_backup_while_ingesting_holds_every_acked_reading_and_restores_into_a_fresh_database(
        new_database, tmp_path):
    source = environment(new_database("source"), tmp_path / "source")
    archive = tmp_path / "backups" / "webmacs.dump"
    archive.parent.mkdir()
    with serving(source) as server:
        ok("event", "add", "evt_temp01", env=source)
        controller = await controller_on(server)
        acked: list[str] = []
        stop = asyncio.Event()
        storing = asyncio.ensure_future(keep_storing(controller, acked, stop))
        while len(acked) < 100:
            await asyncio.sleep(0.01)
        acked_before = list(acked)
        made = await in_thread("backup", "-o", str(archive), env=source)
        stored_meanwhile = len(acked) - len(acked_before)
        stop.set()
        await storing
        controller.close()
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == [made.stdout.strip()] and made.stdout.startswith(f"wrote {archive}: ")
    assert stored_meanwhile > 0  # the server went on storing while the backup ran
    assert os.listdir(archive.parent) == ["webmacs.dump"]  # no temporary file left
    assert archive.stat().st_mode & 0o077 == 0  # it holds password hashes: the owner's alone

    # Into a second, empty database on the same server.
    target = environment(new_database("restore"), tmp_path / "target")
    first, migrated = ok("restore", str(archive), env=target)
    assert first.startswith(f'restored {archive} into the database "{urlsplit(target["DATABASE_URL"]).path[1:]}": ')
    assert migrated == "schema is up to date"  # schema_migrations came along
    restored = datapoint_ids(target["DATABASE_URL"])
    assert set(acked_before) <= set(restored) <= set(acked)
    assert ok("migrate", env=target) == ["schema is up to date"]
    with serving(target) as server:
        assert server.health()["status"] == "ok"
        for public_id in (acked_before[0], acked_before[-1]):
            status, datapoint = api(server, f"/datapoints/{public_id}")
            assert status == 200 and datapoint["public_id"] == public_id
        assert polled(server)[0] == restored

    # Into a fresh WEBMACS_VAR_DIR: a new embedded server, whose transaction counter is far behind the
    # one that stored the datapoints.
    fresh = environment("", tmp_path / "fresh")
    ok("restore", str(archive), env=fresh)
    with serving(fresh) as server:
        assert server.health()["status"] == "ok"
        status, datapoint = api(server, f"/datapoints/{acked_before[-1]}")
        assert status == 200 and datapoint["event_public_id"] == "evt_temp01"
        everything, cursor = polled(server)
        assert everything == restored
        controller = await controller_on(server)
        controller.send({**SPEC_READING, "seq": 1})
        new = (await controller.receive())["public_ids"]
        controller.close()
        assert polled(server, cursor)[0] == new  # stored after the restored ones, and polled after them too


# --- refusals ---------------------------------------------------------------------------------

def test_backup_refuses_to_replace_a_file_unless_forced(new_database, tmp_path):
    env = environment(new_database("exists"), tmp_path)
    ok("migrate", env=env)
    existing = tmp_path / "backups" / "webmacs.dump"
    existing.parent.mkdir()
    existing.write_text("last night's")
    assert refused("backup", "-o", str(existing), env=env) == f"error: {existing} exists: pass --force to replace it"
    assert existing.read_text() == "last night's"
    assert os.listdir(existing.parent) == ["webmacs.dump"]

    assert ok("backup", "-o", str(existing), "--force", env=env)[0].startswith(f"wrote {existing}: ")
    assert existing.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    assert os.listdir(existing.parent) == ["webmacs.dump"]

    missing = tmp_path / "nowhere" / "webmacs.dump"
    assert refused("backup", "-o", str(missing), env=env) == f"error: folder {missing.parent} does not exist"


def test_restore_refuses_a_database_that_holds_data_unless_forced_and_then_replaces_it(
        new_database, tmp_path, small_backup):
    env = environment(new_database("held"), tmp_path)
    ok("migrate", env=env)
    ok("event", "add", "evt_other", env=env)
    before = contents(env["DATABASE_URL"])
    assert "already holds events: restore into an empty database, or pass --force" in refused(
        "restore", str(small_backup), env=env)
    assert contents(env["DATABASE_URL"]) == before

    assert ok("restore", str(small_backup), "--force", env=env)[1] == "schema is up to date"
    assert execute(env["DATABASE_URL"], "SELECT public_id FROM events") == [("evt_small",)]
    restored = datapoint_ids(env["DATABASE_URL"])
    assert len(restored) == 2 and restored == json.loads(source_ids(small_backup).read_text())  # ids kept


def test_restore_refuses_while_a_server_uses_the_database(new_database, tmp_path, small_backup):
    env = environment(new_database("busy"), tmp_path)
    with serving(env):
        before = contents(env["DATABASE_URL"])
        line = refused("restore", str(small_backup), env=env)
        assert "other connection(s) to the database" in line and "stop the server that uses it first" in line
        assert contents(env["DATABASE_URL"]) == before


def test_restore_refuses_a_missing_damaged_or_foreign_file_and_changes_nothing(new_database, tmp_path, small_backup):
    env = environment(new_database("damaged"), tmp_path)
    ok("migrate", env=env)
    ok("event", "add", "evt_other", env=env)
    before = contents(env["DATABASE_URL"])

    missing = tmp_path / "missing.dump"
    assert refused("restore", str(missing), "--force", env=env) == f"error: {missing}: no such file"
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(os.urandom(4096))
    assert "pg_restore: input file does not appear to be a valid archive" in refused(
        "restore", str(garbage), "--force", env=env)
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(small_backup.read_bytes()[:small_backup.stat().st_size // 2])
    assert "pg_restore: " in refused("restore", str(truncated), "--force", env=env)
    # A PostgreSQL archive, but of a database WebMACS never migrated.
    foreign = tmp_path / "foreign.dump"
    ok("backup", "-o", str(foreign), env=environment(new_database("foreign"), tmp_path))
    assert "no WebMACS backup" in refused("restore", str(foreign), "--force", env=env)

    assert contents(env["DATABASE_URL"]) == before


# --- secrets ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """A PostgreSQL of our own (pgserver's, in a temporary folder) that asks every role but its superuser
    for a password (scram-sha-256); makes databases owned by OPS_ROLE, whose password is PASSWORD, and
    returns their URLs with that password in them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs on XDG_RUNTIME_DIR, as in models.database
        import pgserver
    server = pgserver.get_server(tmp_path_factory.mktemp("password_server") / "pgdata", cleanup_mode="stop")
    admin = server.get_uri()
    execute(admin, f"CREATE ROLE {OPS_ROLE} LOGIN PASSWORD %s", PASSWORD)
    hba = Path(execute(admin, "SHOW hba_file")[0][0])
    hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
    execute(admin, "SELECT pg_reload_conf()")
    socket_dir = psycopg2.extensions.parse_dsn(admin)["host"]

    def make(name: str) -> str:
        execute(admin, f"CREATE DATABASE {name} OWNER {OPS_ROLE}")
        return f"postgresql://{OPS_ROLE}:{quote(PASSWORD, safe='')}@/{name}?host={quote(socket_dir, safe='')}"

    try:
        yield make
    finally:
        server.cleanup()


def test_the_password_goes_to_the_tools_environment_never_to_a_command_line_or_the_output(
        password_server, tmp_path, small_backup, monkeypatch):
    source, target = password_server("source"), password_server("target")
    spellings = password_of(source)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(source.replace(quote(PASSWORD, safe=""), "wrong")).close()
    ok("restore", str(small_backup), env=environment(source, tmp_path))
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def recording_run(argv: list[str], **options: Any) -> subprocess.CompletedProcess:
        calls.append((argv, options.get("env") or {}))
        return real_run(argv, **options)

    monkeypatch.setattr(subprocess, "run", recording_run)
    archive = tmp_path / "pw.dump"
    for line in (backup.backup(source, archive), backup.restore(target, archive)):
        assert not any(spelling in line for spelling in spellings)
    monkeypatch.undo()
    assert {Path(argv[0]).name for argv, _ in calls} >= {"pg_dump", "pg_restore"}
    for argv, env in calls:
        assert not any(spelling in " ".join(argv) for spelling in spellings), argv
        assert env.get("PGPASSWORD") in (None, spellings[0])  # `--version` needs no connection
    assert datapoint_ids(target) == json.loads(source_ids(small_backup).read_text())  # the source's two rows, ids kept

    # And through the command line, to its output.
    results = [run_app("backup", "-o", str(tmp_path / "cli.dump"), env=environment(source, tmp_path)),
               run_app("restore", str(tmp_path / "cli.dump"), "--force", env=environment(target, tmp_path))]
    assert [result.returncode for result in results] == [0, 0]
    for result in results:
        assert not any(spelling in result.stdout + result.stderr for spelling in spellings)


def test_failures_with_a_password_in_the_url_are_one_line_without_it(password_server, tmp_path, small_backup):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    closed = f"postgresql://webmacs:{quote(PASSWORD, safe='')}@127.0.0.1:{closed_port}/webmacs"
    wrong_password = password_server("wrong").replace(quote(PASSWORD, safe=""), quote(PASSWORD[::-1], safe=""))
    # A password that is also in the database's name, so that the server's own message carries it.
    named = "Zq9-secret-in-the-name"
    wrong_database = with_password(database.with_database(server_url(), "no_such_" + named), named)
    unsupported = closed + "?sslpassword=" + quote(PASSWORD, safe="")
    for url in (closed, wrong_password, wrong_database, unsupported):
        env = environment(url, tmp_path)
        for args in (("backup", "-o", str(tmp_path / "never.dump")), ("restore", str(small_backup))):
            line = refused(*args, env=env)
            assert not any(spelling in line
                           for spelling in (*password_of(url), PASSWORD, quote(PASSWORD, safe=""), named)), line
    assert "password authentication failed" in refused("backup", "-o", str(tmp_path / "x.dump"),
                                                       env=environment(wrong_password, tmp_path))
    assert "cannot reach the database" in refused("backup", "-o", str(tmp_path / "x.dump"),
                                                  env=environment(closed, tmp_path))
    assert not (tmp_path / "never.dump").exists()
