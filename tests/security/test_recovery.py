"""Issue 20, findings 16 and 17: crash recovery of the services themselves, as real
processes against a real PostgreSQL and Mosquitto started (and killed) by the test."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from kawamori import db
from kawamori.embedded import MosquittoBroker, PostgresServer, free_port
from kawamori.settings import Settings
from kawamori_app.stack import Child, Stack
from tests.conftest import _scratch
from tests.helpers import wait_for


def test_16_a_crash_looping_child_never_delays_anothers_restart(tmp_path):
    """Originally one loop waited out each child's back-off in turn: a killed child
    went unnoticed for 16 and 26 s while another crash-looped."""
    stack = Stack(Settings(data_dir=tmp_path), None)
    looping = Child(name="looping", argv=[sys.executable, "-c", "raise SystemExit(1)"], env=dict(os.environ))
    steady = Child(name="steady", argv=["sleep", "600"], env=dict(os.environ))
    stack.children = [looping, steady]
    for child in stack.children:
        child.start()
    supervisor = threading.Thread(target=stack.supervise, daemon=True)
    supervisor.start()
    try:
        wait_for(lambda: looping.backoff >= 8, timeout=30)  # it now waits 8–10 s between tries
        for _ in range(3):
            first = steady.process
            assert first is not None
            own_backoff = steady.backoff  # 0.5 s, then 1 s, then 2 s
            first.kill()
            killed = time.monotonic()
            wait_for(lambda first=first: steady.process is not first, timeout=5, interval=0.02)
            # its own back-off (plus the 0.2-s look and a loaded machine's spawn), never the
            # looping child's 8-10 s
            assert time.monotonic() - killed < own_backoff + 1.5
            wait_for(lambda: steady.exit_code() is None, timeout=5)
        assert looping.restarts >= 4
    finally:
        stack.stopping.set()
        supervisor.join(5)
        for child in stack.children:
            child.stop()


def kawamori(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "kawamori_app", *args],
            env={**os.environ, "KAWAMORI_LOG_FORMAT": "json", **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(20)


@pytest.fixture
def folder():
    path = _scratch("kawamori-recovery-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_17_ingest_started_before_the_broker_waits_for_it(folder, demo_db, tmp_path):
    """Originally an ingest worker starting while the broker was down exited with 1."""
    broker = MosquittoBroker(folder / "mosquitto", port=free_port(), service_port=free_port())
    broker._write_config()  # accounts exist; the broker itself is not running yet
    broker.allow_services("kawamori-ingest-w17")
    health_port = free_port()
    log = tmp_path / "ingest.log"
    process = kawamori(
        ["ingest", "--worker", "w17", "--metrics-port", str(health_port)],
        {"KAWAMORI_DATABASE_URL": demo_db, "KAWAMORI_MQTT_URL": broker.url("kawamori-ingest")},
        log,
    )
    health = f"http://127.0.0.1:{health_port}/health"
    try:
        wait_for(lambda: _status(health) == 503, timeout=30, explain=lambda: log.read_text()[-1000:])
        time.sleep(2)
        assert process.poll() is None, log.read_text()[-2000:]
        broker.start()
        wait_for(lambda: _status(health) == 200, timeout=30, explain=lambda: log.read_text()[-1000:])
    finally:
        assert stop(process) == 0
        broker.stop()


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return None


def test_17_the_evaluator_waits_for_the_database_and_survives_its_restart(folder, tmp_path, demo_network):
    """Originally the evaluator exited with 1 when PostgreSQL was down at its start."""
    from kawamori.network import apply_network

    server = PostgresServer(folder / "pg")
    server.init()  # a cluster that exists but is not running
    url = server.url("kawamori")
    log = tmp_path / "alerts.log"
    env = {"KAWAMORI_DATABASE_URL": url, "KAWAMORI_MQTT_URL": "mqtt://unused:unused@127.0.0.1:1"}
    process = kawamori(["alerts", "--tick", "1"], env, log)
    try:
        time.sleep(3)
        assert process.poll() is None, log.read_text()[-2000:]
        server.start()
        server.create_database("kawamori")
        with db.connect(url) as conn:
            db.migrate(conn)
            apply_network(conn, demo_network)

        def beat():
            with db.connect(url) as conn:
                query = "SELECT last_seen FROM service_heartbeats WHERE service = 'alerts'"
                row = conn.execute(query).fetchone()
                return row and row[0]

        first = wait_for(beat, timeout=60, explain=lambda: log.read_text()[-1500:])
        # PostgreSQL killed and started again under the running evaluator
        server.kill()
        time.sleep(2)
        assert process.poll() is None, log.read_text()[-2000:]
        server.start()
        wait_for(lambda: (b := beat()) and b > first, timeout=60, explain=lambda: log.read_text()[-1500:])
        assert process.poll() is None
    finally:
        assert stop(process) == 0
        server.stop()
