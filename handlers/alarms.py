"""`/api/v1/rules` and `/api/v1/alarms`: the conditions that raise alarms, and the alarms people own."""

from __future__ import annotations

from typing import Any

from handlers.base import ApiError, ApiHandler, allow
from models import alarms, events, public_ids, rules
from models.roles import EDITORS, READERS

MAX_LISTED = 500
RULE_ROUTE = "(rul_[0-9a-f]+)"
ALARM_ROUTE = "(alm_[0-9a-f]+)"


class RulesHandler(ApiHandler):
    @allow(*READERS)
    async def get(self) -> None:
        self.write_json({"rules": await rules.listed(self.db, self.get_query_argument("event_public_id", None))})

    @allow(*EDITORS)
    async def post(self) -> None:
        body = self.json_body(required={"event_public_id": str})
        self.write_json(await _created(self, body["event_public_id"], _checked(body)), status=201)


class RuleHandler(ApiHandler):
    @allow(*READERS)
    async def get(self, public_id: str) -> None:
        self.write_json(_found(await rules.get(self.db, public_id), "rule", public_id))

    @allow(*EDITORS)
    async def put(self, public_id: str) -> None:
        """Replace the rule (the whole of it, as for a new one); its active alarm is cleared ("rule edited")."""
        columns = _checked(self.json_body(required={}))
        self.write_json(_found(await rules.update(self.db, public_id, columns, self.actor), "rule", public_id))

    @allow(*EDITORS)
    async def delete(self, public_id: str) -> None:
        if not await rules.delete(self.db, public_id, self.actor):
            raise ApiError(404, f"no rule {public_id}")
        self.set_status(204)
        self.finish()


class FromLimitsHandler(ApiHandler):
    """One call turns an event's min_value and max_value into an `outside` rule."""

    @allow(*EDITORS)
    async def post(self, event_public_id: str) -> None:
        body = self.json_body(required={}, optional={"severity": str, "name": str})
        event = await events.get_event(self.db, event_public_id)
        if event is None:
            raise ApiError(404, f"no event {event_public_id}")
        name, low, high = event["name"], event["min_value"], event["max_value"]
        if low is None or high is None:
            raise ApiError(400, "the event has no limits", {"event_public_id": "needs both min_value and max_value"})
        columns = _checked({"name": body.get("name", f"{name} outside its limits"), "condition": "outside",
                            "low": low, "high": high, "severity": body.get("severity", "warning")})
        self.write_json(await _created(self, event_public_id, columns), status=201)


class AlarmsHandler(ApiHandler):
    @allow(*READERS)
    async def get(self) -> None:
        state = self.get_query_argument("state", None)
        if state is not None and state not in alarms.STATES:
            raise ApiError(400, "invalid state", {"state": f"one of {', '.join(alarms.STATES)}"})
        limit = self.int_argument("limit", 100, 1, MAX_LISTED)
        before = self.int_argument("before", 0, 1, None) or None
        listed, next_before = await alarms.listed(self.db, state, self.get_query_argument("event_public_id", None),
                                                  self.time_argument("since"), before, limit)
        self.write_json({"alarms": listed, "next_before": None if next_before is None else str(next_before)})


class AlarmHandler(ApiHandler):
    @allow(*READERS)
    async def get(self, public_id: str) -> None:
        self.write_json(_found(await alarms.get(self.db, public_id), "alarm", public_id))


class AcknowledgeHandler(ApiHandler):
    @allow(*EDITORS)
    async def post(self, public_id: str) -> None:
        body = self.json_body(required={}, optional={"comment": str})
        comment = (body.get("comment") or "").strip() or None
        if comment is not None and len(comment) > alarms.MAX_COMMENT:
            raise ApiError(400, "invalid acknowledgement", {"comment": f"at most {alarms.MAX_COMMENT} characters"})
        try:
            acknowledged = await alarms.acknowledge(self.db, public_id, self.actor, comment)
        except alarms.AlreadyAcknowledged as error:
            raise ApiError(409, str(error)) from None
        self.write_json(_found(acknowledged, "alarm", public_id))


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    try:
        return rules.check(body)
    except rules.RuleError as error:
        raise ApiError(error.status, "invalid rule", {error.field: str(error)}) from None


async def _created(handler: ApiHandler, event_public_id: str, columns: dict[str, Any]) -> dict[str, Any]:
    try:
        return await rules.create(handler.db, event_public_id, columns, handler.actor)
    except rules.RuleError as error:
        raise ApiError(error.status, str(error)) from None


def _found(item: dict[str, Any] | None, kind: str, public_id: str) -> dict[str, Any]:
    if item is None:
        raise ApiError(404, f"no {kind} {public_id}")
    return item


default_handlers = [
    (r"/api/v1/rules", RulesHandler),
    (rf"/api/v1/rules/{RULE_ROUTE}", RuleHandler),
    (rf"/api/v1/events/{public_ids.ROUTE}/rules/from-limits", FromLimitsHandler),
    (r"/api/v1/alarms", AlarmsHandler),
    (rf"/api/v1/alarms/{ALARM_ROUTE}", AlarmHandler),
    (rf"/api/v1/alarms/{ALARM_ROUTE}/ack", AcknowledgeHandler),
]
