"""What /metrics reports: one set of Prometheus metrics per application, fed by the parts that do the work.

With several server processes on one host, set PROMETHEUS_MULTIPROC_DIR (prometheus_client's own
multiprocess mode) to an empty directory they share: each process then writes its values there, and
whichever process is scraped reports the sum.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

REJECTION_REASONS = ("invalid", "out_of_scope", "unknown_event", "refused_by_database", "database_unavailable")


class Metrics:
    """Owns the application's metric objects; each part of the server updates the ones about it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.connections_open = Gauge("webmacs_connections_open", "Open WebSocket connections.", ["endpoint"],
                                      registry=registry, multiprocess_mode="livesum")
        self.connections_refused = Counter("webmacs_connections_refused", "Connections answered 503 for "
                                           "being over MAX_CONNECTIONS or MAX_CONNECTIONS_PER_ADDRESS.",
                                           registry=registry)
        self.readings_accepted = Counter("webmacs_readings_accepted", "Readings stored (and acked when asked).",
                                         registry=registry)
        self.readings_rejected = Counter("webmacs_readings_rejected", "Readings not stored, by reason.",
                                         ["reason"], registry=registry)
        self.messages_unreadable = Counter("webmacs_messages_unreadable", "Controller messages refused whole "
                                           "(not JSON, not an object, a bad seq, a batch too large).",
                                           registry=registry)
        self.messages_resent = Counter("webmacs_messages_resent", "Controller messages recognised as resends "
                                       "of stored ones: answered with the original's ack, not stored again.",
                                       registry=registry)
        self.statement_rows = Histogram("webmacs_ingest_statement_rows", "Readings per INSERT statement.",
                                        registry=registry, buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000))
        self.commit_seconds = Histogram("webmacs_ingest_commit_seconds", "Time from sending an INSERT "
                                        "statement to its commit.", registry=registry,
                                        buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        self.deliveries = Counter("webmacs_stream_deliveries", "Datapoints sent to stream subscribers "
                                  "(one per datapoint per subscriber).", registry=registry)
        self.subscribers_cut_off = Counter("webmacs_stream_subscribers_cut_off", "Subscribers closed with 1013 "
                                           "for falling behind.", registry=registry)
        self.relay_listening = Gauge("webmacs_relay_listening", "1 while the relay's LISTEN connection is up "
                                     "(BROADCAST_ACROSS_PROCESSES).", registry=registry, multiprocess_mode="livemin")
        self.relay_delay = Histogram("webmacs_relay_delay_seconds", "From another process's notification to "
                                     "its datapoints reaching this process's subscribers.", registry=registry,
                                     buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.pool_in_use = Gauge("webmacs_db_pool_in_use", "PostgreSQL connections of the pool in use, "
                                 "as of the last scrape of each process.", registry=registry,
                                 multiprocess_mode="livesum")
        self.login_failures = Counter("webmacs_login_failures", "Failed logins (wrong email or password).",
                                      registry=registry)
        for reason in REJECTION_REASONS:
            self.readings_rejected.labels(reason)  # present from the start, at 0

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format: this process's, or every live process's in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
