"""A real nginx for tests: check a rendered config with `nginx -t`, or run it in front of the app."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conf.profiles import load_profile
from conf.rendering import render_nginx

INSTALL_HINT = "nginx is needed for these tests: on Debian or Ubuntu, apt-get install nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")


def nginx_binary() -> str | None:
    return os.environ.get("NGINX") or shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None)


def toml(value: Any) -> str:
    """Enough TOML for test profiles: strings, numbers, booleans, lists of them, and tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    return "\n".join(f"[{name}]\n" + "".join(f"{key} = {toml(item)}\n" for key, item in table.items())
                     for name, table in value.items())


def write_profile(directory: Path, name: str, **tables: dict[str, Any]) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(toml(tables))
    return path


def render(profile: Path, check_files: bool = True) -> str:
    return render_nginx(load_profile(profile, check_files=check_files), str(profile))


def main_config(prefix: Path, site: Path) -> Path:
    """A whole nginx.conf around a rendered site, with every path inside `prefix` (no root paths)."""
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "temp" / temp).mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the checkout's static/
    mime = f"include {MIME_TYPES};" if MIME_TYPES.exists() else "types { text/css css; text/javascript js; }"
    path = prefix / "nginx.conf"
    path.write_text(f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 256; }}
http {{
    {mime}
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    include {site};
}}
""")
    return path


def check(nginx: str, site_text: str, prefix: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on the rendered site inside a minimal main config."""
    prefix.mkdir(parents=True, exist_ok=True)
    site = prefix / "site.conf"
    site.write_text(site_text)
    config = main_config(prefix, site)
    return subprocess.run([nginx, "-t", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(config)],
                          capture_output=True, text=True, timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running(nginx: str, site_text: str, prefix: Path, port: int) -> Iterator[None]:
    """nginx in the foreground with this site until the block ends."""
    checked = check(nginx, site_text, prefix)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([nginx, "-p", str(prefix), "-e", str(prefix / "error.log"),
                                "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (prefix / "error.log").read_text()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "nginx did not start listening"
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
