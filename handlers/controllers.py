"""`/api/v1/controllers`: register controllers (each with its one token and an optional scope), list them,
and revoke them."""

from __future__ import annotations

from typing import Any

from handlers.base import ApiError, ApiHandler, allow
from models import controllers, tokens
from models.roles import ADMINS, EDITORS

MAX_NAME = 200
CONTROLLER_ROUTE = "(ctl_[A-Za-z0-9]+)"


class ControllersHandler(ApiHandler):
    @allow(*EDITORS)
    async def get(self) -> None:
        self.write_json({"data": await controllers.list_controllers(self.db, self.app.presence.expiry)})

    @allow(*ADMINS)
    async def post(self) -> None:
        """Register one; the answer holds its token, which is never shown again."""
        body = self.json_body(required={"name": str},
                              optional={"events": list, "event_prefix": str, "ttl": (str, int)})
        name = body["name"].strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise ApiError(400, "invalid controller", {"name": f"1 to {MAX_NAME} characters"})
        try:
            events, prefix = controllers.check_scope(body.get("events"), body.get("event_prefix"))
        except controllers.ScopeError as error:
            raise ApiError(400, "invalid controller", {error.field: str(error)}) from None
        try:
            ttl = tokens.parse_ttl(str(body["ttl"])) if "ttl" in body else controllers.DEFAULT_TTL
        except ValueError as error:
            raise ApiError(400, "invalid controller", {"ttl": str(error)}) from None
        controller, token = await controllers.add_controller(self.db, self.config.jwt_secret, name, events, prefix,
                                                             ttl)
        await self.record("controller.registered", controller["public_id"], name=name, events=events,
                          event_prefix=prefix)
        self.write_json({**controller, "access_token": token, "token_type": "bearer", "expires_in": ttl},
                        status=201)


class ControllerHandler(ApiHandler):
    @allow(*EDITORS)
    async def get(self, public_id: str) -> None:
        self.write_json(_found(await controllers.get_controller(self.db, public_id, self.app.presence.expiry),
                               public_id))

    @allow(*ADMINS)
    async def delete(self, public_id: str) -> None:
        """Revoke: its token is refused from now on and its sockets close with 1008, on every process."""
        token_id = await controllers.revoke_controller(self.db, public_id)
        if token_id is None:
            raise ApiError(404, f"no controller {public_id}")
        await self.app.revoked(token_id)
        await self.record("controller.revoked", public_id)
        self.set_status(204)
        self.finish()


def _found(controller: dict[str, Any] | None, public_id: str) -> dict[str, Any]:
    if controller is None:
        raise ApiError(404, f"no controller {public_id}")
    return controller


default_handlers = [
    (r"/api/v1/controllers", ControllersHandler),
    (rf"/api/v1/controllers/{CONTROLLER_ROUTE}", ControllerHandler),
]
