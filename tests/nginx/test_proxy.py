"""End to end through a real nginx: controllers, dashboards, the API and static files, and idle sockets."""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from conf.settings import ROOT
from models.tokens import issue_token
from tests.helpers import SPEC_READING, serving, spec_shape
from tests.nginx.helpers import free_port, render, running, write_profile

SECRET = "n" * 48
READ_TIMEOUT = 2  # nginx's proxy_read_timeout in these tests, in place of 86400


class Stack:
    """`app.py serve --conf PROFILE` with nginx rendered from the same profile in front of it."""

    def __init__(self, port: int, app, access_log: Path | None = None) -> None:
        self.port, self.app, self.access_log = port, app, access_log

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def get(self, path: str, token: str | None = None):
        request = urllib.request.Request(self.url(path), headers={"Authorization": f"Bearer {token}"} if token else {})
        return urllib.request.urlopen(request, timeout=5)

    async def socket(self, path: str, origin: str | None = None):
        headers = {"Origin": origin} if origin else {}
        return await websocket_connect(HTTPRequest(self.url(path, "ws"), headers=headers))


@pytest.fixture
def stack(request, nginx, database_url, sql, tmp_path):
    changes = getattr(request, "param", {})  # heartbeat, and [proxy] keys
    heartbeat = changes.pop("heartbeat", 0.5)
    app_port, nginx_port = free_port(), free_port()
    profile = write_profile(tmp_path, "e2e", app={"WS_HEARTBEAT_INTERVAL": heartbeat}, proxy={
        "server_names": ["127.0.0.1"], "listen_address": "127.0.0.1", "http_port": nginx_port,
        "backends": [f"127.0.0.1:{app_port}"], "static_root": str(ROOT / "static"),
        "websocket_read_timeout": READ_TIMEOUT, "access_log": str(tmp_path / "access.log"), **changes})
    env = {"DATABASE_URL": database_url, "WEBMACS_VAR_DIR": str(tmp_path), "JWT_SECRET": SECRET,
           "PORT": str(app_port)}
    with serving(env, "--conf", str(profile)) as app, running(nginx, render(profile), tmp_path / "nginx", nginx_port):
        yield Stack(nginx_port, app, tmp_path / "access.log")


def controller_token() -> str:
    return issue_token(SECRET, "ctl-1", "controller", 3600)


async def until_subscribed(stack: Stack, count: int = 1) -> None:
    while stack.app.health()["subscribers"] < count:
        await asyncio.sleep(0.02)


def test_the_specs_reading_goes_through_nginx_to_a_subscriber_and_the_database(stack, sql):
    async def scenario():
        # As a browser on the dashboard would: nginx forwards Host without the port, so the app must
        # know its public URL to recognise the page's own origin.
        subscriber = await stack.socket("/ws/datapoints/stream", origin=stack.url(""))
        controller = await stack.socket(f"/ws/controller/telemetry?token={controller_token()}")
        await until_subscribed(stack)
        controller.write_message(json.dumps({**SPEC_READING, "seq": 1}))
        ack = json.loads(await asyncio.wait_for(controller.read_message(), 5))
        received = json.loads(await asyncio.wait_for(subscriber.read_message(), 5))
        controller.close()  # nginx logs a WebSocket request when it ends
        await asyncio.wait_for(controller.read_message(), 5)
        return ack, received

    ack, received = asyncio.run(scenario())
    assert ack["type"] == "ack" and ack["public_ids"] == [received["public_id"]]
    assert spec_shape(received) == {"public_id": received["public_id"], "experiment_public_id": None, **SPEC_READING}
    with sql.cursor() as cur:
        cur.execute("SELECT 'dp_' || id, value FROM datapoints")
        assert cur.fetchall() == [(received["public_id"], 23.45)]

    viewer = issue_token(SECRET, "someone@lab", "viewer", 3600)
    with stack.get(f"/api/v1/datapoints/{received['public_id']}", token=viewer) as response:
        assert spec_shape(json.load(response)) == spec_shape(received)

    logged = stack.access_log.read_text()
    assert "GET /ws/controller/telemetry HTTP/1.1" in logged and "token" not in logged  # tokens stay secret


def test_static_files_come_from_nginx_and_the_env_names_the_proxy(stack):
    with stack.get("/static/dashboard.css") as response:
        assert response.read() == (ROOT / "static" / "dashboard.css").read_bytes()
        assert response.headers["Expires"]  # set by nginx's `expires`; the app sets no Expires
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    with stack.get("/static/env.js") as response:  # not rendered into static/, so the app renders it
        assert f'"streamUrl": "ws://127.0.0.1:{stack.port}/ws/datapoints/stream"' in response.read().decode()
    with stack.get("/") as response:
        assert b'<script type="importmap">' in response.read()


