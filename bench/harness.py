"""The server under test: start it (or attach to one), ask /healthz, run app.py commands, meter CPU and RSS."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PYTHON = sys.executable
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 20.0
EVENT_ADD_CONCURRENCY = 10  # `app.py event add` processes at once (history creates 50 events)
EMBEDDED_DATABASE = "webmacs"  # models/database.EMBEDDED_DATABASE: the database app.py creates in its embedded server


class BenchError(RuntimeError):
    """The benchmark cannot go on (server did not start, workers did not connect, ...)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raise_fd_limit() -> None:
    """1,000 subscribers need more descriptors than the usual soft limit of 1,024; inherited by children."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Server:
    """Where the server is and how to reach it; `env` is what app.py commands need to see the same state."""

    url: str
    pid: int
    env: dict[str, str]
    process: subprocess.Popen | None = None  # set when we started it
    var_dir: Path | None = None
    remove_var_dir: bool = False
    log_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    app_dir: Path = ROOT  # where app.py is run from: this checkout, or an exported older version
    pgdata: Path | None = None  # where its PostgreSQL keeps its data, when it is an embedded one we know of
    database_url: str = ""  # the DATABASE_URL it was started with; "" when it started its own embedded one

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def health(self) -> dict:
        """/healthz as a dict, whatever its status (503 still carries the counters)."""
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())

    def process_info(self) -> psutil.Process:
        return psutil.Process(self.pid)

    def postgres_processes(self) -> list[psutil.Process]:
        """The embedded PostgreSQL (postmaster and backends), when we know where its data lives."""
        if self.pgdata is None:
            return []
        try:
            postmaster = psutil.Process(int((self.pgdata / "postmaster.pid").read_text().split()[0]))
            return [postmaster, *postmaster.children(recursive=True)]
        except (OSError, ValueError, IndexError, psutil.Error):
            return []

    def shared_database_url(self) -> str:
        """A DATABASE_URL for another server process to share this one's database."""
        if self.pgdata is not None and not self.database_url:
            # postmaster.pid: pid, data directory, start time, port, socket directory, ... (pgserver listens
            # on a Unix socket only)
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            port, socket_dir = lines[3].strip(), lines[4].strip()
            return f"postgresql://postgres:@/{EMBEDDED_DATABASE}?host={socket_dir}&port={port}"
        url = self.database_url or self.env.get("DATABASE_URL", "")
        if not url:
            raise BenchError("cannot tell which database this server uses: start it with bench, or set DATABASE_URL")
        return url

    def app_command(self, *args: str) -> str:
        """Run `app.py ARGS` against the same secret and database as the server; its stdout."""
        done = subprocess.run([PYTHON, "app.py", *args], cwd=self.app_dir, env=self.env, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"app.py {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
        return done.stdout.strip()

    def create_events(self, public_ids: list[str]) -> None:
        # One process each, several at a time: every `app.py event add` pays Python's start-up.
        for start in range(0, len(public_ids), EVENT_ADD_CONCURRENCY):
            chunk = public_ids[start:start + EVENT_ADD_CONCURRENCY]
            running = [subprocess.Popen([PYTHON, "app.py", "event", "add", public_id, "--name", f"bench {public_id}"],
                                        cwd=self.app_dir, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True) for public_id in chunk]
            for public_id, process in zip(chunk, running, strict=True):
                _, errors = process.communicate(timeout=120)
                if process.returncode != 0:
                    raise BenchError(f"could not create event {public_id}: {errors.strip()[-500:]}")

    def controller_token(self, registered: bool = False) -> str:
        if registered:  # scoped to the bench's events: every reading passes the scope check and records its source
            return self.app_command("controller", "add", "bench", "--prefix", "bench_evt_")
        return self.app_command("token", "--role", "controller", "--subject", "bench")

    def admin_token(self) -> str:
        """For the HTTP API, which wants a signed-in role."""
        return self.app_command("token", "--role", "admin", "--subject", "bench@local")

    def create_rules(self, count: int, events: list[str], firing: bool = False) -> None:
        """`count` alarm rules spread over the events, of every condition, none of which the bench's readings
        (values around 1.7e9, the time they were made) meet: what a plant's rules do nearly all the time.
        `firing`: every reading meets every rule instead (an alarm storm: each alarm raised at the first
        reading, then active, every later reading counted against it)."""
        token = self.admin_token()
        shapes: tuple[dict[str, object], ...] = (
            {"condition": "above", "threshold": 1e12}, {"condition": "below", "threshold": 0},
            {"condition": "outside", "low": 0, "high": 1e12}, {"condition": "inside", "low": -2, "high": -1},
            {"condition": "no_data", "seconds": 3600})
        if firing:
            shapes = ({"condition": "above", "threshold": 0}, {"condition": "below", "threshold": 1e12},
                      {"condition": "outside", "low": -2, "high": -1}, {"condition": "inside", "low": 0, "high": 1e12})
        for n in range(count):
            body = {"name": f"bench rule {n}", "event_public_id": events[n % len(events)], **shapes[n % len(shapes)]}
            request = urllib.request.Request(self.url + "/api/v1/rules", data=json.dumps(body).encode(),
                                             headers={"Authorization": f"Bearer {token}",
                                                      "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                if response.status != 201:
                    raise BenchError(f"could not create a rule: {response.status}")


def start_server(var_dir: Path | None, extra_env: dict[str, str], log_dir: Path, app_dir: Path = ROOT, *,
                 database_url: str = "", jwt_secret: str = "", pgdata: Path | None = None) -> Server:
    """`app.py serve` on a free port with a fresh secret; returns once /healthz answers 200.

    Its database is the embedded one under var_dir, unless `database_url` (then `pgdata` may say where
    that database keeps its data, for metering its CPU); `jwt_secret` to accept another server's tokens."""
    remove_var_dir = var_dir is None
    var_dir = Path(tempfile.mkdtemp(prefix="webmacs-bench-")) if var_dir is None else var_dir
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "WEBMACS_VAR_DIR": str(var_dir),
           "WS_HEARTBEAT_INTERVAL": "30", "JWT_SECRET": jwt_secret or secrets.token_urlsafe(36),
           # Every subscriber and controller connects from 127.0.0.1: no cap per address (the default is 256).
           "MAX_CONNECTIONS_PER_ADDRESS": "0", **extra_env}
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env.pop("DATABASE_URL", None)  # the embedded database under var_dir
        pgdata = var_dir / "pgdata"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([PYTHON, "app.py", "serve"], cwd=app_dir, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(url=f"http://127.0.0.1:{port}", pid=process.pid, env=env, process=process, var_dir=var_dir,
                    remove_var_dir=remove_var_dir, log_path=log_path, extra_env=extra_env, app_dir=app_dir,
                    pgdata=pgdata, database_url=database_url)
    try:
        wait_healthy(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def code_version(app_dir: Path) -> dict[str, str]:
    """Which server code ran: the commit, and a digest of uncommitted changes to it (the code moves)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=app_dir, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:  # e.g. `git archive <commit>` exported to a directory named after the commit
        return {"app_dir": str(app_dir), "commit": f"not a git checkout (directory {app_dir.name})"}
    diff = git("diff", "HEAD", "--", ".", ":(exclude)bench", ":(exclude)tests")
    return {"app_dir": str(app_dir), "commit": commit,
            "uncommitted": hashlib.sha1(diff.encode()).hexdigest()[:10] if diff else "none",
            "uncommitted_files": git("diff", "HEAD", "--name-only", "--", ".", ":(exclude)bench", ":(exclude)tests")}


def attach_server(url: str, pid: int) -> Server:
    """An already running server; app.py commands use this process's environment."""
    server = Server(url=url.rstrip("/"), pid=pid, env=dict(os.environ))
    psutil.Process(pid)  # fails early on a wrong pid
    wait_healthy(server)
    return server


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise BenchError(f"server exited with {server.process.returncode}; see {server.log_path}")
        try:
            if server.health().get("status") == "ok":
                return
            last_problem = "database not reachable"
        except (OSError, ValueError) as error:
            last_problem = str(error)
        time.sleep(0.2)
    raise BenchError(f"server not healthy after {STARTUP_TIMEOUT:.0f}s: {last_problem}")


def stop_server(server: Server) -> None:
    """SIGINT (the server drains and exits cleanly), then wait for its embedded PostgreSQL to go too."""
    process = server.process
    if process is None:
        return
    # A server given a DATABASE_URL leaves that database running.
    postgres = [] if server.database_url else server.postgres_processes()[:1]
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    psutil.wait_procs(postgres, timeout=SHUTDOWN_TIMEOUT)
    if server.remove_var_dir and server.var_dir is not None:
        shutil.rmtree(server.var_dir, ignore_errors=True)


class CpuMeter:
    """CPU seconds (user + system) of a changing set of processes, as % of one core between reads."""

    def __init__(self, processes) -> None:
        self._processes = processes  # a callable: the set can change (PostgreSQL backends)
        self._last_cpu = self._cpu_seconds()
        self._last_time = time.monotonic()

    def _cpu_seconds(self) -> float:
        total = 0.0
        for process in self._processes():
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    def read(self) -> tuple[float, float]:
        """(% of one core since the previous read, CPU seconds since the previous read)."""
        cpu, now = self._cpu_seconds(), time.monotonic()
        used, elapsed = cpu - self._last_cpu, now - self._last_time
        self._last_cpu, self._last_time = cpu, now
        return (100.0 * used / elapsed if elapsed > 0 else 0.0), used


def rss_mb(process: psutil.Process) -> float:
    try:
        return process.memory_info().rss / 2**20
    except psutil.Error:
        return float("nan")
