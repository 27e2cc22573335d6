"""`/api/v1/activity` (admin, operator): who did what, and when, newest first."""

from __future__ import annotations

from handlers.base import ApiError, ApiHandler, allow
from models import activity
from models.roles import EDITORS

MAX_LISTED = 500


class ActivityHandler(ApiHandler):
    @allow(*EDITORS)
    async def get(self) -> None:
        action = self.get_query_argument("action", None)
        if action is not None and action not in activity.ACTIONS:
            raise ApiError(400, "invalid action", {"action": f"one of {', '.join(activity.ACTIONS)}"})
        limit = self.int_argument("limit", 100, 1, MAX_LISTED)
        entries = await activity.entries(self.db, limit + 1, self.int_argument("before", 0, 1, None) or None,
                                         self.get_query_argument("actor", None), action,
                                         self.get_query_argument("subject", None))
        more = len(entries) > limit
        entries = entries[:limit]
        self.write_json({"entries": entries, "next_before": str(entries[-1]["id"]) if more else None})


default_handlers = [(r"/api/v1/activity", ActivityHandler)]
