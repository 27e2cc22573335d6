"""The command line users and their scripts rely on: `python app.py serve|migrate|event add|token|settings`."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jwt
import psutil
import pytest

from tests.helpers import ROOT, run_app, serving

STRONG_SECRET = "s" * 48


@pytest.fixture
def cli_env(tmp_path, database_url, sql) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "WEBMACS_VAR_DIR": str(tmp_path), "JWT_SECRET": STRONG_SECRET}


def test_help_lists_the_commands():
    result = run_app("--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "event", "token", "simulate"):
        assert command in result.stdout


def test_token_prints_only_a_verifiable_jwt(cli_env):
    result = run_app("token", "--role", "controller", "--subject", "ctl-1", "--ttl", "30d", env=cli_env)
    assert result.returncode == 0
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    claims = jwt.decode(token, STRONG_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "ctl-1" and claims["role"] == "controller"
    assert claims["exp"] - claims["iat"] == 30 * 86400


def test_token_with_bad_ttl_says_so(cli_env):
    result = run_app("token", "--role", "controller", "--subject", "ctl-1", "--ttl", "soon", env=cli_env)
    assert result.returncode == 2 and "ttl" in result.stderr and result.stdout == ""


def test_development_secret_is_generated_once_and_kept(tmp_path):
    env = {"WEBMACS_VAR_DIR": str(tmp_path), "JWT_SECRET": "", "WEBMACS_ENV": "development"}
    first = run_app("token", "--role", "controller", "--subject", "a", env=env).stdout.strip()
    second = run_app("token", "--role", "controller", "--subject", "b", env=env).stdout.strip()
    secret = (tmp_path / "jwt-secret").read_text().strip()
    assert len(secret) >= 32 and oct((tmp_path / "jwt-secret").stat().st_mode & 0o777) == "0o600"
    for token in (first, second):
        jwt.decode(token, secret, algorithms=["HS256"])


@pytest.mark.parametrize("secret, complaint", [("", "JWT_SECRET must be set in production"),
                                               ("short", "JWT_SECRET is too short")])
def test_production_refuses_to_start_without_a_strong_secret(tmp_path, secret, complaint):
    result = run_app("serve", env={"WEBMACS_ENV": "production", "JWT_SECRET": secret,
                                   "WEBMACS_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert complaint in result.stderr
    assert not (tmp_path / "pgdata").exists()


def test_bad_setting_is_named(tmp_path):
    result = run_app("serve", env={"PORT": "eighty", "WEBMACS_VAR_DIR": str(tmp_path)})
    assert result.returncode == 2 and "PORT must be an integer, got 'eighty'" in result.stderr


def test_event_add_is_idempotent_and_prints_json(cli_env):
    args = ("event", "add", "evt_temp09", "--name", "Inlet temperature", "--unit", "°C")
    first, again = run_app(*args, env=cli_env), run_app(*args, env=cli_env)
    assert first.returncode == 0 and again.returncode == 0
    assert json.loads(first.stdout) == json.loads(again.stdout) == {
        "public_id": "evt_temp09", "name": "Inlet temperature", "type": "sensor", "unit": "°C",
        "min_value": None, "max_value": None, "stale_after": None, "group": None, "stale": False}
    watched = run_app(*args, "--stale-after", "120", env=cli_env)
    assert watched.returncode == 0 and json.loads(watched.stdout)["stale_after"] == 120
    assert json.loads(watched.stdout)["stale"]  # no reading yet
    assert run_app(*args, "--stale-after", "0", env=cli_env).returncode == 2


def test_user_add_reads_the_password_from_the_environment_and_refuses_duplicates(cli_env, sql):
    env = {**cli_env, "WEBMACS_PASSWORD": "a long enough password"}
    created = run_app("user", "add", "Ops@Lab.Example", "--role", "operator", env=env)
    assert created.returncode == 0, created.stderr
    user = json.loads(created.stdout)
    assert user["email"] == "ops@lab.example" and user["role"] == "operator"
    assert "a long enough password" not in created.stdout and "scrypt$" not in created.stdout
    with sql.cursor() as cur:
        cur.execute("SELECT password_hash FROM users")
        assert cur.fetchone()[0].startswith("scrypt$")
    again = run_app("user", "add", "ops@lab.example", "--role", "viewer", env=env)
    assert again.returncode == 1 and "exists already" in again.stderr


def test_migrate_on_a_current_schema_changes_nothing(cli_env):
    result = run_app("migrate", env=cli_env)
    assert result.returncode == 0 and result.stdout.strip() == "schema is up to date"


def test_serve_answers_stops_cleanly_on_sigterm_and_welcomes_only_once(cli_env):
    outputs = []
    for _ in range(2):
        with serving(cli_env) as server:
            assert server.health()["status"] == "ok"
        outputs.append(server.output)
    assert all("shutting down" in output for output in outputs)
    assert "app.py simulate" in outputs[0] and "app.py simulate" not in outputs[1]
    # On the empty database the first start created an admin and showed its password, once.
    assert "Created the first user: admin@localhost (role admin), password: " in outputs[0]
    assert "password" not in outputs[1]


def test_serve_says_when_the_database_cannot_be_reached(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = run_app("serve", env={"DATABASE_URL": f"postgresql://u:hunter2@127.0.0.1:{closed_port}/x",
                                   "WEBMACS_VAR_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "cannot reach the database at postgresql://u:***@127.0.0.1" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def _one_clean_line(result: subprocess.CompletedProcess) -> str:
    """A failed command's stderr: one line, no traceback, no hash."""
    assert result.returncode != 0 and result.stdout == ""
    assert "Traceback" not in result.stderr and "scrypt" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_user_add_with_a_bad_email_says_so_in_one_line_without_the_password_hash(cli_env, sql):
    env = {**cli_env, "WEBMACS_PASSWORD": "a long enough password"}
    for email in ("not-an-email", "two@@example.org", "@example.org"):
        assert "is not an e-mail address" in _one_clean_line(run_app("user", "add", email, "--role", "viewer", env=env))
    with sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM users")
        assert cur.fetchone()[0] == 0


