"""`/metrics`: the server's metrics in Prometheus' text format, for a scraper on a trusted network."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST

from handlers.base import ApiHandler
from models.database import connections_in_use


class MetricsHandler(ApiHandler):
    def authentication_required(self) -> bool:
        return False  # scrapers carry no token; the nginx config serves this only to the addresses it names

    def get(self) -> None:
        metrics = self.app.metrics
        # Gauges only this process can read: set as of this scrape.
        metrics.pool_in_use.set(connections_in_use(self.db))
        metrics.relay_listening.set(1 if self.app.relay is not None and self.app.relay.state == "listening" else 0)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(metrics.exposition())


default_handlers = [(r"/metrics", MetricsHandler)]
