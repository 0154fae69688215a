"""Issue 20, finding 15: ``/api/health`` answered 200 "ok" with the broker down or
ingest dead, and timed out (> 2 s) while PostgreSQL was down. Now it reports each
dependency, answers 503 when the platform cannot do its job, and always answers fast.
Against a real PostgreSQL of its own (to kill), a real Mosquitto, the real ingest
worker and the evaluator's heartbeat."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from alerts.service import heartbeat
from dashboard.main import create_app
from kawamori import db
from kawamori.embedded import PostgresServer
from tests.conftest import _scratch
from tests.helpers import running_ingest, serve, wait_for


@pytest.fixture
def own_postgres(demo_network):
    from kawamori.network import apply_network

    folder = _scratch("kawamori-health-pg-")
    server = PostgresServer(folder / "pg")
    server.start()
    url = server.create_database("kawamori")
    with db.connect(url) as conn:
        db.migrate(conn)
        apply_network(conn, demo_network)
    yield server, url
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def get(base: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = httpx.get(f"{base}/api/health", timeout=10)
    return response.status_code, response.json(), time.monotonic() - started


def failing(body: dict) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


def test_15_health_tells_the_truth_about_each_dependency(own_postgres, broker):
    server, url = own_postgres
    app = create_app(url, broker_address=("127.0.0.1", broker.service_port))
    with serve(app) as base, running_ingest(url, broker, "kawamori-ingest-h1") as worker:
        with db.connect(url) as conn:
            heartbeat(conn, "alerts")
        status, body, _ = wait_for(lambda: (r := get(base))[0] == 200 and r, timeout=20)
        assert body["status"] == "ok" and failing(body) == set()
        assert body["checks"]["ingest"]["detail"] == "1 worker(s) storing readings"

        # the broker dies: ingest cannot receive anything, whatever the database says
        broker.kill()
        status, body, _ = wait_for(lambda: (r := get(base))[0] == 503 and r, timeout=10)
        assert {"broker", "ingest"} <= failing(body)
        broker.start()
        wait_for(lambda: get(base)[0] == 200, timeout=30)

        # ingest dies (its heartbeat goes stale)
        worker.stop()
        with db.connect(url) as conn:
            conn.execute("UPDATE ingest_workers SET last_seen = now() - interval '1 minute'")
        status, body, _ = get(base)
        assert status == 503 and failing(body) == {"ingest"}

        # the evaluator dies (its heartbeat goes stale)
        with db.connect(url) as conn:
            conn.execute("UPDATE service_heartbeats SET last_seen = now() - interval '1 minute'")
        status, body, _ = get(base)
        assert status == 503 and failing(body) == {"ingest", "alerts"}
        assert "no evaluator heartbeat" in body["checks"]["alerts"]["detail"]

        # PostgreSQL dies: still an answer, at once, and a 503 (it used to time out)
        server.kill()
        for _ in range(5):
            status, body, elapsed = get(base)
            assert status == 503 and body["database"] is False and "database" in failing(body)
            assert elapsed < 2.0, elapsed
