"""Fixtures for the real-browser tests: the system's Chromium, and users to sign in as."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.helpers import require_tool


@pytest.fixture
def chromium() -> str:
    """Path of the system's Chromium; Playwright's own browser download is never used."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return require_tool(path, "Chromium is needed for the browser tests: on Debian or Ubuntu, apt-get install chromium")


@pytest.fixture
def users(server):
    server.add_user("op@lab.example", "operator")
    server.add_user("viewer@lab.example", "viewer")
    return server
