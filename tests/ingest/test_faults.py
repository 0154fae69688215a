"""Fault tests with real processes: workers killed at random moments, PostgreSQL
killed mid-batch, a worker of three killed for good. Every reading must be stored
exactly once; none may be acknowledged before it is committed."""

from __future__ import annotations

import json
import multiprocessing
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kawamori import contract, db
from kawamori.embedded import PostgresServer
from kawamori.network import DEMO_NETWORK, apply_network, read_network
from simulator.mqtt import Connection, Inbox
from tests.helpers import wait_for
from tests.ingest.workers import kill, start_worker, stop

DEVICES = [f"kw-demo-0{i}" for i in range(1, 6)]


def publish(
    url_for: dict[str, str], device: str, level: float, first_seq: int, count: int, per_message: int
) -> None:
    """One device publishing ``count`` readings at QoS 1 (run in its own process)."""
    connection = Connection(url_for[device], device, persistent=False)
    connection.start()
    base = datetime.now(UTC) - timedelta(seconds=count / 100)  # readings 10 ms apart, all recent
    topic = contract.topic(device, "reading")
    for start in range(0, count, per_message):
        items = [
            contract.encode_reading(
                seq=first_seq + i, time=base + timedelta(seconds=i / 100), level_m=level + (i % 100) / 100
            )
            for i in range(start, min(start + per_message, count))
        ]
        connection.publish(
            topic, contract.encode_batch(items), wait_s=None if start + per_message < count else 60
        )
    connection.stop()


def publishers(broker, per_device: int, per_message: int) -> list[multiprocessing.Process]:
    urls = {d: f"mqtt://{d}:{broker.accounts.ensure(d)}@127.0.0.1:{broker.port}" for d in DEVICES}
    network = read_network(DEMO_NETWORK)
    stations = {s.id: s for s in network.stations}
    levels = {d.id: stations[d.station_id].level_min_m + 0.5 for d in network.devices}  # inside the range
    broker.reload()
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=publish, args=(urls, device, levels[device], 0, per_device, per_message))
        for device in DEVICES
    ]
    for process in processes:
        process.start()
    return processes


def counts(database_url: str) -> tuple[int, int, int]:
    with db.connect(database_url) as conn:
        row = conn.execute(
            """SELECT count(*), count(DISTINCT (device_id, seq)), (SELECT count(*) FROM dead_letters)
               FROM readings"""
        ).fetchone()
    return row


def test_worker_killed_repeatedly_during_a_100k_replay_loses_and_duplicates_nothing(
    demo_db, broker, tmp_path
):
    per_device = 20_000  # 5 devices → 100,000 readings in 20,000 QoS 1 messages
    url = broker.url("kawamori-ingest")
    broker.allow_services("kawamori-ingest-k")
    worker = start_worker(demo_db, url, "k", tmp_path / "worker.log")
    senders = publishers(broker, per_device, per_message=5)
    rng = random.Random(7)
    kills = 0
    try:
        while any(p.is_alive() for p in senders) or kills < 4:
            time.sleep(rng.uniform(0.3, 1.5))
            kill(worker)
            kills += 1
            worker = start_worker(demo_db, url, "k", tmp_path / "worker.log")
            if kills >= 12:
                break
        for sender in senders:
            sender.join(120)
            assert sender.exitcode == 0
        wait_for(
            lambda: counts(demo_db)[0] == 5 * per_device,
            timeout=120,
            interval=0.5,
            explain=lambda: (counts(demo_db), kills),
        )
        time.sleep(1.0)  # anything redelivered late must still not be stored twice
        stored, distinct, dead = counts(demo_db)
        assert (stored, distinct, dead) == (100_000, 100_000, 0)
        assert kills >= 4
    finally:
        stop(worker)


