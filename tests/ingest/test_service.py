"""The ingest worker against a real broker and database."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from ingest.service import IngestConfig, IngestWorker
from kawamori import contract, db
from simulator.mqtt import Connection, Inbox
from tests.helpers import wait_for


def start_worker(database_url: str, broker) -> tuple[IngestWorker, threading.Thread]:
    broker.allow_services("ingest-w1")
    worker = IngestWorker(
        IngestConfig(database_url=database_url, mqtt_url=broker.url("kawamori-ingest"), client_id="ingest-w1")
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_for(worker.mqtt.connected.is_set)
    return worker, thread


def stop_worker(worker: IngestWorker, thread: threading.Thread) -> None:
    worker.stop()
    thread.join(10)
    assert not thread.is_alive()


@pytest.fixture
def board(broker):
    password = broker.accounts.ensure("kw-demo-01")
    broker.reload()
    acks = Inbox()
    connection = Connection(
        f"mqtt://kw-demo-01:{password}@127.0.0.1:{broker.port}",
        "kw-demo-01",
        subscriptions=[contract.topic("kw-demo-01", "ack")],
        on_message=acks.put,
    )
    connection.start()
    yield connection, acks
    connection.stop()


def stored(database_url: str) -> int:
    with db.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM readings").fetchone()[0]


def publish_readings(connection: Connection, start_seq: int, n: int) -> None:
    base = datetime.now(UTC) - timedelta(seconds=10 * n)
    for i in range(n):
        item = contract.encode_reading(
            seq=start_seq + i, time=base + timedelta(seconds=10 * i), level_m=9.0 + i / 100
        )
        connection.publish(contract.topic("kw-demo-01", "reading"), contract.encode_batch([item]), wait_s=5)


def test_backlog_queued_while_ingest_is_down_arrives_after_restart(demo_db, broker, board):
    connection, _ = board
    worker, thread = start_worker(demo_db, broker)
    publish_readings(connection, 0, 5)
    wait_for(lambda: stored(demo_db) == 5)
    stop_worker(worker, thread)

    publish_readings(connection, 5, 20)  # the broker queues these for the persistent session

    worker, thread = start_worker(demo_db, broker)
    try:
        wait_for(lambda: stored(demo_db) == 25)
    finally:
        stop_worker(worker, thread)


def test_device_receives_its_acknowledgement_watermark(demo_db, broker, board):
    connection, acks = board
    worker, thread = start_worker(demo_db, broker)
    try:
        publish_readings(connection, 100, 3)

        def last_ack():
            messages = acks.take(max_items=100, max_wait_s=0.2)
            if not messages:
                return False
            ack = json.loads(messages[-1].payload)
            return ack["seq"] == 102 and abs(ack["t"] - time.time()) < 600  # the server's clock

        wait_for(last_ack)
    finally:
        stop_worker(worker, thread)


def test_bad_input_never_stops_the_worker(demo_db, broker, board):
    connection, _ = board
    worker, thread = start_worker(demo_db, broker)
    try:
        for junk in (b"", b"\xff\xfe", b"[]", b'{"v":1,"seq":1,"level":"NaN","t":1}', b"{" * 5000):
            connection.publish(contract.topic("kw-demo-01", "reading"), junk, wait_s=5)
        publish_readings(connection, 0, 1)
        wait_for(lambda: stored(demo_db) == 1)
        with db.connect(demo_db) as conn:
            assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 5
        assert thread.is_alive()
    finally:
        stop_worker(worker, thread)


def test_the_injected_clock_is_the_receive_time(demo_db, broker, board):
    """Ingest judges time stamps against its clock, not the wall clock: in a simulated
    past a reading of then is accepted, one of the real present is in the future."""
    from simulator.clock import ManualClock

    connection, _ = board
    simulated = datetime(2025, 9, 20, 21, 0, tzinfo=UTC)
    clock = ManualClock(simulated)
    with db.connect(demo_db) as conn:
        conn.execute("UPDATE devices SET installed_at = %s", (simulated - timedelta(days=1),))
    broker.allow_services("ingest-w1")
    worker = IngestWorker(
        IngestConfig(database_url=demo_db, mqtt_url=broker.url("kawamori-ingest"), client_id="ingest-w1"),
        clock=clock,
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_for(worker.mqtt.connected.is_set)
    try:
        clock.advance(60)
        then = contract.encode_reading(seq=0, time=simulated + timedelta(seconds=30), level_m=9.0)
        present = contract.encode_reading(seq=1, time=datetime.now(UTC), level_m=9.0)
        for item in (then, present):
            connection.publish(
                contract.topic("kw-demo-01", "reading"), contract.encode_batch([item]), wait_s=5
            )

        def handled() -> int:
            with db.connect(demo_db) as conn:
                return conn.execute(
                    "SELECT (SELECT count(*) FROM readings) + (SELECT count(*) FROM dead_letters)"
                ).fetchone()[0]

        wait_for(lambda: handled() == 2)
        with db.connect(demo_db) as conn:
            assert conn.execute("SELECT seq, received_at FROM readings").fetchall() == [
                (0, simulated + timedelta(seconds=60))
            ]
            assert conn.execute("SELECT reason FROM dead_letters").fetchall() == [("future_time",)]
    finally:
        stop_worker(worker, thread)
