"""The running server against its published OpenAPI document, with schemathesis: no 5xx, answers match."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from models.tokens import issue_token
from tests.helpers import ROOT, serving

SECRET = "openapi-test-secret-long-enough-for-production-0123456789"
DOCUMENT = ROOT / "static" / "openapi.json"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# What the contract promises: no 5xx, and every answer as documented. (Not positive_data_acceptance:
# rules across fields, such as min_value <= max_value, cannot be written in JSON Schema.)
CHECKS = ",".join(("not_a_server_error", "status_code_conformance", "content_type_conformance",
                   "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
                   "unsupported_method", "allow_header_conformance"))


@pytest.fixture(scope="module")
def api(database_url):
    env = {"DATABASE_URL": database_url, "JWT_SECRET": SECRET, "WEBMACS_VAR_DIR": str(ROOT / "var" / "openapi-test")}
    with serving(env) as server:
        yield server


def test_served_document_is_the_one_in_the_repo(api):
    with urllib.request.urlopen(api.base_url + "/api/v1/openapi.json") as response:
        assert json.loads(response.read()) == json.loads(DOCUMENT.read_text())


def test_api_matches_its_openapi_document(api, sql, tmp_path):
    admin = issue_token(SECRET, "schemathesis", "admin", 3600)
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", str(DOCUMENT), "--url", api.base_url, "--header", f"Authorization: Bearer {admin}",
         "--checks", CHECKS, "--max-examples", "15", "--seed", "1", "--no-color",
         # Logging out would revoke the token every later request uses; tests/handlers covers it.
         "--exclude-path", "/api/v1/auth/logout", "--generation-database", "none"],
        # In a scratch folder: schemathesis keeps a crash cache in its working directory, and a
        # run must depend on the code and the seed, not on what an earlier run left behind.
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
