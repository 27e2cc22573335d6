"""Deployment profiles: every mistake is named with its file and key before anything uses the profile."""

from __future__ import annotations

import pytest

from conf.profiles import ProfileError, load_profile, settings_for


def profile(tmp_path, text: str):
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def test_app_settings_are_read_by_their_variable_names(tmp_path):
    path = profile(tmp_path, '[app]\nPORT = 8001\nSTREAM_REQUIRE_TOKEN = true\n'
                             'ALLOWED_ORIGINS = ["https://a.example", "https://b.example"]\n')
    settings = settings_for(path, environ={})
    assert settings.port == 8001 and settings.stream_require_token
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings_for(path, environ={"PORT": "9000"}).port == 9000  # the environment wins


@pytest.mark.parametrize("text, complaint", [
    ("[app]\nPORTT = 1\n", "[app] unknown setting 'PORTT'"),
    ("[nginx]\nport = 1\n", "unknown key 'nginx'"),
    ("[app]\nPORT = \"80\"\n", "[app] PORT must be an integer"),
    ("[app]\nWS_HEARTBEAT_INTERVAL = true\n", "[app] WS_HEARTBEAT_INTERVAL must be a number"),
    ("[app]\nALLOWED_ORIGINS = [1]\n", "[app] ALLOWED_ORIGINS must be a list of strings"),
    ("[app]\nPORT = 70000\n", "[app] PORT must be between 1 and 65535"),
    ("[app]\nJWT_SECRET = \"x\"\n", "[app] JWT_SECRET does not belong in a profile"),
    ("app = 3\n", "app must be a table"),
    ("[app\n", "not valid TOML"),
])
def test_mistakes_are_named_with_the_file_and_key(tmp_path, text, complaint):
    path = profile(tmp_path, text)
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    assert str(raised.value).startswith(f"{path}: ") and complaint in str(raised.value)


def test_a_missing_profile_is_named(tmp_path):
    with pytest.raises(ProfileError, match="missing.toml: cannot read it"):
        load_profile(tmp_path / "missing.toml")


PROXY = ('[proxy]\nserver_names = ["telemetry.example.org"]\nbackends = ["127.0.0.1:8000"]\n'
         'static_root = "/srv/webmacs/static"\n')


def test_a_proxy_gives_the_app_its_public_url_and_trust_in_forwarded_headers(tmp_path):
    settings = load_profile(profile(tmp_path, PROXY + "http_port = 8080\n")).settings()
    assert settings.public_url == "http://telemetry.example.org:8080" and settings.behind_proxy


@pytest.mark.parametrize("extra, complaint", [
    ("port = 80\n", "[proxy] port is not a key of [proxy]"),
    ("http_port = 0\n", "[proxy] http_port must be between 1 and 65535"),
    ("https_port = \"443\"\n", "[proxy] https_port must be an integer"),
    ("listen_address = \"localhost\"\n", "[proxy] listen_address must be an IP address"),
    ("tls_certificate = \"/etc/ssl/site.pem\"\n", "[proxy] tls_certificate_key is required with the other"),
    ("tls_certificate = \"/nowhere/site.pem\"\ntls_certificate_key = \"/nowhere/site.key\"\n",
     "[proxy] tls_certificate names /nowhere/site.pem, which does not exist"),
    ("websocket_read_timeout = 45\n[app]\nWS_HEARTBEAT_INTERVAL = 30\n",
     "[proxy] websocket_read_timeout (45 s) must be at least twice WS_HEARTBEAT_INTERVAL (30 s)"),
    ("body_size_limit = 1000\n", "[proxy] body_size_limit must be at least WS_MAX_MESSAGE_SIZE"),
])
def test_proxy_mistakes_are_named(tmp_path, extra, complaint):
    path = profile(tmp_path, PROXY + extra)
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    assert complaint in str(raised.value)


@pytest.mark.parametrize("key, line, complaint", [
    ("server_names", 'server_names = ["bad name;"]', "must list host names"),
    ("server_names", "server_names = []", "must list host names"),
    ("backends", 'backends = ["127.0.0.1"]', "each must be host:port"),
    ("backends", 'backends = ["127.0.0.1:99999"]', "each must be host:port"),
    ("backends", "backends = []", "at least one address"),
    ("static_root", 'static_root = "relative/static"', "must be an absolute path"),
    ("static_root", 'static_root = "/srv/a b"', "without spaces"),
])
def test_bad_names_addresses_and_paths_are_named(tmp_path, key, line, complaint):
    text = "\n".join(line if existing.startswith(key) else existing for existing in PROXY.splitlines()) + "\n"
    with pytest.raises(ProfileError) as raised:
        load_profile(profile(tmp_path, text))
    assert f"[proxy] {key}" in str(raised.value) and complaint in str(raised.value)


@pytest.mark.parametrize("missing", ["server_names", "backends", "static_root"])
def test_required_proxy_keys_are_named(tmp_path, missing):
    text = "".join(line + "\n" for line in PROXY.splitlines() if not line.startswith(missing))
    with pytest.raises(ProfileError, match=rf"\[proxy\] {missing} is required"):
        load_profile(profile(tmp_path, text))


def test_several_backends_need_the_cross_process_broadcast(tmp_path):
    text = PROXY.replace('["127.0.0.1:8000"]', '["127.0.0.1:8000", "127.0.0.1:8001"]')
    with pytest.raises(ProfileError, match=r"\[app\] needs BROADCAST_ACROSS_PROCESSES = true"):
        load_profile(profile(tmp_path, text))
    relayed = load_profile(profile(tmp_path, text + "[app]\nBROADCAST_ACROSS_PROCESSES = true\n"))
    assert relayed.settings().broadcast_across_processes
