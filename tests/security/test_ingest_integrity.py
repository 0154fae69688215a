"""Issue 20, findings 7, 13, 18 and 19: what ingest stores when the input or the
registry misbehaves, against the real PostgreSQL (and the real broker and worker
where the original failure needed them)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.plan import plan_batch
from ingest.store import load_devices, write_plan
from kawamori import contract, db
from simulator.mqtt import Connection, Message
from tests.helpers import running_ingest, wait_for

DEVICE = "kw-demo-01"


def message(payload: bytes, device: str = DEVICE) -> Message:
    return Message(contract.topic(device, "reading"), payload, 1, False, 1, datetime.now(UTC))


def reading(seq: int, when: datetime, level: float = 9.5) -> dict:
    return contract.encode_reading(seq=seq, time=when, level_m=level)


def write(conn, messages):
    return write_plan(conn, plan_batch(messages, load_devices(conn), max_payload_bytes=65_536))


def dead_letters(conn) -> list[tuple[str, str]]:
    return conn.execute("SELECT reason, detail FROM dead_letters ORDER BY id").fetchall()


def test_18_one_message_with_the_same_seq_twice_stores_one_row(demo_db):
    """Originally: the duplicate check only looked at committed rows, so both readings
    of this one message were stored."""
    now = datetime.now(UTC)
    batch = contract.encode_batch([reading(7, now - timedelta(minutes=1)), reading(7, now)])
    with db.connect(demo_db) as conn:
        written = write(conn, [message(batch)])
        assert (written.stored, written.dead_letters) == (1, 1)
        assert conn.execute("SELECT count(*) FROM readings WHERE seq = 7").fetchone()[0] == 1
        assert [reason for reason, _ in dead_letters(conn)] == ["seq_reused"]


def test_18_the_database_refuses_a_second_row_for_a_device_and_seq(demo_db):
    """Whatever writes readings (a second worker racing, a hand-written import), the
    database keeps one row per (device, seq)."""
    now = datetime.now(UTC)
    with db.connect(demo_db) as conn:
        insert = """INSERT INTO readings (station_id, time, level_m, device_id, seq)
                    VALUES ('kyoden-chiwara', %s, 1.0, %s, 3)"""
        conn.execute(insert, (now, DEVICE))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, (now + timedelta(seconds=1), DEVICE))


def test_18_two_workers_racing_the_same_seq_store_it_once(demo_db):
    """Two transactions that both see no row for (device, seq) yet: the second waits
    for the first and stores nothing, where before both committed a row."""
    now = datetime.now(UTC)
    with db.connect(demo_db) as first, db.connect(demo_db) as second:
        devices = load_devices(first)
        first_copy = contract.encode_batch([reading(5, now)])
        plan_a = plan_batch([message(first_copy)], devices, max_payload_bytes=65_536)
        later = contract.encode_batch([reading(5, now + timedelta(seconds=30))])
        plan_b = plan_batch([message(later)], devices, max_payload_bytes=65_536)
        with first.transaction():
            a = write_plan(first, plan_a)  # a savepoint inside: committed with the outer block
            result = {}
            racer = threading.Thread(target=lambda: result.update(b=write_plan(second, plan_b)))
            racer.start()
            time.sleep(0.5)  # the second is now waiting on the first's index entry
        racer.join(10)
        assert a.stored == 1 and result["b"].stored == 0
        assert first.execute("SELECT count(*) FROM readings WHERE seq = 5").fetchone()[0] == 1


def test_18_migration_moves_rows_already_breaking_the_rule_to_dead_letters(empty_database_url, demo_network):
    from kawamori.network import apply_network

    now = datetime.now(UTC)
    with db.connect(empty_database_url) as conn:
        db.migrate(conn, upto=10)
        apply_network(conn, demo_network)
        for offset in (0, 60):
            conn.execute(
                """INSERT INTO readings (station_id, time, level_m, device_id, seq, received_at)
                   VALUES ('kyoden-chiwara', %s, 1.0, %s, 9, %s)""",
                (now + timedelta(seconds=offset), DEVICE, now + timedelta(seconds=offset)),
            )
        assert db.migrate(conn)[0] == 11
        rows = conn.execute("SELECT time FROM readings WHERE seq = 9").fetchall()
        assert rows == [(now,)]  # the first received stays
        ((reason, detail, payload),) = conn.execute(
            "SELECT reason, detail, convert_from(payload, 'UTF8')::jsonb FROM dead_letters"
        ).fetchall()
        assert reason == "seq_reused" and "migration 0011" in detail and payload["seq"] == 9


def test_13_a_seq_reused_with_another_time_is_a_dead_letter_with_its_reason(demo_db):
    """Originally only a counter went up: nobody could see a device reusing numbers."""
    now = datetime.now(UTC)
    with db.connect(demo_db) as conn:
        write(conn, [message(contract.encode_batch([reading(1, now - timedelta(minutes=5))]))])
        again = write(conn, [message(contract.encode_batch([reading(1, now - timedelta(minutes=5))]))])
        assert (again.stored, again.duplicates, again.dead_letters) == (0, 1, 0)  # a redelivery
        reused = write(conn, [message(contract.encode_batch([reading(1, now)]))])
        assert (reused.stored, reused.duplicates, reused.dead_letters) == (0, 0, 1)
        ((reason, detail),) = dead_letters(conn)
        assert reason == "seq_reused" and "seq 1 is stored with time" in detail


@pytest.fixture
def board(broker):
    password = broker.accounts.ensure(DEVICE)
    broker.reload()
    connection = Connection(f"mqtt://{DEVICE}:{password}@127.0.0.1:{broker.port}", DEVICE)
    connection.start()
    yield connection
    connection.stop()


def publish(connection: Connection, *items: dict) -> None:
    connection.publish(contract.topic(DEVICE, "reading"), contract.encode_batch(list(items)), wait_s=5)


def test_7_a_batch_the_database_refuses_is_dead_lettered_and_the_rest_stored(demo_db, broker, board):
    """Originally the worker retried an IntegrityError at once, forever: one poison
    message burnt a core and its batch, good readings included, was never acknowledged."""
    with db.connect(demo_db) as conn:  # a rule of the database ingest's planner knows nothing of
        conn.execute("ALTER TABLE readings ADD CONSTRAINT no_9_123 CHECK (level_m <> 9.123)")
    now = datetime.now(UTC)
    with running_ingest(demo_db, broker, "kawamori-ingest-poison") as worker:
        worker.pending  # noqa: B018 - the worker is subscribed (running_ingest waited)
        for seq in range(10):
            publish(board, reading(seq, now - timedelta(seconds=60 - seq), 9.123 if seq == 4 else 9.0))
        with db.connect(demo_db) as conn:

            def settled():
                return conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 9 and dead_letters(conn)

            wait_for(settled, timeout=20)
            ((reason, detail),) = dead_letters(conn)
            assert reason == "rejected_by_database" and "no_9_123" in detail
            # the device's watermark moved past it: nothing is resent forever
            assert conn.execute("SELECT last_seq FROM device_status").fetchone()[0] == 9
        assert worker.health() == (True, "")
        # and the worker goes on storing
        publish(board, reading(10, now))
        with db.connect(demo_db) as conn:
            wait_for(lambda: conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 10)


def test_19_a_gauge_moved_to_another_station_is_stored_there_at_once(demo_db, broker, board):
    """Originally ingest's 30-s device cache kept using the old registration."""
    now = datetime.now(UTC)
    with running_ingest(demo_db, broker, "kawamori-ingest-moved") as worker:
        publish(board, reading(1, now - timedelta(seconds=30)))
        with db.connect(demo_db) as conn:
            wait_for(lambda: conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 1)
            old, new = conn.execute(
                """SELECT (SELECT station_id FROM devices WHERE id = %s),
                          (SELECT id FROM stations WHERE id <> (SELECT station_id FROM devices WHERE id = %s)
                           ORDER BY id LIMIT 1)""",
                (DEVICE, DEVICE),
            ).fetchone()
            conn.execute(
                """UPDATE devices SET station_id = %s, installed_at = now() - interval '1 minute'
                   WHERE id = %s""",
                (new, DEVICE),
            )
            publish(board, reading(2, datetime.now(UTC)))
            wait_for(lambda: conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 2)
            assert conn.execute("SELECT station_id FROM readings WHERE seq = 2").fetchone()[0] == new != old
            assert dead_letters(conn) == []
        assert worker.health() == (True, "")
