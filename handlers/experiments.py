"""`/api/v1/experiments`: start, stop, rename, delete, and export an experiment's datapoints as CSV."""

from __future__ import annotations

from typing import Any

from handlers.base import EXPORT_CHUNK_ROWS, ApiError, ApiHandler, allow
from models import experiments, public_ids
from models.roles import EDITORS, READERS

MAX_NAME = 200


class ExperimentsHandler(ApiHandler):
    @allow(*READERS)
    async def get(self) -> None:
        """A page of the list (`before`, `running`), or with `from` and `to` the experiments that ran then."""
        limit = self.int_argument("limit", experiments.LISTED, 1, experiments.MAX_LISTED)
        running_only, before = self.bool_argument("running"), self.get_query_argument("before", None)
        start, end = self.time_argument("from"), self.time_argument("to")
        if start is None and end is None:
            try:
                page, next_before = await experiments.list_experiments(self.db, running_only, limit, before)
            except experiments.UnknownExperiment:
                raise ApiError(400, "invalid before", {"before": "the next_before of a page"}) from None
            self.write_json({"data": page, "next_before": next_before})
            return
        if start is None or end is None or start >= end:
            raise ApiError(400, "invalid span", {"from": "with to, and before it"})
        if running_only or before is not None:
            raise ApiError(400, "invalid span", {"from": "not with running or before"})
        self.write_json({"data": await experiments.experiments_during(self.db, start, end, limit)})

    @allow(*EDITORS)
    async def post(self) -> None:
        """Creating an experiment starts it; 409 while another one runs."""
        body = self.json_body(required={"name": str}, optional={"public_id": str})
        problems = _name_problems(body["name"])
        if "public_id" in body and not public_ids.PUBLIC_ID.match(body["public_id"]):
            problems["public_id"] = public_ids.RULE
        if problems:
            raise ApiError(400, "invalid experiment", problems)
        try:
            started = await experiments.start_experiment(self.db, body["name"].strip(), body.get("public_id"))
        except experiments.ExperimentConflict as error:
            raise ApiError(409, str(error)) from None
        await self.record("experiment.started", started["public_id"], name=started["name"])
        self.write_json(started, status=201)


class ExperimentHandler(ApiHandler):
    @allow(*READERS)
    async def get(self, public_id: str) -> None:
        self.write_json(_found(await experiments.get_experiment(self.db, public_id), public_id))

    @allow(*EDITORS)
    async def put(self, public_id: str) -> None:
        body = self.json_body(required={"name": str})
        problems = _name_problems(body["name"])
        if problems:
            raise ApiError(400, "invalid experiment", problems)
        renamed = _found(await experiments.rename_experiment(self.db, public_id, body["name"].strip()), public_id)
        await self.record("experiment.renamed", public_id, name=renamed["name"])
        self.write_json(renamed)

    @allow(*EDITORS)
    async def delete(self, public_id: str) -> None:
        cascade = self.bool_argument("cascade")
        try:
            deleted = await experiments.delete_experiment(self.db, public_id, cascade)
        except experiments.ExperimentConflict as error:
            raise ApiError(409, str(error)) from None
        _found(deleted or None, public_id)
        await self.record("experiment.deleted", public_id, cascade=cascade)
        self.set_status(204)
        self.finish()


class StopHandler(ApiHandler):
    @allow(*EDITORS)
    async def put(self, public_id: str) -> None:
        stopped = _found(await experiments.stop_experiment(self.db, public_id), public_id)
        await self.record("experiment.stopped", public_id, name=stopped["name"])
        self.write_json(stopped)


class ExportHandler(ApiHandler):
    @allow(*READERS)
    async def get(self, public_id: str) -> None:
        _found(await experiments.get_experiment(self.db, public_id), public_id)
        await self.stream_csv(f"{public_id}.csv", ("timestamp", "event", "value", "unit", "stored_by"),
                              experiments.export_rows(self.db, public_id, EXPORT_CHUNK_ROWS))


def _name_problems(name: str) -> dict[str, str]:
    return {} if 0 < len(name.strip()) <= MAX_NAME else {"name": f"1 to {MAX_NAME} characters"}


def _found(item: Any, public_id: str) -> Any:
    if item is None:
        raise ApiError(404, f"no experiment {public_id}")
    return item


default_handlers = [
    (r"/api/v1/experiments", ExperimentsHandler),
    (r"/api/v1/experiments/" + public_ids.ROUTE, ExperimentHandler),
    (r"/api/v1/experiments/" + public_ids.ROUTE + r"/stop", StopHandler),
    (r"/api/v1/experiments/" + public_ids.ROUTE + r"/export\.csv", ExportHandler),
]
