"""Deployment profiles (`conf/*.toml`): the settings one deployment runs with, and the proxy in front of it."""

from __future__ import annotations

import dataclasses
import ipaddress
import posixpath
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conf import settings as config
from conf.settings import Settings, SettingsError

# Secrets belong in the environment (or a secrets manager), not in a file kept next to the code.
SECRET_SETTINGS = frozenset({"JWT_SECRET"})
DEFAULT_READ_TIMEOUT = 86400
# Anything that could end an nginx directive or start another: quotes, ; { } #, $ (a variable),
# backslashes and whitespace, newlines included. Checked here and again as values are rendered.
NGINX_UNSAFE = re.compile(r"[\s\"';{}#$\\]")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*\Z")
# What could end a systemd directive or change its meaning: control characters (a newline starts another
# directive), backslashes (escapes, line continuation), % (specifiers) and $ (variables, in ExecStart).
# Paths also refuse whitespace and quotes (which split and group words) and ; # (comments in some parsers).
SYSTEMD_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\%$]")
SYSTEMD_UNSAFE_PATH = re.compile(r"[\x00-\x1f\x7f\\%$\s\"';#]")
SYSTEM_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}\Z")  # a user or group name, as useradd accepts by default
HIDDEN_BY_PROTECT_HOME = ("/home", "/root", "/run/user")

_FIELDS = {f.metadata["env"]: f for f in dataclasses.fields(Settings)}
_ACCEPTED_TOML = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "Path": (str,),
                  "tuple[str, ...]": (list, str)}
_KIND_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "Path": "a string", "tuple[str, ...]": "a list of strings"}


