"""Writing planned batches to a real PostgreSQL: exactly-once storage, dead
letters with reasons, device status, watermarks and the notification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.plan import plan_batch
from ingest.store import load_devices, write_plan
from kawamori import contract, db
from kawamori.messages import Message


def message(device: str, payload: bytes, kind: str = "reading", mid: int = 1) -> Message:
    return Message(contract.topic(device, kind), payload, 1, False, mid, datetime.now(UTC))


def reading(seq: int, when: datetime, level: float = 9.5) -> bytes:
    return contract.encode_batch([contract.encode_reading(seq=seq, time=when, level_m=level)])


def write(conn, messages):
    plan = plan_batch(messages, load_devices(conn), max_payload_bytes=65_536)
    return write_plan(conn, plan)


def count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()[0]


def test_redelivery_and_resent_buffers_are_stored_once(demo_db):
    now = datetime.now(UTC)
    with db.connect(demo_db) as conn:
        first = write(conn, [message("kw-demo-01", reading(1, now)), message("kw-demo-01", reading(1, now))])
        assert (first.stored, first.duplicates) == (1, 1)
        # the same reading delivered again later (QoS 1 redelivery)
        again = write(conn, [message("kw-demo-01", reading(1, now))])
        assert (again.stored, again.duplicates) == (0, 1)
        # a device re-sending its buffer with a re-estimated time: same device and seq
        resent = write(conn, [message("kw-demo-01", reading(1, now - timedelta(seconds=3)))])
        assert resent.stored == 0
        assert count(conn, "readings") == 1


def test_batch_with_good_and_bad_readings(demo_db):
    now = datetime.now(UTC)
    batch = contract.encode_batch(
        [
            contract.encode_reading(seq=10, time=now - timedelta(minutes=2), level_m=9.5),
            contract.encode_reading(seq=11, time=now - timedelta(minutes=1), level_m=99.0),  # out of range
            {"seq": 12, "t": "yesterday", "level": 9.6},  # bad type
        ]
    )
    with db.connect(demo_db) as conn:
        written = write(conn, [message("kw-demo-01", batch)])
        assert (written.stored, written.dead_letters) == (1, 2)
        reasons = sorted(r for (r,) in conn.execute("SELECT reason FROM dead_letters").fetchall())
        assert reasons == ["bad_type", "out_of_range"]
        assert written.watermarks == {"kw-demo-01": 11}


def test_every_rejected_message_is_recorded_with_reason_and_bounded_payload(demo_db):
    huge = b"x" * 100_000
    stray = reading(1, datetime.now(UTC))
    with db.connect(demo_db) as conn:
        write(
            conn,
            [
                message("kw-unknown", stray),
                message("kw-demo-02", b"{not json"),
                message("kw-demo-02", huge),
            ],
        )
        rows = conn.execute(
            "SELECT reason, device_id, length(payload), payload_size FROM dead_letters ORDER BY id"
        ).fetchall()
    assert rows == [
        ("unknown_device", "kw-unknown", len(stray), len(stray)),
        ("invalid_json", "kw-demo-02", 9, 9),
        ("oversized", "kw-demo-02", 4096, 100_000),
    ]


def test_status_updates_device_health(demo_db):
    online = contract.encode_status(contract.Status(online=True, firmware="1.2.3", battery_v=3.9, buffered=4))
    with db.connect(demo_db) as conn:
        write(conn, [message("kw-demo-03", online, "status")])
        write(conn, [message("kw-demo-03", contract.OFFLINE_WILL, "status")])
        row = conn.execute(
            "SELECT online, firmware, battery_v, buffered FROM device_status WHERE device_id = 'kw-demo-03'"
        ).fetchone()
    assert row == (False, "1.2.3", pytest.approx(3.9), 4)


def test_what_a_gauge_says_about_itself_is_kept_bounded(demo_db):
    """Issue #22: a dying battery, a dead sensor or a rolled-back update is visible in
    device_status.extra; the offline will keeps the last words; junk is bounded."""
    status = (
        b'{"v":1,"online":true,"fw":"0.2.0","reset":"power","err":"battery 3.25 V: radio off",'
        b'"lowbat":8,"brown":0,"fault":"sensor","nested":{"x":1},"long":"' + b"x" * 500 + b'"}'
    )
    with db.connect(demo_db) as conn:
        write(conn, [message("kw-demo-03", status, "status")])
        write(conn, [message("kw-demo-03", contract.OFFLINE_WILL, "status")])
        online, extra = conn.execute(
            "SELECT online, extra FROM device_status WHERE device_id = 'kw-demo-03'"
        ).fetchone()
    assert online is False
    assert extra == {
        "reset": "power",
        "err": "battery 3.25 V: radio off",
        "lowbat": 8,
        "brown": 0,
        "fault": "sensor",
        "long": "x" * 200,
    }


def test_commit_notifies_the_stations_that_got_data(demo_db):
    now = datetime.now(UTC)
    with db.connect(demo_db) as listener, db.connect(demo_db) as conn:
        listener.execute(b"LISTEN kawamori_readings")
        write(conn, [message("kw-demo-01", reading(5, now)), message("kw-demo-04", reading(5, now, 12.0))])
        notes = list(listener.notifies(timeout=2, stop_after=1))
    assert notes and set(notes[0].payload.split(",")) == {"kyoden-chiwara", "fujishima-tomizawa"}
