"""`/api/v1/events/{id}/commands` and `/api/v1/commands/{id}`: send a value to an actuator, and follow it
from pending to delivered to acked (or failed, or expired)."""

from __future__ import annotations

from handlers.base import ApiError, ApiHandler, allow
from models import commands, public_ids
from models.roles import EDITORS, READERS

MAX_LISTED = 500


class EventCommandsHandler(ApiHandler):
    @allow(*READERS)
    async def get(self, event_public_id: str) -> None:
        limit = self.int_argument("limit", 50, 1, MAX_LISTED)
        listed = await commands.list_for_event(self.db, event_public_id, limit)
        if listed is None:
            raise ApiError(404, f"no event {event_public_id}")
        self.write_json({"commands": listed})

    @allow(*EDITORS)
    async def post(self, event_public_id: str) -> None:
        body = self.json_body(required={"value": (int, float)}, optional={"ttl": (int, float)})
        assert self.current_user is not None  # @allow let only signed-in roles through
        try:
            command = await commands.create(self.db, event_public_id, body["value"], body.get("ttl"),
                                            self.current_user.subject)
        except commands.CommandError as error:
            raise ApiError(error.status, str(error) if error.status == 404 else "invalid command",
                           {error.field: str(error)} if error.field else None) from None
        await self.record("command.sent", command["command_id"], event_public_id=event_public_id,
                          value=command["value"])
        self.write_json(command, status=202)


class CommandHandler(ApiHandler):
    @allow(*READERS)
    async def get(self, command_id: str) -> None:
        command = await commands.get(self.db, command_id)
        if command is None:
            raise ApiError(404, f"no command {command_id}")
        self.write_json(command)


default_handlers = [
    (rf"/api/v1/events/{public_ids.ROUTE}/commands", EventCommandsHandler),
    (r"/api/v1/commands/(cmd_[0-9a-f]+)", CommandHandler),
]
