"""`/healthz`: is the database reachable, and how many peers are connected."""

from __future__ import annotations

import asyncio

from handlers.base import ApiHandler, SocketHandler
from models.database import UNAVAILABLE, ping
from models.retention import oldest_reading

# A health check that hangs is worse than one that says "unreachable".
DATABASE_TIMEOUT = 2.0


class HealthHandler(ApiHandler):
    def authentication_required(self) -> bool:
        return False  # load balancers and ops probes carry no token

    async def get(self) -> None:
        try:
            await asyncio.wait_for(ping(self.db), DATABASE_TIMEOUT)
            oldest = await asyncio.wait_for(oldest_reading(self.db), DATABASE_TIMEOUT)
            database = "reachable"
        except (TimeoutError, *UNAVAILABLE):
            database, oldest = "unreachable", None
        self.write_json({
            "status": "ok" if database == "reachable" else "degraded",
            "database": database,
            **SocketHandler.counts(),
            "subscribers_cut_off": self.app.subscribers_cut_off,
            "connections_refused": self.app.connections_refused,
            "readings_committed": self.ingest.committed_rows,
            "readings_waiting": self.ingest.waiting_rows,
            "relay": "off" if self.app.relay is None else self.app.relay.state,
            "oldest_reading": oldest,
            "last_purge": None if self.app.last_purge is None else self.app.last_purge.as_json(),
        }, status=200 if database == "reachable" else 503)


default_handlers = [(r"/healthz", HealthHandler)]
