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
