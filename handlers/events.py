"""`/api/v1/events`: the sensors and actuators that readings name."""

from __future__ import annotations

import math
import secrets
from typing import Any

from handlers.base import ApiError, ApiHandler, allow
from models import events, public_ids
from models.roles import EDITORS, READERS

MAX_NAME = 200
MAX_UNIT = 32
MAX_GROUP = 100
# Field name -> accepted JSON types. Only these names ever reach SQL as column names.
FIELDS = {"public_id": str, "name": str, "type": str, "unit": str,
          "min_value": (int, float, type(None)), "max_value": (int, float, type(None)),
          "stale_after": (int, float, type(None)), "group": (str, type(None))}
MAX_STALE_AFTER = 3650 * 86400  # seconds


class EventsHandler(ApiHandler):
    @allow(*READERS)
    async def get(self) -> None:
        self.write_json({"data": await events.list_events(self.db)})

    @allow(*EDITORS)
    async def post(self) -> None:
        fields = event_fields(self, required=("name",))
        fields.setdefault("public_id", "evt_" + secrets.token_urlsafe(9))
        try:
            created = await events.create_event(self.db, fields)
        except events.EventExists as error:
            raise ApiError(409, str(error)) from None
        self.write_json(created, status=201)



class EventHandler(ApiHandler):
    @allow(*READERS)
    async def get(self, public_id: str) -> None:
        self.write_json(await self._existing(public_id))

    @allow(*EDITORS)
    async def put(self, public_id: str) -> None:
        fields = event_fields(self, required=())
        if fields.pop("public_id", public_id) != public_id:
            raise ApiError(400, "invalid event", {"public_id": "cannot be changed"})
        current = await self._existing(public_id)
        merged = {**current, **fields}
        problems = _problems(merged)
        if problems:
            raise ApiError(400, "invalid event", problems)
        self.write_json(await events.update_event(self.db, public_id, fields))

    @allow(*EDITORS)
    async def delete(self, public_id: str) -> None:
        cascade = self.bool_argument("cascade")
        try:
            deleted = await events.delete_event(self.db, public_id, cascade)
        except events.EventInUse as error:
            raise ApiError(409, str(error)) from None
        if not deleted:
            raise ApiError(404, f"no event {public_id}")
        self.set_status(204)
        self.finish()

    async def _existing(self, public_id: str) -> dict[str, Any]:
        event = await events.get_event(self.db, public_id)
        if event is None:
            raise ApiError(404, f"no event {public_id}")
        return event


def event_fields(handler: ApiHandler, required: tuple[str, ...]) -> dict[str, Any]:
    """The event fields in the request body, checked; 400 naming every bad one."""
    body = handler.json_body(required={name: FIELDS[name] for name in required},
                             optional={name: kind for name, kind in FIELDS.items() if name not in required})
    fields = {name: body[name] for name in FIELDS if name in body}
    problems = _problems(fields)
    if problems:
        raise ApiError(400, "invalid event", problems)
    return fields


def _problems(fields: dict[str, Any]) -> dict[str, str]:
    problems = {}
    if "public_id" in fields and not public_ids.PUBLIC_ID.match(fields["public_id"]):
        problems["public_id"] = public_ids.RULE
    if "name" in fields and not 0 < len(fields["name"].strip()) <= MAX_NAME:
        problems["name"] = f"1 to {MAX_NAME} characters"
    if "type" in fields and fields["type"] not in events.EVENT_TYPES:
        problems["type"] = "one of " + ", ".join(events.EVENT_TYPES)
    if "unit" in fields and len(fields["unit"]) > MAX_UNIT:
        problems["unit"] = f"at most {MAX_UNIT} characters"
    for bound in ("min_value", "max_value"):
        if fields.get(bound) is not None and not _finite(fields[bound]):
            problems[bound] = "a finite number or null"
    stale_after = fields.get("stale_after")
    if stale_after is not None and not (_finite(stale_after) and 0 < stale_after <= MAX_STALE_AFTER):
        problems["stale_after"] = f"seconds, more than 0 and at most {MAX_STALE_AFTER}, or null for never"
    group = fields.get("group")
    if group is not None and not 0 < len(group.strip()) <= MAX_GROUP:
        problems["group"] = f"1 to {MAX_GROUP} characters, or null for none"
    low, high = fields.get("min_value"), fields.get("max_value")
    if low is not None and high is not None and not problems and low > high:
        problems["min_value"] = "must not be greater than max_value"
    return problems


def _finite(number: float) -> bool:
    """A number PostgreSQL's double precision can hold (a JSON integer may be far larger)."""
    try:
        return math.isfinite(float(number))
    except OverflowError:
        return False


default_handlers = [
    (r"/api/v1/events", EventsHandler),
    (r"/api/v1/events/" + public_ids.ROUTE, EventHandler),
]

