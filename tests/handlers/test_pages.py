"""The dashboard's page, its env rendered per request, and the browser files the page imports."""

from __future__ import annotations

import json
import re

import pytest
from tornado.httpclient import HTTPClientError

from tests.helpers import env_of


async def fetch(server, path: str, **options):
    try:
        return await server.http.fetch(server.url(path, "http"), **options)
    except HTTPClientError as error:
        return error.response


@pytest.mark.gen_test
async def test_every_module_in_the_import_map_is_served_as_javascript(server):
    page = await fetch(server, "/")
    assert page.code == 200 and b'<div id="app">' in page.body
    found = re.search(rb'<script type="importmap">(.*?)</script>', page.body, re.S)
    assert found is not None, "the page has no import map"
    import_map = json.loads(found.group(1))
    for url in [*import_map["imports"].values(), "/static/app.js", "/static/realtime.js"]:
        response = await fetch(server, url)
        assert response.code == 200, url
        # Browsers refuse to run a module served under any other type.
        assert response.headers["Content-Type"].split(";")[0] in ("text/javascript", "application/javascript"), url


@pytest.mark.gen_test
async def test_env_points_the_browser_back_at_the_address_it_used(server):
    response = await fetch(server, "/static/env.js", headers={"Host": "lab-pc:8000"})
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    env = env_of(response.body.decode())
    assert env["apiBaseUrl"] == "http://lab-pc:8000/api/v1"
    assert env["streamUrl"] == "ws://lab-pc:8000/ws/datapoints/stream"
    assert env["heartbeatIntervalMs"] == round(server.app.config.heartbeat_interval * 1000)


@pytest.mark.settings(public_url="https://telemetry.example.org")
@pytest.mark.gen_test
async def test_env_uses_the_public_url_when_one_is_set(server):
    env = env_of((await fetch(server, "/static/env.js")).body.decode())
    assert env["streamUrl"] == "wss://telemetry.example.org/ws/datapoints/stream"


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/static/../app.py", "/static/vendor/vue/../../../app.py",
                                  "/static/vendor/../../package.json", "/static/%2e%2e/conf/settings.py"])
async def test_nothing_outside_static_and_the_vendored_modules_is_served(server, path):
    response = await fetch(server, path)
    assert response.code in (403, 404), path


@pytest.mark.settings(refuse_stream=True)
@pytest.mark.gen_test
async def test_the_test_switch_refuses_stream_upgrades_but_not_the_api(server):
    with pytest.raises(HTTPClientError) as refused:
        await server.connect("/ws/datapoints/stream")
    assert refused.value.code == 503
    status, _ = await server.api("GET", "/datapoints?after=0", token=server.token("viewer"))
    assert status == 200
