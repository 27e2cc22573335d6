"""`/api/v1/webhooks` (admin): where to POST which happenings, signed; and each one's delivery log."""

from __future__ import annotations

from typing import Any

from handlers.base import ApiError, ApiHandler, allow
from models import webhooks
from models.roles import ADMINS

WEBHOOK_ROUTE = "(whk_[0-9a-f]+)"
MAX_LISTED = 500


class WebhooksHandler(ApiHandler):
    @allow(*ADMINS)
    async def get(self) -> None:
        self.write_json({"webhooks": await webhooks.listed(self.db)})

    @allow(*ADMINS)
    async def post(self) -> None:
        columns = await _checked(self, self.json_body(required={}), partial=False)
        self.write_json(await webhooks.create(self.db, columns, self.actor), status=201)


class WebhookHandler(ApiHandler):
    @allow(*ADMINS)
    async def get(self, public_id: str) -> None:
        self.write_json(_found(await webhooks.get(self.db, public_id), public_id))

    @allow(*ADMINS)
    async def put(self, public_id: str) -> None:
        """Change the fields given (url, secret, kinds)."""
        columns = await _checked(self, self.json_body(required={}), partial=True)
        if not columns:
            raise ApiError(400, "nothing to change", {"url": "give url, secret or kinds"})
        self.write_json(_found(await webhooks.update(self.db, public_id, columns, self.actor), public_id))

    @allow(*ADMINS)
    async def delete(self, public_id: str) -> None:
        if not await webhooks.delete(self.db, public_id, self.actor):
            raise ApiError(404, f"no webhook {public_id}")
        self.set_status(204)
        self.finish()


class DeliveriesHandler(ApiHandler):
    @allow(*ADMINS)
    async def get(self, public_id: str) -> None:
        limit = self.int_argument("limit", 100, 1, MAX_LISTED)
        listed = await webhooks.deliveries(self.db, public_id, limit)
        if listed is None:
            raise ApiError(404, f"no webhook {public_id}")
        self.write_json({"deliveries": listed})


async def _checked(handler: ApiHandler, body: dict[str, Any], partial: bool) -> dict[str, Any]:
    try:
        columns = webhooks.check(body, partial)
        if "url" in columns:
            await handler.app.webhook_guard.check(columns["url"])
    except webhooks.WebhookError as error:
        raise ApiError(400, "invalid webhook", {error.field: str(error)}) from None
    except webhooks.Refused as refused:
        raise ApiError(400, "invalid webhook", {"url": str(refused)}) from None
    return columns


def _found(item: dict[str, Any] | None, public_id: str) -> dict[str, Any]:
    if item is None:
        raise ApiError(404, f"no webhook {public_id}")
    return item


default_handlers = [
    (r"/api/v1/webhooks", WebhooksHandler),
    (rf"/api/v1/webhooks/{WEBHOOK_ROUTE}", WebhookHandler),
    (rf"/api/v1/webhooks/{WEBHOOK_ROUTE}/deliveries", DeliveriesHandler),
]
