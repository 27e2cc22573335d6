"""Fixtures for the real-browser tests: the system's Chromium, and users to sign in as."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.browser.helpers import PASSWORD_HASH

INSTALL_HINT = "Chromium is needed for the browser tests: on Debian or Ubuntu, apt-get install chromium"


@pytest.fixture
def chromium() -> str:
    """Path of the system's Chromium; Playwright's own browser download is never used."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT + " (.ci/run installs it)")
        pytest.skip(INSTALL_HINT)
    return path


@pytest.fixture
def users(server):
    for email, role in (("op@lab.example", "operator"), ("viewer@lab.example", "viewer")):
        server.execute("INSERT INTO users (email, password_hash, role) VALUES (%s, %s, %s)",
                       email, PASSWORD_HASH, role)
    return server
