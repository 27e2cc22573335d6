"""Fixtures for the tests that need a real nginx binary."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import require_tool
from tests.nginx.helpers import INSTALL_HINT, nginx_binary


@pytest.fixture
def nginx() -> str:
    return require_tool(nginx_binary(), INSTALL_HINT)


@pytest.fixture
def openssl() -> str:
    return require_tool(shutil.which("openssl"),
                        "openssl is needed to make a throwaway certificate: apt-get install openssl")
