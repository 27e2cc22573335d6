"""Fixtures for the tests that need a real nginx binary."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.nginx.helpers import INSTALL_HINT, nginx_binary


def _needed(tool: str | None, hint: str) -> str:
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail(hint + " (.ci/run installs it)")
        pytest.skip(hint)
    return tool


@pytest.fixture
def nginx() -> str:
    return _needed(nginx_binary(), INSTALL_HINT)


@pytest.fixture
def openssl() -> str:
    return _needed(shutil.which("openssl"), "openssl is needed to make a throwaway certificate: apt-get install openssl")
