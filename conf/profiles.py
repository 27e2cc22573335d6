"""Deployment profiles: TOML files (`conf/*.toml`) naming the settings one deployment runs with."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, Mapping

from conf import settings as config
from conf.settings import Settings, SettingsError

# Secrets belong in the environment (or a secrets manager), not in a file kept next to the code.
SECRET_SETTINGS = frozenset({"JWT_SECRET"})
_FIELDS = {f.metadata["env"]: f for f in dataclasses.fields(Settings)}
_ACCEPTED_TOML = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "Path": (str,),
                  "tuple[str, ...]": (list, str)}
_KIND_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "Path": "a string", "tuple[str, ...]": "a list of strings"}


class ProfileError(SettingsError):
    """A profile cannot be used; the message names the file and the key."""


def load_profile(path: Path) -> dict[str, str]:
    """The profile's `[app]` table as environment-style text values, each checked against its setting."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProfileError(f"{path}: cannot read it ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProfileError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(document) - {"app"})
    if unknown:
        raise ProfileError(f"{path}: unknown key {unknown[0]!r} (a profile has an [app] table)")
    app = document.get("app", {})
    if not isinstance(app, dict):
        raise ProfileError(f"{path}: app must be a table of settings")
    values = {name: _as_text(path, name, value) for name, value in app.items()}
    try:
        config.load(values)
    except SettingsError as error:
        raise ProfileError(f"{path}: [app] {error}") from None
    return values


def settings_for(profile: Path | None, environ: Mapping[str, str], **overrides: Any) -> Settings:
    """Settings from the profile, with the environment taking precedence over it."""
    values = load_profile(profile) if profile is not None else {}
    return config.load({**values, **environ}, **overrides)


def _as_text(path: Path, name: str, value: Any) -> str:
    if name not in _FIELDS:
        raise ProfileError(f"{path}: [app] unknown setting {name!r} (`app.py settings` lists them)")
    if name in SECRET_SETTINGS:
        raise ProfileError(f"{path}: [app] {name} does not belong in a profile: set it in the environment")
    kind = _FIELDS[name].type
    if not isinstance(value, _ACCEPTED_TOML[kind]) or (isinstance(value, bool) and kind != "bool"):
        raise ProfileError(f"{path}: [app] {name} must be {_KIND_NAMES[kind]}")
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ProfileError(f"{path}: [app] {name} must be a list of strings")
        return ",".join(value)
    return str(value)