class ProfileError(SettingsError):
    """A profile cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Proxy:
    """The `[proxy]` table: how nginx in front of the backends is set up."""

    server_names: tuple[str, ...]
    backends: tuple[str, ...]
    static_root: str
    listen_address: str | None = None
    http_port: int = 80
    https_port: int = 443
    tls_certificate: str | None = None
    tls_certificate_key: str | None = None
    body_size_limit: int | None = None  # None: four times WS_MAX_MESSAGE_SIZE, as the app itself allows
    websocket_read_timeout: int = DEFAULT_READ_TIMEOUT
    upstream_keepalive: int = 16
    access_log: str = "/var/log/nginx/webmacs.access.log"
    metrics_allow: tuple[str, ...] = ()  # addresses or networks that may scrape /metrics; none: nobody

    @property
    def tls(self) -> bool:
        return self.tls_certificate is not None

    def public_url(self) -> str:
        scheme, port, default = ("https", self.https_port, 443) if self.tls else ("http", self.http_port, 80)
        return f"{scheme}://{self.server_names[0]}" + ("" if port == default else f":{port}")


_PROXY_TYPES = {"server_names": list, "backends": list, "static_root": str, "listen_address": str, "http_port": int,
                "https_port": int, "tls_certificate": str, "tls_certificate_key": str, "body_size_limit": int,
                "websocket_read_timeout": int, "upstream_keepalive": int, "access_log": str, "metrics_allow": list}
_PROXY_REQUIRED = ("server_names", "backends", "static_root")


@dataclass(frozen=True)
class Service:
    """The `[service]` table: the systemd unit that runs `app.py serve` with this profile."""

    working_directory: str
    python: str
    var_dir: str  # not a key: [app] WEBMACS_VAR_DIR (relative to working_directory), else <working_directory>/var
    user: str = "webmacs"
    group: str = "webmacs"
    environment_file: str | None = None  # JWT_SECRET, DATABASE_URL: secrets stay out of the unit
    limit_nofile: int = 65536


_SERVICE_TYPES = {"user": str, "group": str, "working_directory": str, "python": str, "environment_file": str,
                  "limit_nofile": int}


@dataclass(frozen=True)
class Profile:
    path: Path
    app: dict[str, str]  # settings by variable name, as text, like the environment
    proxy: Proxy | None
    service: Service | None = None

    def settings(self, environ: Mapping[str, str] = {}, **overrides: Any) -> Settings:
        """The app's settings: the profile's, with the environment taking precedence."""
        values = dict(self.app)
        if self.proxy is not None:
            values.setdefault("PUBLIC_URL", self.proxy.public_url())
            values.setdefault("BEHIND_PROXY", "1")
        return config.load({**values, **environ}, **overrides)


def load_profile(path: Path, check_files: bool = True) -> Profile:
    """Read and check a profile; ProfileError names the file and the first bad key.

    check_files=False skips looking for the certificate files (for rendering on another machine).
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProfileError(f"{path}: cannot read it ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProfileError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(document) - {"app", "proxy", "service"})
    if unknown:
        raise ProfileError(f"{path}: unknown key {unknown[0]!r} (a profile has [app], [proxy] and [service] tables)")
    for table in ("app", "proxy", "service"):
        if not isinstance(document.get(table, {}), dict):
            raise ProfileError(f"{path}: {table} must be a table")
    app = {name: _as_text(path, name, value) for name, value in document.get("app", {}).items()}
    proxy = _proxy(path, document["proxy"], check_files) if "proxy" in document else None
    service = _service(path, document["service"], app) if "service" in document else None
    profile = Profile(path, app, proxy, service)
    try:
        settings = profile.settings()
    except SettingsError as error:
        raise ProfileError(f"{path}: [app] {error}") from None
    if proxy is not None:
        _check_against_app(path, proxy, settings)
    return profile


def settings_for(path: Path | None, environ: Mapping[str, str], **overrides: Any) -> Settings:
    """Settings from the profile if one is given, with the environment taking precedence over it.

    The certificate files are nginx's business (and often unreadable to the app's user): not looked for.
    """
    if path is None:
        return config.load(environ, **overrides)
    return load_profile(path, check_files=False).settings(environ, **overrides)


def _as_text(path: Path, name: str, value: Any) -> str:
    if name not in _FIELDS:
        raise ProfileError(f"{path}: [app] unknown setting {name!r} (`app.py settings` lists them)")
    if name in SECRET_SETTINGS:
        raise ProfileError(f"{path}: [app] {name} does not belong in a profile: set it in the environment")
    kind = _FIELDS[name].type
    assert isinstance(kind, str)  # settings.py postpones annotations, so a field's type is its source text
    if not isinstance(value, _ACCEPTED_TOML[kind]) or (isinstance(value, bool) and kind != "bool"):
        raise ProfileError(f"{path}: [app] {name} must be {_KIND_NAMES[kind]}")
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ProfileError(f"{path}: [app] {name} must be a list of strings")
        return ",".join(value)
    return str(value)


def _proxy(path: Path, table: dict[str, Any], check_files: bool) -> Proxy:
    def bad(key: str, message: str) -> ProfileError:
        return ProfileError(f"{path}: [proxy] {key} {message}")

    for key, value in table.items():
        kind = _PROXY_TYPES.get(key)
        if kind is None:
            raise bad(key, f"is not a key of [proxy] (known: {', '.join(_PROXY_TYPES)})")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad(key, "must be " + {list: "a list of strings", str: "a string", int: "an integer"}[kind])
    for key in _PROXY_REQUIRED:
        if key not in table:
            raise bad(key, "is required")

    names = table["server_names"]
    if not names or not all(isinstance(name, str) and HOSTNAME.match(name) for name in names):
        raise bad("server_names", "must list host names such as telemetry.example.org")
    backends = table["backends"]
    if not backends:
        raise bad("backends", "must list at least one address")
    for backend in backends:
        if not isinstance(backend, str) or not _is_address(backend):
            raise bad("backends", f"has {backend!r}; each must be host:port, e.g. 127.0.0.1:8000")
    if not table["static_root"].startswith("/") or not _is_plain(table["static_root"]):
        raise bad("static_root", "must be an absolute path without spaces, quotes, ; { } or $")
    if "listen_address" in table and not _is_ip(table["listen_address"]):
        raise bad("listen_address", "must be an IP address such as 127.0.0.1")
    for key in ("http_port", "https_port"):
        if key in table and not 0 < table[key] < 65536:
            raise bad(key, "must be between 1 and 65535")
    if ("tls_certificate" in table) != ("tls_certificate_key" in table):
        raise bad("tls_certificate" if "tls_certificate_key" in table else "tls_certificate_key",
                  "is required with the other: TLS needs both the certificate and its key")
    if "access_log" in table and (not table["access_log"].startswith("/") or not _is_plain(table["access_log"])):
        raise bad("access_log", "must be an absolute path without spaces, quotes, ; { } or $")
    for key in ("tls_certificate", "tls_certificate_key"):
        if key in table:
            if not table[key].startswith("/") or not _is_plain(table[key]):
                raise bad(key, "must be an absolute path without spaces, quotes, ; { } or $")
            if check_files and not Path(table[key]).is_file():
                raise bad(key, f"names {table[key]}, which does not exist")
    for key in ("body_size_limit", "websocket_read_timeout", "upstream_keepalive"):
        if key in table and table[key] < 1:
            raise bad(key, "must be at least 1")
    for network in table.get("metrics_allow", []):
        if not isinstance(network, str) or not _is_network(network):
            raise bad("metrics_allow", f"has {network!r}; each must be an address or network such as 10.0.0.5 "
                                       "or 10.0.0.0/24")
    # Each value was checked above; TOML arrays become the tuples Proxy declares.
    fields: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value for key, value in table.items()}
    return Proxy(**fields)