@pytest.fixture
def own_postgres(demo_network):
    """A PostgreSQL of this test's own, to kill."""
    folder = Path(tempfile.mkdtemp(prefix="kawamori-pgkill-"))
    folder.chmod(0o711)
    server = PostgresServer(folder)
    server.start()
    url = server.create_database("kawamori")
    with db.connect(url) as conn:
        db.migrate(conn)
        apply_network(conn, demo_network)
    yield server, url
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_postgres_killed_mid_batch_loses_no_acknowledged_reading(own_postgres, broker, tmp_path):
    server, url = own_postgres
    password = broker.accounts.ensure("kw-demo-01")
    broker.reload()
    acks = Inbox()
    device = Connection(
        f"mqtt://kw-demo-01:{password}@127.0.0.1:{broker.port}",
        "kw-demo-01",
        subscriptions=[contract.topic("kw-demo-01", "ack")],
        on_message=acks.put,
    )
    device.start()
    broker.allow_services("kawamori-ingest-pg")
    worker = start_worker(url, broker.url("kawamori-ingest"), "pg", tmp_path / "worker.log")
    try:
        base = datetime.now(UTC) - timedelta(minutes=1)
        topic = contract.topic("kw-demo-01", "reading")
        for seq in range(400):
            if seq == 150:
                server.kill()  # power cut of the database in the middle of the stream
            if seq == 280:  # the worker says it cannot store, and why
                answer = httpx.get(worker.health_url, timeout=2)
                assert (answer.status_code, answer.json()["reason"]) == (503, "database unavailable")
            if seq == 300:
                server.start()
            item = contract.encode_reading(seq=seq, time=base + timedelta(seconds=seq / 2), level_m=9.5)
            device.publish(topic, contract.encode_batch([item]), wait_s=5)
            time.sleep(0.005)

        def stored() -> int:
            try:
                with db.connect(url) as conn:
                    return conn.execute("SELECT count(DISTINCT seq) FROM readings").fetchone()[0]
            except Exception:
                return -1

        def explain():
            with db.connect(url) as conn:
                dead = conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall()
                return dead, stored()

        wait_for(lambda: stored() == 400, timeout=60, interval=0.5, explain=explain)
        # every acknowledgement the device saw named a reading that is in the database
        watermarks = [json.loads(m.payload)["seq"] for m in acks.take(max_items=10_000, max_wait_s=1)]
        assert watermarks and max(watermarks) == 399
        with db.connect(url) as conn:
            for mark in watermarks:
                assert (
                    conn.execute("SELECT count(*) FROM readings WHERE seq <= %s", (mark,)).fetchone()[0]
                    == mark + 1
                )
    finally:
        stop(worker)
        device.stop()


def test_a_worker_killed_for_good_delays_its_share_by_a_bounded_time(demo_db, broker, tmp_path):
    """Mosquitto routes a share of a shared subscription to each member's persistent
    session, connected or not, until the session ends. A dead worker's share waits
    in its session until a live worker notices the silence (--dead-after) and drains it."""
    url = broker.url("kawamori-ingest")
    options = ("--dead-after", "3", "--heartbeat", "0.5")
    broker.allow_services(*(f"kawamori-ingest-s{i}" for i in range(3)))
    workers = [start_worker(demo_db, url, f"s{i}", tmp_path / f"w{i}.log", *options) for i in range(3)]
    try:
        time.sleep(4)  # all three subscribed and heartbeating for longer than --dead-after
        kill(workers[1])
        killed_at = time.monotonic()
        senders = publishers(broker, per_device=400, per_message=1)
        for sender in senders:
            sender.join(60)
        published = time.monotonic() - killed_at
        wait_for(lambda: counts(demo_db)[0] == 2000, timeout=60, interval=0.2)
        delay = time.monotonic() - killed_at
        assert counts(demo_db) == (2000, 2000, 0)
        # bound: the dead worker is noticed after dead-after (3 s) + the other workers'
        # heartbeat (0.5 s) + the judge's own warm-up (dead-after); from then on, or from
        # the last publish if that is later, draining its session takes a few seconds
        # (generous for a loaded 2-core machine, where publishing itself can take seconds)
        assert delay < max(published, 3 + 0.5 + 3) + 10

        def workers_left() -> set[str]:
            with db.connect(demo_db) as conn:
                return {r[0] for r in conn.execute("SELECT client_id FROM ingest_workers").fetchall()}

        # the taker-over forgets the dead worker right after committing what it drained
        wait_for(lambda: "kawamori-ingest-s1" not in workers_left(), timeout=10, explain=workers_left)
    finally:
        for worker in workers:
            stop(worker)
