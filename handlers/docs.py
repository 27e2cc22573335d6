"""`/api/v1/openapi.json`: the API's contract, the document kept in static/ and tested against the server."""

from __future__ import annotations

from pathlib import Path

from handlers.base import ApiHandler

OPENAPI = Path(__file__).resolve().parent.parent / "static" / "openapi.json"


class OpenApiHandler(ApiHandler):
    document = OPENAPI.read_bytes()  # read once: it changes only with a release

    def authentication_required(self) -> bool:
        return False

    def get(self) -> None:
        self.finish(self.document)


default_handlers = [(r"/api/v1/openapi.json", OpenApiHandler)]
