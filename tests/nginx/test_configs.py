"""Rendered nginx configs: what they contain, that they are current, and that a real nginx accepts them."""

from __future__ import annotations

import re
import subprocess

import pytest

from conf.profiles import Proxy, load_profile
from conf.rendering import render_nginx
from conf.settings import ROOT, SettingsError
from tests.nginx.helpers import check, render, write_profile

PROFILES = sorted((ROOT / "conf").glob("*.toml"))
APP = {"WS_HEARTBEAT_INTERVAL": 30}


def proxy_table(**changes):
    return {"server_names": ["telemetry.example.org"], "backends": ["127.0.0.1:8000"],
            "static_root": str(ROOT / "static"), "access_log": "/tmp/webmacs-test.access.log", **changes}


@pytest.fixture
def certificate(tmp_path, openssl) -> tuple[str, str]:
    """A throwaway self-signed certificate and key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=telemetry.example.org", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def test_development_and_production_profiles_are_committed():
    assert {path.stem for path in PROFILES} >= {"development", "production"}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda path: path.stem)
def test_rendered_configs_in_nginx_folder_are_current(profile):
    committed = ROOT / "nginx" / f"{profile.stem}.conf"
    command = f".venv/bin/python app.py render nginx --conf conf/{profile.name} -o nginx/{committed.name}"
    assert committed.exists(), f"missing; render it with: {command}"
    rendered = render_nginx(load_profile(profile, check_files=False), f"conf/{profile.name}")
    assert committed.read_text() == rendered, f"stale; render it again with: {command}"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda path: path.stem)
def test_nginx_accepts_every_committed_config(profile, nginx, certificate, tmp_path):
    text = (ROOT / "nginx" / f"{profile.stem}.conf").read_text()
    proxy = load_profile(profile, check_files=False).proxy
    assert proxy is not None, "a committed nginx config comes from a profile with a [proxy] table"
    if proxy.tls:  # the real certificate lives on the server; nginx -t only needs some certificate there
        assert proxy.tls_certificate is not None and proxy.tls_certificate_key is not None
        text = text.replace(proxy.tls_certificate, certificate[0]).replace(proxy.tls_certificate_key, certificate[1])
    text = text.replace(proxy.access_log, str(tmp_path / "access.log"))  # nginx -t opens it: no root paths
    result = check(nginx, text, tmp_path / "nginx")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("backends", [["127.0.0.1:8000"], ["10.0.0.5:8000", "10.0.0.6:8000", "[::1]:8002"]],
                         ids=["one-backend", "three-backends"])
def test_nginx_accepts_plain_http_with_any_number_of_backends(backends, nginx, tmp_path):
    app = {**APP, "BROADCAST_ACROSS_PROCESSES": len(backends) > 1}
    profile = write_profile(tmp_path, "variant", proxy=proxy_table(backends=backends), app=app)
    text = render(profile)
    found = re.search(r"upstream webmacs_backend \{(.*?)\}", text, re.S)
    assert found is not None, "no upstream block"
    upstream = found.group(1)
    lines = [line.strip() for line in upstream.strip().splitlines()]
    servers = [line.split()[1].rstrip(";") for line in lines if line.startswith("server")]
    assert servers == backends
    assert "keepalive 16;" in upstream
    result = check(nginx, text, tmp_path / "nginx")
    assert result.returncode == 0, result.stderr


def test_nginx_accepts_tls_with_a_self_signed_certificate(nginx, certificate, tmp_path):
    profile = write_profile(tmp_path, "tls", app=APP, proxy=proxy_table(
        tls_certificate=certificate[0], tls_certificate_key=certificate[1], https_port=8443))
    text = render(profile)
    assert "return 301 https://$host:8443$request_uri;" in text
    assert "listen 8443 ssl;" in text and "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert 'add_header Strict-Transport-Security "max-age=63072000" always;' in text
    result = check(nginx, text, tmp_path / "nginx")
    assert result.returncode == 0, result.stderr


def test_the_websocket_block_is_the_specs_with_forwarding_headers(tmp_path):
    profile = write_profile(tmp_path, "site", proxy=proxy_table(), app=APP)
    found = re.search(r"location /ws/ \{(.*?)\}", render(profile), re.S)
    assert found is not None, "no location /ws/ block"
    block = found.group(1)
    directives = [line.strip() for line in block.strip().splitlines()]
    assert directives == [
        "proxy_pass http://webmacs_backend;",
        "proxy_http_version 1.1;",
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $webmacs_connection_upgrade;",
        "proxy_read_timeout 86400;",
    ]


def test_static_files_gzip_and_security_headers_are_in_the_config(tmp_path):
    text = render(write_profile(tmp_path, "site", proxy=proxy_table(), app=APP))
    assert f"alias {ROOT / 'static'}/;" in text and "expires -1;" in text
    assert "gzip on;" in text and "application/javascript" in text
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert f"add_header {header} " in text
    assert re.search(r"location /api/ \{[^}]*proxy_pass http://webmacs_backend;", text)
    assert "Strict-Transport-Security" not in text  # only with TLS


def test_a_value_that_could_break_out_of_a_directive_is_refused_even_past_validation(tmp_path):
    profile = load_profile(write_profile(tmp_path, "site", proxy=proxy_table(), app=APP))
    for sneaky in ("/srv/static; } server { listen 81", "/srv/stat\nic", '/srv/"static"', "/srv/$uri"):
        forged = type(profile)(profile.path, profile.app, Proxy(**{**profile.proxy.__dict__, "static_root": sneaky}))
        with pytest.raises(SettingsError, match="could break out"):
            render_nginx(forged, "forged")
