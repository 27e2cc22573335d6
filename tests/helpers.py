"""Short helpers so a test reads like the spec: connect, send a reading, receive, look in the database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import jwt
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from models.tokens import issue_token

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
SPEC_READING = {"event_public_id": "evt_temp01", "value": 23.45, "timestamp": "2025-01-15T14:32:10.000Z"}
SPEC_FIELDS = ("public_id", "value", "timestamp", "event_public_id", "experiment_public_id")
STREAM_FIELDS = {*SPEC_FIELDS, "cursor"}  # the spec's fields plus the polling cursor
WAIT = 5.0  # seconds: how long a test waits for something that should happen at once


class Peer:
    """One WebSocket client connection with JSON helpers."""

    def __init__(self, conn: WebSocketClientConnection) -> None:
        self.conn = conn

    def send(self, payload: Any) -> None:
        self.conn.write_message(payload if isinstance(payload, str) else json.dumps(payload))

    async def receive(self, timeout: float = WAIT) -> Any:
        text = await asyncio.wait_for(self.conn.read_message(), timeout)
        assert text is not None, f"connection closed: {self.conn.close_code} {self.conn.close_reason}"
        return json.loads(text)

    async def receive_many(self, count: int, timeout: float = WAIT) -> list[Any]:
        return [await self.receive(timeout) for _ in range(count)]

    async def nothing_within(self, seconds: float) -> bool:
        """True if no message arrives within `seconds`."""
        try:
            text = await asyncio.wait_for(self.conn.read_message(), seconds)
        except asyncio.TimeoutError:
            return True
        return text is None

    async def closed(self, timeout: float = WAIT) -> tuple[int | None, str | None]:
        """Wait until the server closes us; (code, reason)."""
        deadline = time.monotonic() + timeout
        while await asyncio.wait_for(self.conn.read_message(), max(0.01, deadline - time.monotonic())) is not None:
            pass
        return self.conn.close_code, self.conn.close_reason

    def close(self) -> None:
        self.conn.close()


class Server:
    """The running test server, as its users reach it: WebSockets, HTTP and the database behind it."""

    def __init__(self, app: Any, port: int, http_client: AsyncHTTPClient, sql: Any) -> None:
        self.app = app
        self.port = port
        self.http = http_client
        self.sql = sql

    def token(self, role: str = "controller", subject: str = "ctl-test", ttl: int = 3600) -> str:
        return issue_token(TEST_SECRET, subject, role, ttl)

    def forged_token(self, **claims: Any) -> str:
        """A token with the given claims, signed as the caller says (for the bad-token cases)."""
        algorithm = claims.pop("alg", "HS256")
        secret = claims.pop("secret", TEST_SECRET)
        body = {"sub": "ctl-test", "role": "controller", "exp": int(time.time()) + 3600, **claims}
        body = {key: value for key, value in body.items() if value is not None}
        return jwt.encode(body, secret if algorithm != "none" else None, algorithm=algorithm)

    def url(self, path: str, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def connect(self, path: str, headers: dict[str, str] | None = None, **options: Any) -> Peer:
        request = HTTPRequest(self.url(path), headers=headers or {})
        return Peer(await websocket_connect(request, **options))

    async def connect_controller(self, token: str | None = "valid", **options: Any) -> Peer:
        if token == "valid":
            token = self.token()
        query = "" if token is None else f"?token={token}"
        return await self.connect("/ws/controller/telemetry" + query, **options)

    async def connect_stream(self, query: str = "", **options: Any) -> Peer:
        peer = await self.connect("/ws/datapoints/stream" + query, **options)
        await self.wait_for(lambda: self.subscribers() >= 1)
        return peer

    def subscribers(self) -> int:
        from handlers.stream import StreamHandler
        return len(StreamHandler.subscribers)

    async def health(self) -> tuple[int, dict[str, Any]]:
        try:
            response = await self.http.fetch(self.url("/healthz", "http"))
        except HTTPClientError as error:
            response = error.response
        return response.code, json.loads(response.body)

    async def wait_for(self, condition: Callable[[], bool | Awaitable[bool]], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.01)

    def rows(self) -> list[dict[str, Any]]:
        """Every stored datapoint in the spec's shape (without the cursor), in insert order."""
        with self.sql.cursor() as cur:
            cur.execute(
                "SELECT d.public_id, d.value,"
                " to_char(d.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                " e.public_id, x.public_id"
                " FROM datapoints d JOIN events e ON e.id = d.event_id"
                " LEFT JOIN experiments x ON x.id = d.experiment_id ORDER BY d.id"
            )
            names = ("public_id", "value", "timestamp", "event_public_id", "experiment_public_id")
            return [dict(zip(names, row)) for row in cur.fetchall()]

    async def api(self, method: str, path: str, body: Any = None, token: str | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """(status, parsed JSON body) of a request to the HTTP API; errors are returned, not raised."""
        request_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
        payload = None if body is None else (body if isinstance(body, (str, bytes)) else json.dumps(body))
        if payload is None and method in ("POST", "PUT", "PATCH"):
            payload = ""
        try:
            response = await self.http.fetch(self.url("/api/v1" + path, "http"), method=method,
                                             headers=request_headers, body=payload)
        except HTTPClientError as error:
            response = error.response
        return response.code, json.loads(response.body) if response.body else None

    def execute(self, statement: str, *params: Any) -> None:
        with self.sql.cursor() as cur:
            cur.execute(statement, params)


def spec_shape(datapoint: dict[str, Any]) -> dict[str, Any]:
    """A stream or API datapoint without the fields beyond the spec's."""
    return {field: datapoint[field] for field in SPEC_FIELDS}


class Serving:
    """An `app.py serve` process on a free port, for tests that need the real entry point."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process, self.port, self.output = process, port, ""
        self.base_url = f"http://127.0.0.1:{port}"

    def health(self) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "server exited"
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as response:
                    return json.loads(response.read())
            except OSError:
                time.sleep(0.1)
        raise AssertionError("server did not answer /healthz")


@contextlib.contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[Serving]:
    """Run `app.py serve [args]` with this environment until the block ends, then SIGTERM it (must exit 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(env.get("PORT") or probe.getsockname()[1])
    # A file, not a pipe: nobody reads a pipe while the test runs, and a full one stalls the server.
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([sys.executable, "app.py", "serve", *args], cwd=ROOT,
                                   env={**os.environ, **env, "PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT)
        server = Serving(process, port)
        try:
            server.health()
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            log.seek(0)
            server.output = log.read()
    assert process.returncode == 0, server.output
