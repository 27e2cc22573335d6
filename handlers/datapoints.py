"""`/api/v1/datapoints`: the polling fallback with a gap-free cursor, pages, latest values, and HTTP ingest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from conf.settings import API_PAGE_LIMIT
from handlers.base import ApiError, ApiHandler, allow
from models import datapoints
from models.datapoints import Filters
from models.public_ids import DATAPOINT_ROUTE
from models.readings import SubmissionError, parse_submission
from models.roles import DATAPOINT_WRITERS, EDITORS, READERS


class DatapointsHandler(ApiHandler):
    @allow(*READERS)
    async def get(self) -> None:
        filters = self._filters()
        limit = self.int_argument("limit", 100, 1, API_PAGE_LIMIT)
        page = self.int_argument("page", 1, 1, None)
        page_size = self.int_argument("page_size", 100, 1, API_PAGE_LIMIT)
        after = self.get_query_argument("after", None)
        if after is not None:
            try:
                position = datapoints.parse_cursor(after)
            except ValueError as error:
                raise ApiError(400, "invalid cursor", {"after": str(error)}) from None
            rows = await datapoints.datapoints_after(self.db, position, limit, filters)
            self.write_json({"data": rows, "cursor": rows[-1]["cursor"] if rows else after,
                             "has_more": len(rows) == limit})
            return
        total, rows, cursor = await datapoints.datapoints_page(self.db, page, page_size, filters)
        self.write_json({"page": page, "page_size": page_size, "total": total, "data": rows, "cursor": cursor})

    @allow(*DATAPOINT_WRITERS)
    async def post(self) -> None:
        """One reading or {"datapoints": [...]}: the same checks, queue and broadcast as the WebSocket."""
        try:
            submission = parse_submission(self.body())
        except SubmissionError as error:
            raise ApiError(400, str(error)) from None
        receipt = await self.ingest.store(submission)
        if receipt.retry:
            raise ApiError(503, receipt.summary)
        details = {_field_path(problem): problem["message"] for problem in receipt.problems}
        if not receipt.stored_count:
            raise ApiError(400, receipt.summary, details)
        self.write_json({"data": receipt.datapoints, "errors": details}, status=201)

    def _filters(self) -> Filters:
        return Filters(
            events=tuple(self.get_query_arguments("event_public_id")),
            experiment=self.get_query_argument("experiment_public_id", None),
            since=self._timestamp("from"),
            until=self._timestamp("to"),
        )

    def _timestamp(self, name: str) -> datetime | None:
        text = self.get_query_argument(name, None)
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise ValueError("no offset")
            # In UTC before PostgreSQL sees it: it refuses offsets Python accepts (beyond 15:59).
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            raise ApiError(400, f"invalid {name}", {name: "an ISO-8601 time with Z or an offset"}) from None


class LatestHandler(ApiHandler):
    @allow(*READERS)
    async def get(self) -> None:
        self.write_json({"data": await datapoints.latest_per_event(self.db)})


class DatapointHandler(ApiHandler):
    @allow(*READERS)
    async def get(self, public_id: str) -> None:
        row = await datapoints.get_datapoint(self.db, public_id)
        if row is None:
            raise ApiError(404, f"no datapoint {public_id}")
        self.write_json(row)

    @allow(*EDITORS)
    async def delete(self, public_id: str) -> None:
        if not await datapoints.delete_datapoint(self.db, public_id):
            raise ApiError(404, f"no datapoint {public_id}")
        self.set_status(204)
        self.finish()


def _field_path(problem: dict[str, Any]) -> str:
    field = problem["field"] or "reading"
    return field if "index" not in problem else f"datapoints[{problem['index']}].{field}"


default_handlers = [
    (r"/api/v1/datapoints", DatapointsHandler),
    (r"/api/v1/datapoints/latest", LatestHandler),
    (r"/api/v1/datapoints/" + DATAPOINT_ROUTE, DatapointHandler),
]
