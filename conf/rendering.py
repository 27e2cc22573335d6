"""Files rendered from `templates/` for deployment: the frontend env, the nginx config and the systemd unit."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import jinja2

from conf.profiles import NGINX_UNSAFE, SYSTEMD_UNSAFE, SYSTEMD_UNSAFE_PATH, Profile
from conf.settings import API_PAGE_LIMIT, ROOT, Settings, SettingsError
from models.activity import ACTIONS
from models.events import EVENT_TYPES
from models.roles import EDITORS, USER_ROLES
from models.users import MIN_PASSWORD

# These templates produce JavaScript, nginx config and a systemd unit, not HTML: HTML escaping would corrupt
# them. Values reach them validated, and anything a browser parses goes through `tojson`.
CONFIG_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(ROOT / "templates"),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def _nginx(value: object) -> str:
    text = str(value)
    if not text or NGINX_UNSAFE.search(text):
        raise SettingsError(f"refusing to write {text!r} into the nginx config: it could break out of the directive")
    return text


def _nginx_address(value: object) -> str:
    text = _nginx(value)
    if re.search(r"[^A-Za-z0-9.:\[\]_-]", text):
        raise SettingsError(f"refusing to write {text!r} into the nginx config as an address")
    return text


CONFIG_TEMPLATES.filters["nginx"] = _nginx
CONFIG_TEMPLATES.filters["nginx_address"] = _nginx_address


def _nginx_network(value: object) -> str:
    text = _nginx(value)
    if re.search(r"[^A-Za-z0-9.:/_-]", text):
        raise SettingsError(f"refusing to write {text!r} into the nginx config as a network")
    return text


CONFIG_TEMPLATES.filters["nginx_network"] = _nginx_network


def _systemd(value: object) -> str:
    text = str(value)
    if not text or SYSTEMD_UNSAFE.search(text):
        raise SettingsError(f"refusing to write {text!r} into the systemd unit: it could break out of the directive")
    return text


def _systemd_path(value: object) -> str:
    text = _systemd(value)
    if not text.startswith("/") or SYSTEMD_UNSAFE_PATH.search(text):
        raise SettingsError(f"refusing to write {text!r} into the systemd unit as an absolute path")
    return text


CONFIG_TEMPLATES.filters["systemd"] = _systemd
CONFIG_TEMPLATES.filters["systemd_path"] = _systemd_path


def frontend_env(settings: Settings, origin: str) -> dict[str, Any]:
    """What the dashboard needs to know, for a server that browsers reach at `origin`."""
    origin = origin.rstrip("/")
    socket_origin = "wss" + origin[len("https"):] if origin.startswith("https:") else "ws" + origin[len("http"):]
    return {
        "apiBaseUrl": f"{origin}/api/v1",
        "streamUrl": f"{socket_origin}/ws/datapoints/stream",
        "heartbeatIntervalMs": round(settings.heartbeat_interval * 1000),
        "reconnectBaseMs": round(settings.reconnect_base * 1000),
        "reconnectCapMs": round(settings.reconnect_cap * 1000),
        "reconnectAttempts": settings.reconnect_attempts,
        "pollIntervalMs": round(settings.poll_interval * 1000),
        "streamRetryMs": round(settings.stream_retry * 1000),
        "chartPoints": settings.chart_points,
        "pageSize": API_PAGE_LIMIT,
        "editorRoles": list(EDITORS),
        # The server's own lists, so that forms offer what the API accepts (one home: the models).
        "userRoles": list(USER_ROLES),
        "eventTypes": list(EVENT_TYPES),
        "minPassword": MIN_PASSWORD,
        "activityActions": list(ACTIONS),
    }


def render_frontend_env(settings: Settings, origin: str) -> str:
    return CONFIG_TEMPLATES.get_template("frontend/env.js.j2").render(env=frontend_env(settings, origin))


def render_nginx(profile: Profile, source: str) -> str:
    """The nginx config for a profile with a [proxy] table; `source` is how the header names the profile."""
    if profile.proxy is None:
        raise SettingsError(f"{profile.path}: has no [proxy] table, so there is no nginx config to render")
    return CONFIG_TEMPLATES.get_template("nginx/site.conf.j2").render(
        proxy=profile.proxy, settings=profile.settings(), source=source)


def render_systemd(profile: Profile, source: str) -> str:
    """The systemd template unit (one instance per port) for a profile with a [service] table."""
    if profile.service is None:
        raise SettingsError(f"{profile.path}: has no [service] table, so there is no systemd unit to render")
    if profile.proxy is not None:
        ports = sorted({int(backend.rpartition(":")[2]) for backend in profile.proxy.backends})
    else:
        ports = [profile.settings().port]
    # The service reads the profile from its own checkout when the profile lies in this one.
    path = profile.path.resolve()
    conf = f"{profile.service.working_directory}/{path.relative_to(ROOT)}" if path.is_relative_to(ROOT) else str(path)
    return CONFIG_TEMPLATES.get_template("systemd/webmacs@.service.j2").render(
        service=profile.service, ports=ports, conf=conf, source=source)


def write_output(text: str, destination: str) -> None:
    """Write to a file, replacing it atomically (readers see the old or the new file, never half),
    or to standard output for `-`."""
    if destination == "-":
        sys.stdout.write(text)
        return
    target = Path(destination)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as output:
            output.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