def test_heartbeats_keep_an_idle_proxied_socket_open_past_the_read_timeout(stack):
    async def scenario():
        subscriber = await stack.socket("/ws/datapoints/stream")
        await until_subscribed(stack)
        await asyncio.sleep(2.5 * READ_TIMEOUT)  # idle, as a dashboard at night
        controller = await stack.socket(f"/ws/controller/telemetry?token={controller_token()}")
        controller.write_message(json.dumps(SPEC_READING))
        return json.loads(await asyncio.wait_for(subscriber.read_message(), 5))

    assert asyncio.run(scenario())["value"] == 23.45


@pytest.mark.parametrize("stack", [{"heartbeat": 0}], indirect=True, ids=["heartbeats-off"])
def test_without_heartbeats_nginx_closes_the_idle_socket(stack):
    # The control for the test above: the same idle socket, no pings, and nginx's timeout cuts it.
    async def scenario():
        subscriber = await stack.socket("/ws/datapoints/stream")
        return await asyncio.wait_for(subscriber.read_message(), 4 * READ_TIMEOUT)

    assert asyncio.run(scenario()) is None


def test_the_app_throttles_real_client_addresses_behind_nginx(stack):
    def failed_login(source: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=5, source_address=(source, 0))
        connection.request("POST", "/api/v1/auth/login", json.dumps({"email": "x@lab", "password": "wrong"}),
                           {"Content-Type": "application/json"})
        status = connection.getresponse().status
        connection.close()
        return status

    assert [failed_login("127.0.0.3") for _ in range(6)] == [401] * 5 + [429]
    assert failed_login("127.0.0.4") == 401  # another client, though nginx's own address is the same


def test_without_a_proxy_forwarded_headers_are_not_trusted(database_url, sql, tmp_path):
    env = {"DATABASE_URL": database_url, "WEBMACS_VAR_DIR": str(tmp_path), "JWT_SECRET": SECRET}
    with serving(env) as app:
        statuses = []
        for attempt in range(6):
            request = urllib.request.Request(
                f"{app.base_url}/api/v1/auth/login", data=json.dumps({"email": "x@lab", "password": "wrong"}).encode(),
                headers={"Content-Type": "application/json", "X-Forwarded-For": f"10.9.8.{attempt}"})
            try:
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        assert statuses == [401] * 5 + [429]  # a forged address per attempt does not dodge the throttle


def test_with_two_backends_every_dashboard_gets_every_datapoint_once(nginx, database_url, sql, tmp_path):
    ports, nginx_port = [free_port(), free_port()], free_port()
    profile = write_profile(tmp_path, "pair", app={"WS_HEARTBEAT_INTERVAL": 30, "BROADCAST_ACROSS_PROCESSES": True},
                            proxy={"server_names": ["127.0.0.1"], "listen_address": "127.0.0.1",
                                   "http_port": nginx_port, "backends": [f"127.0.0.1:{port}" for port in ports],
                                   "static_root": str(ROOT / "static"), "access_log": str(tmp_path / "access.log")})
    env = {"DATABASE_URL": database_url, "WEBMACS_VAR_DIR": str(tmp_path), "JWT_SECRET": SECRET}
    with serving({**env, "PORT": str(ports[0])}, "--conf", str(profile)) as first, \
            serving({**env, "PORT": str(ports[1])}, "--conf", str(profile)) as second, \
            running(nginx, render(profile), tmp_path / "nginx", nginx_port):
        stack = Stack(nginx_port, first)

        async def scenario():
            subscribers = [await stack.socket("/ws/datapoints/stream") for _ in range(2)]
            # nginx takes turns, so the two dashboards sit on different processes.
            while [first.health()["subscribers"], second.health()["subscribers"]] != [1, 1]:
                await asyncio.sleep(0.05)
            controller = await stack.socket(f"/ws/controller/telemetry?token={controller_token()}")
            controller.write_message(json.dumps({"datapoints": [SPEC_READING, {**SPEC_READING, "value": 1.5}]}))
            received = [[json.loads(await asyncio.wait_for(s.read_message(), 5)) for _ in range(2)]
                        for s in subscribers]
            for subscriber in subscribers:
                with pytest.raises(asyncio.TimeoutError):  # nothing twice
                    await asyncio.wait_for(subscriber.read_message(), 0.5)
            return received

        received = asyncio.run(scenario())
    assert [[datapoint["value"] for datapoint in got] for got in received] == [[23.45, 1.5], [23.45, 1.5]]
    assert received[0] == received[1]


def test_metrics_are_not_served_through_nginx_by_default(stack):
    with pytest.raises(urllib.error.HTTPError) as refused:
        stack.get("/metrics")
    assert refused.value.code == 403
    with urllib.request.urlopen(stack.app.base_url + "/metrics", timeout=5) as direct:  # the app itself serves it
        assert b"webmacs_readings_accepted_total" in direct.read()


@pytest.mark.parametrize("stack", [{"metrics_allow": ["127.0.0.0/8"]}], indirect=True, ids=["metrics-allowed"])
def test_metrics_are_served_through_nginx_to_the_addresses_the_profile_names(stack):
    with stack.get("/metrics") as response:
        assert b"webmacs_readings_accepted_total" in response.read()
