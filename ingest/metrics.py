"""Prometheus metrics and the health endpoint of one ingest worker.

Each worker has its own registry (several workers may share a process in tests).
``/metrics`` is the Prometheus text format; ``/health`` answers 200 while the worker
can store readings and 503 (with the reason) while it cannot.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("kawamori_ingest_messages", "MQTT messages received and handled", registry=r)
        self.stored = Counter("kawamori_ingest_readings_stored", "Readings stored", registry=r)
        self.duplicates = Counter(
            "kawamori_ingest_readings_duplicate",
            "Readings already stored (redelivered or re-sent)",
            registry=r,
        )
        self.dead_letters = Counter(
            "kawamori_ingest_dead_letters", "Messages or readings rejected, by reason", ["reason"], registry=r
        )
        self.batch_size = Histogram(
            "kawamori_ingest_batch_messages",
            "Messages per committed batch",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500),
            registry=r,
        )
        self.commit_seconds = Histogram(
            "kawamori_ingest_commit_seconds",
            "Time to write and commit one batch",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.lag_seconds = Histogram(
            "kawamori_ingest_lag_seconds",
            "Consumer lag: from the arrival of a batch's oldest message at the worker to its commit",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.pending = Gauge(
            "kawamori_ingest_pending_messages", "Messages received, not yet committed", registry=r
        )
        self.database_up = Gauge(
            "kawamori_ingest_database_up", "1 while the database accepts writes", registry=r
        )
        self.broker_up = Gauge("kawamori_ingest_broker_up", "1 while connected to the broker", registry=r)
        self.taken_over = Counter(
            "kawamori_ingest_sessions_taken_over", "Sessions of dead workers drained by this one", registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def serve_health(
    port: int, metrics: IngestMetrics, health: Callable[[], tuple[bool, str]], host: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` and ``/health`` in a daemon thread; returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, status, kind = metrics.exposition(), 200, CONTENT_TYPE_LATEST
            elif self.path == "/health":
                ok, reason = health()
                body = json.dumps({"status": "ok" if ok else "unhealthy", "reason": reason}).encode()
                status, kind = (200 if ok else 503), "application/json"
            else:
                body, status, kind = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # no access log noise
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="ingest-health", daemon=True).start()
    return server
