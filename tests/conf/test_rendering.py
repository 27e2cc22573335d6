"""`app.py render frontend-env`: the dashboard's env from the settings (and a profile), written safely."""

from __future__ import annotations

import pytest

from models.activity import ACTIONS
from models.events import EVENT_TYPES
from models.roles import USER_ROLES
from models.users import MIN_PASSWORD
from tests.helpers import env_of, run_app


def test_renders_urls_and_client_timings_from_the_settings(tmp_path):
    result = run_app("render", "frontend-env", "-o", "-", env={
        "PUBLIC_URL": "https://telemetry.example.org:8443", "WS_HEARTBEAT_INTERVAL": "20",
        "FRONTEND_RECONNECT_BASE": "0.5", "FRONTEND_RECONNECT_CAP": "4", "FRONTEND_POLL_INTERVAL": "3",
        "WEBMACS_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    env = env_of(result.stdout)
    assert env["apiBaseUrl"] == "https://telemetry.example.org:8443/api/v1"
    assert env["streamUrl"] == "wss://telemetry.example.org:8443/ws/datapoints/stream"
    assert (env["heartbeatIntervalMs"], env["reconnectBaseMs"], env["reconnectCapMs"], env["pollIntervalMs"]) \
        == (20000, 500, 4000, 3000)
    assert env["reconnectAttempts"] == 3


def test_the_env_carries_the_servers_own_lists_so_forms_offer_what_the_api_accepts(tmp_path):
    result = run_app("render", "frontend-env", "-o", "-",
                     env={"PUBLIC_URL": "http://lab.local", "WEBMACS_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    env = env_of(result.stdout)
    assert env["activityActions"] == list(ACTIONS)
    assert (env["userRoles"], env["eventTypes"], env["minPassword"]) == (list(USER_ROLES), list(EVENT_TYPES),
                                                                         MIN_PASSWORD)


def test_a_profile_feeds_the_env_and_the_environment_overrides_it(tmp_path):
    profile = tmp_path / "lab.toml"
    profile.write_text('[app]\nPUBLIC_URL = "http://lab.local"\nFRONTEND_POLL_INTERVAL = 5\n'
                       'FRONTEND_RECONNECT_ATTEMPTS = 4\n')
    output = tmp_path / "env.js"
    result = run_app("render", "frontend-env", "--conf", str(profile), "-o", str(output),
                     env={"FRONTEND_POLL_INTERVAL": "1.5", "WEBMACS_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    env = env_of(output.read_text())
    assert env["streamUrl"] == "ws://lab.local/ws/datapoints/stream"
    assert (env["pollIntervalMs"], env["reconnectAttempts"]) == (1500, 4)


@pytest.mark.parametrize("settings, complaint", [
    ({}, "PUBLIC_URL is empty"),
    ({"PUBLIC_URL": "telemetry.example.org"}, "PUBLIC_URL must look like https://"),
    ({"PUBLIC_URL": "http://x", "FRONTEND_RECONNECT_BASE": "10", "FRONTEND_RECONNECT_CAP": "2"},
     "FRONTEND_RECONNECT_CAP must not be shorter than FRONTEND_RECONNECT_BASE"),
    ({"PUBLIC_URL": "http://x", "FRONTEND_CHART_POINTS": "5000"}, "FRONTEND_CHART_POINTS must be between 1 and 1000"),
])
def test_bad_settings_are_named_and_the_existing_file_is_left_alone(tmp_path, settings, complaint):
    output = tmp_path / "env.js"
    output.write_text("// the deployed one\n")
    result = run_app("render", "frontend-env", "-o", str(output), env={
        "PUBLIC_URL": "", **settings, "WEBMACS_VAR_DIR": str(tmp_path)})
    assert result.returncode == 2 and complaint in result.stderr
    assert output.read_text() == "// the deployed one\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["env.js"]  # no temporary left behind


def test_a_url_cannot_break_out_of_the_json(tmp_path):
    result = run_app("render", "frontend-env", "-o", "-", env={
        "PUBLIC_URL": "http://x</script><script>alert(1)</script>", "WEBMACS_VAR_DIR": str(tmp_path)})
    assert result.returncode == 2 and "PUBLIC_URL must look like" in result.stderr and not result.stdout


def test_render_nginx_writes_the_profiles_config_or_prints_it(tmp_path):
    stdout = run_app("render", "nginx", "--conf", "conf/development.toml", "-o", "-")
    assert stdout.returncode == 0 and "upstream webmacs_backend" in stdout.stdout
    output = tmp_path / "site.conf"
    written = run_app("render", "nginx", "--conf", "conf/development.toml", "-o", str(output))
    assert written.returncode == 0 and output.read_text() == stdout.stdout


@pytest.mark.parametrize("args, complaint", [
    ((), "render nginx needs --conf PROFILE"),
    (("--conf", "conf/production.toml"), "[proxy] tls_certificate names /etc/letsencrypt"),
])
def test_render_nginx_refuses_without_a_usable_profile_and_writes_nothing(tmp_path, args, complaint):
    output = tmp_path / "site.conf"
    output.write_text("# the live config\n")
    result = run_app("render", "nginx", *args, "-o", str(output))
    assert result.returncode == 2 and complaint in result.stderr
    assert output.read_text() == "# the live config\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["site.conf"]


def test_render_nginx_needs_a_proxy_table(tmp_path):
    profile = tmp_path / "app-only.toml"
    profile.write_text("[app]\nPORT = 8000\n")
    result = run_app("render", "nginx", "--conf", str(profile), "-o", "-")
    assert result.returncode == 2 and "has no [proxy] table" in result.stderr and not result.stdout


def test_the_frontend_env_of_a_proxied_profile_uses_its_public_address(tmp_path):
    # The certificate files are nginx's: the env renders on a machine that does not have them.
    result = run_app("render", "frontend-env", "--conf", "conf/production.toml", "-o", "-",
                     env={"WEBMACS_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert env_of(result.stdout)["streamUrl"] == "wss://telemetry.example.org/ws/datapoints/stream"