def test_user_add_without_a_password_or_a_terminal_says_how_to_give_one(cli_env):
    env = {key: value for key, value in cli_env.items() if key != "WEBMACS_PASSWORD"}
    result = subprocess.run([sys.executable, "app.py", "user", "add", "ops@lab.example", "--role", "viewer"],
                            cwd=ROOT, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60)
    assert "WEBMACS_PASSWORD" in _one_clean_line(result)


def test_a_second_server_on_a_busy_port_says_so_in_one_line(cli_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_app("serve", env={**cli_env, "PORT": str(port)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}")


@pytest.mark.parametrize("args, complaint", [
    (("--url", "http://127.0.0.1:8000"), "--url must start with ws:// or wss://"),
    (("--rate", "0"), "must be more than 0"),
    (("--batch", "-1"), "must be more than 0"),
])
def test_simulate_refuses_bad_arguments_in_one_line(cli_env, args, complaint):
    result = run_app("simulate", "--token", "x", "--events", "evt_temp01", *args, env=cli_env)
    assert result.returncode == 2 and complaint in result.stderr and "Traceback" not in result.stderr


def test_slow_clients_are_closed_after_the_http_timeouts_while_websockets_stay(cli_env):
    with serving({**cli_env, "HTTP_IDLE_TIMEOUT": "1", "HTTP_BODY_TIMEOUT": "1"}) as server:
        stream = socket.create_connection(("127.0.0.1", server.port))
        stream.sendall(b"GET /ws/datapoints/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert stream.recv(4096).startswith(b"HTTP/1.1 101")
        silent = socket.create_connection(("127.0.0.1", server.port))
        trickling = socket.create_connection(("127.0.0.1", server.port))
        trickling.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and the rest of the headers never
        stalled = socket.create_connection(("127.0.0.1", server.port))
        stalled.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"email\"")
        for slow in (silent, trickling, stalled):
            assert _closed_by_server_within(slow, 5.0)
            slow.close()
        stream.settimeout(0.5)  # quiet since its upgrade, well past the HTTP timeouts: still open
        with pytest.raises(TimeoutError):
            stream.recv(1)
        stream.close()


def _closed_by_server_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes the connection within `seconds` (whatever it says first)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    return True


def test_a_body_far_over_the_limit_gets_a_json_413_not_a_reset(cli_env):
    """Five times WS_MAX_MESSAGE_SIZE, told by Content-Length or only as the chunks arrive."""
    with serving({**cli_env, "WS_MAX_MESSAGE_SIZE": "1024"}) as server:
        for chunked in (False, True):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            body = b"x" * 5 * 1024
            connection.request("POST", "/api/v1/auth/login", body=iter([body]) if chunked else body,
                               headers={"Content-Type": "application/json"}, encode_chunked=chunked)
            response = connection.getresponse()
            answer = json.loads(response.read())
            assert response.status == 413, answer
            assert answer["error"]["message"] == "request body is larger than 1024 bytes"
            connection.close()


def _idle_connections(port: int, count: int, source: str) -> list[socket.socket]:
    """Connections from another loopback address that send nothing; those the kernel would not take are left out."""
    opened = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((source, 0))
        sock.settimeout(1.0)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        opened.append(sock)
    return opened


def _refused_with_503(sock: socket.socket) -> bool:
    sock.settimeout(0.2)
    try:
        return sock.recv(100).startswith(b"HTTP/1.1 503")
    except TimeoutError:
        return False  # admitted: the server waits for its request


def test_connections_over_the_caps_get_503_while_other_clients_are_served(cli_env):
    with serving({**cli_env, "MAX_CONNECTIONS_PER_ADDRESS": "20", "MAX_CONNECTIONS": "35"}) as server:
        flood = _idle_connections(server.port, 30, "127.0.0.2")
        time.sleep(0.5)
        assert sum(map(_refused_with_503, flood)) == 10  # over the 20 allowed from one address
        assert server.health()["connections_refused"] == 10  # from another address: served

        second = _idle_connections(server.port, 30, "127.0.0.3")
        time.sleep(0.5)
        assert sum(map(_refused_with_503, second)) == 30 - (35 - 20)  # the total cap: 35, 20 of them taken
        for sock in flood + second:
            sock.close()
        time.sleep(0.5)
        assert server.health()["status"] == "ok"  # closed connections no longer count


def test_running_out_of_file_descriptors_neither_spins_nor_floods_the_log(cli_env):
    env = {**cli_env, "MAX_CONNECTIONS": "100000", "MAX_CONNECTIONS_PER_ADDRESS": "0"}
    with serving(env, fd_limit=160) as server:
        flood = _idle_connections(server.port, 300, "127.0.0.2")
        process = psutil.Process(server.process.pid)
        time.sleep(1.0)
        before = sum(process.cpu_times()[:2])
        time.sleep(3.0)
        busy = sum(process.cpu_times()[:2]) - before
        assert busy < 1.0, f"{busy:.2f} s of CPU in 3 s with no descriptor left"  # a spinning loop takes ~3 s
        for sock in flood:
            sock.close()
        assert server.health()["status"] == "ok"  # accepting again once descriptors are free
    assert server.output.count("cannot accept connections") == 1, server.output[-2000:]
    assert "file descriptors: soft limit 160" in server.output


def test_the_quick_start_works_under_any_port_and_simulate_says_where_and_how_it_goes(cli_env, sql):
    """The README's quick start, as a newcomer types it, against a server on another port than 8000."""
    with serving(cli_env) as server:
        assert run_app("event", "add", "evt_quick", "--name", "Quick", "--unit", "°C", env=cli_env).returncode == 0
        token = run_app("controller", "add", "Rig 1", "--prefix", "evt_", env=cli_env).stdout.strip()
        simulate = subprocess.Popen(
            [sys.executable, "app.py", "simulate", "--url", f"ws://127.0.0.1:{server.port}", "--token", token,
             "--events", "evt_quick,evt_missing", "--rate", "20"],
            cwd=ROOT, env={**os.environ, **cli_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(6.5)
        simulate.send_signal(signal.SIGINT)
        out, err = simulate.communicate(timeout=30)
    assert f"to ws://127.0.0.1:{server.port}/ws/controller/telemetry (session sim-" in err
    assert token not in err + out
    assert "simulate: sent " in err and " acked " in err  # the progress line, every five seconds
    assert "unknown event 'evt_missing'; create it with: app.py event add evt_missing" in err
    summary = json.loads(out.strip().splitlines()[-1])
    with sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM datapoints d JOIN events e ON e.id = d.event_id"
                    " WHERE e.public_id = 'evt_quick'")
        assert cur.fetchone()[0] == summary["acked"] > 0