def _service(path: Path, table: dict[str, Any], app: Mapping[str, str]) -> Service:
    def bad(key: str, message: str, section: str = "service") -> ProfileError:
        return ProfileError(f"{path}: [{section}] {key} {message}")

    def check_path(key: str, value: str, section: str = "service") -> None:
        if not value.startswith("/") or value != posixpath.normpath(value) or SYSTEMD_UNSAFE_PATH.search(value):
            raise bad(key, "must be an absolute path (no ., .. or trailing /) without spaces, quotes, \\, %, $, ; "
                           "or #", section)
        hidden = next((top for top in HIDDEN_BY_PROTECT_HOME if value == top or value.startswith(top + "/")), None)
        if hidden:
            raise bad(key, f"is under {hidden}, which the unit hides from the service (ProtectHome=true): "
                           "use a path such as /srv/webmacs", section)

    for key, value in table.items():
        kind = _SERVICE_TYPES.get(key)
        if kind is None:
            raise bad(key, f"is not a key of [service] (known: {', '.join(_SERVICE_TYPES)})")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad(key, "must be " + {str: "a string", int: "an integer"}[kind])
    if "working_directory" not in table:
        raise bad("working_directory", "is required: the checkout the service runs, e.g. /srv/webmacs")
    for key in ("user", "group"):
        if key in table and not SYSTEM_NAME.match(table[key]):
            raise bad(key, "must be a name such as webmacs: lower-case letters, digits, _ and -")
        if table.get(key) == "root":
            raise bad(key, "must not be root: the server needs no privileges")
    for key in ("working_directory", "python", "environment_file"):
        if key in table:
            check_path(key, table[key])
    if "limit_nofile" in table and not 1024 <= table["limit_nofile"] <= 1048576:
        raise bad("limit_nofile", "must be between 1024 and 1048576 (Linux's default fs.nr_open)")
    directory = table["working_directory"]
    # The service runs in working_directory, so a relative WEBMACS_VAR_DIR means a directory inside it.
    var_dir = posixpath.normpath(posixpath.join(directory, app.get("WEBMACS_VAR_DIR") or "var"))
    check_path("WEBMACS_VAR_DIR", var_dir, section="app")
    user = table.get("user", "webmacs")
    return Service(working_directory=directory, python=table.get("python", f"{directory}/.venv/bin/python"),
                   var_dir=var_dir, user=user, group=table.get("group", user),
                   environment_file=table.get("environment_file"), limit_nofile=table.get("limit_nofile", 65536))


def _check_against_app(path: Path, proxy: Proxy, settings: Settings) -> None:
    """What would make nginx and the app disagree."""
    heartbeat = settings.heartbeat_interval
    if heartbeat and proxy.websocket_read_timeout < 2 * heartbeat:
        raise ProfileError(f"{path}: [proxy] websocket_read_timeout ({proxy.websocket_read_timeout} s) must be "
                           f"at least twice WS_HEARTBEAT_INTERVAL ({heartbeat:g} s), or nginx closes idle sockets "
                           "between pings")
    if len(proxy.backends) > 1 and not settings.broadcast_across_processes:
        raise ProfileError(f"{path}: [proxy] backends lists {len(proxy.backends)} processes, so [app] needs "
                           "BROADCAST_ACROSS_PROCESSES = true, or each dashboard sees only its own process's "
                           "datapoints")
    if proxy.body_size_limit is not None and proxy.body_size_limit < settings.max_message_size:
        raise ProfileError(f"{path}: [proxy] body_size_limit must be at least WS_MAX_MESSAGE_SIZE "
                           f"({settings.max_message_size}), or nginx refuses bodies the app accepts")


def _is_plain(text: str) -> bool:
    return not NGINX_UNSAFE.search(text)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _is_address(text: str) -> bool:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdecimal() or not 0 < int(port) < 65536:
        return False
    if host.startswith("[") and host.endswith("]"):
        return _is_ip(host[1:-1]) and ":" in host
    return _is_ip(host) or bool(HOSTNAME.match(host))
