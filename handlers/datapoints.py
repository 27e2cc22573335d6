"""`/api/v1/datapoints`: the polling fallback with a gap-free cursor, pages, latest values, and HTTP ingest."""

from __future__ import annotations

from typing import Any

from conf.settings import API_PAGE_LIMIT
from handlers.base import EXPORT_CHUNK_ROWS, ApiError, ApiHandler, allow
from models import datapoints, events, rollups
from models.datapoints import Filters
from models.public_ids import DATAPOINT_ROUTE
from models.readings import SubmissionError, parse_submission
from models.roles import DATAPOINT_WRITERS, EDITORS, READERS

SERIES_POINTS = 2000  # buckets one series answer may ask for
SERIES_EVENTS = 100


class DatapointsHandler(ApiHandler):
    @allow(*READERS)
    async def get(self) -> None:
        filters = selection(self)
        limit = self.int_argument("limit", 100, 1, API_PAGE_LIMIT)
        page = self.int_argument("page", 1, 1, None)
        page_size = self.int_argument("page_size", 100, 1, API_PAGE_LIMIT)
        after = self.get_query_argument("after", None)
        if after is not None:
            if self.get_query_argument("before", None) is not None:
                raise ApiError(400, "use after or before, not both", {"before": "not with after"})
            try:
                position = datapoints.parse_cursor(after)
            except ValueError as error:
                raise ApiError(400, "invalid cursor", {"after": str(error)}) from None
            rows = await datapoints.datapoints_after(self.db, position, limit, filters)
            self.write_json({"data": rows, "cursor": rows[-1]["cursor"] if rows else after,
                             "has_more": len(rows) == limit})
            return
        before = self.get_query_argument("before", None)
        keyset = None
        if before is not None:
            if self.get_query_argument("page", None) is not None:
                raise ApiError(400, "use page or before, not both", {"before": "not with page"})
            try:
                keyset = datapoints.parse_keyset(before)
            except ValueError as error:
                raise ApiError(400, "invalid before", {"before": str(error)}) from None
        elif page * page_size > datapoints.TOTAL_BOUND:
            # An OFFSET reads every row it skips: past the counted rows, the keyset pages in constant time.
            raise ApiError(400, "page is too deep", {"page": f"page x page_size may be at most "
                                                             f"{datapoints.TOTAL_BOUND}; go on with before="})
        found = await datapoints.datapoints_page(self.db, page_size, filters, keyset,
                                                 offset=0 if keyset else (page - 1) * page_size)
        numbered = {} if keyset else {"page": page}  # a keyset page has no number
        self.write_json({**numbered, "page_size": page_size, "total": found.total,
                         "total_is_lower_bound": found.total_is_lower_bound, "data": found.rows,
                         "cursor": found.poll_cursor, "next_before": found.next_before})

    @allow(*DATAPOINT_WRITERS)
    async def post(self) -> None:
        """One reading or {"datapoints": [...]}: the same checks, queue and broadcast as the WebSocket."""
        try:
            submission = parse_submission(self.body())
        except SubmissionError as error:
            raise ApiError(400, str(error)) from None
        self.principal.claim(submission)
        receipt = await self.ingest.store(submission)
        if receipt.retry:
            raise ApiError(503, receipt.summary)
        details = {_field_path(problem): problem["message"] for problem in receipt.problems}
        if not receipt.stored_count:
            raise ApiError(400, receipt.summary, details)
        self.write_json({"data": receipt.datapoints, "errors": details}, status=201)



class ExportHandler(ApiHandler):
    @allow(*READERS)
    async def get(self) -> None:
        """The list's selection as CSV, oldest first, streamed however large."""
        await self.stream_csv("datapoints.csv", ("timestamp", "event", "value", "unit", "experiment", "stored_by"),
                              datapoints.export_rows(self.db, selection(self), EXPORT_CHUNK_ROWS))


class SeriesHandler(ApiHandler):
    @allow(*READERS)
    async def get(self) -> None:
        """Equal buckets of each event's readings over [from, to): exact min, max, avg, last and count."""
        names = list(dict.fromkeys(self.get_query_arguments("event_public_id")))
        since, until = self.time_argument("from"), self.time_argument("to")
        points = self.int_argument("points", 500, 1, SERIES_POINTS)
        problems = {}
        if not names:
            problems["event_public_id"] = "at least one"
        elif len(names) > SERIES_EVENTS:
            problems["event_public_id"] = f"at most {SERIES_EVENTS}"
        if since is None or until is None:
            problems["from" if since is None else "to"] = "required"
        elif since >= until:
            problems["to"] = "must be later than from"
        if problems:
            raise ApiError(400, "invalid series", problems)
        assert since is not None and until is not None
        known = await events.ids_of(self.db, names)
        missing = [name for name in names if name not in known]
        if missing:
            raise ApiError(404, f"no event {missing[0]}", {"event_public_id": f"unknown: {', '.join(missing)}"})
        self.write_json(await rollups.series(self.db, {name: known[name] for name in names}, since, until, points))


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


def selection(handler: ApiHandler) -> Filters:
    """The list's filters, from the query."""
    return Filters(
        events=tuple(handler.get_query_arguments("event_public_id")),
        experiment=handler.get_query_argument("experiment_public_id", None),
        since=handler.time_argument("from"),
        until=handler.time_argument("to"),
        stored_by=handler.get_query_argument("stored_by", None),
    )


def _field_path(problem: dict[str, Any]) -> str:
    field = problem["field"] or "reading"
    return field if "index" not in problem else f"datapoints[{problem['index']}].{field}"


default_handlers = [
    (r"/api/v1/datapoints", DatapointsHandler),
    (r"/api/v1/datapoints/latest", LatestHandler),
    (r"/api/v1/datapoints/series", SeriesHandler),
    (r"/api/v1/datapoints/export\.csv", ExportHandler),
    (r"/api/v1/datapoints/" + DATAPOINT_ROUTE, DatapointHandler),
]
