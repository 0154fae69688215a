"""Head counts against a real PostgreSQL: idempotent, all or nothing, concurrent
writers at one shelter never lose an update, door counters, history."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from kawamori import db
from kawamori.model import ShelterStatus
from shelters.counts import CountEvent, Kind, StatusEvent
from shelters.doorcounter import count_topic, decode, encode
from shelters.errors import ConflictingEvent, UnassignedCounter, UnknownShelter
from shelters.occupancy import apply_door_count, assign_counter, history, record_counts, record_status
from shelters.registry import get_shelter

SHELTER = "062031-0001"
NOW = datetime.now(UTC).replace(microsecond=0)


def delta(value: int, seconds_ago: float = 0) -> CountEvent:
    return CountEvent(uuid.uuid4(), Kind.delta, value, NOW - timedelta(seconds=seconds_ago))


def test_events_update_the_count_once(shelter_db):
    with db.connect(shelter_db) as conn:
        plus = delta(+1)
        assert record_counts(conn, shelter_id=SHELTER, events=[plus, delta(+1)])["occupancy"] == 2
        again = record_counts(conn, shelter_id=SHELTER, events=[plus])
        assert again == {"occupancy": 2, "stored": 0, "duplicates": 1}
        set_to = CountEvent(uuid.uuid4(), Kind.set, 40, NOW - timedelta(seconds=30))
        late = delta(+3, seconds_ago=60)  # before the exact count: the count decides
        assert record_counts(conn, shelter_id=SHELTER, events=[set_to, late])["occupancy"] == 42
        row = get_shelter(conn, SHELTER)
        assert row["occupancy"] == 42 and row["count_changed_at"] is not None


def test_a_bad_batch_leaves_nothing_half_applied(shelter_db):
    with db.connect(shelter_db) as conn:
        first = delta(+1)
        record_counts(conn, shelter_id=SHELTER, events=[first])
        reused = CountEvent(first.id, Kind.delta, +5, NOW)
        with pytest.raises(ConflictingEvent):
            record_counts(conn, shelter_id=SHELTER, events=[delta(+10), reused])
        assert get_shelter(conn, SHELTER)["occupancy"] == 1
        assert conn.execute("SELECT count(*) FROM shelter_count_events").fetchone() == (1,)
        with pytest.raises(UnknownShelter):
            record_counts(conn, shelter_id="nowhere", events=[delta(+1)])


def test_over_capacity_is_stored_and_flagged_elsewhere(shelter_db):
    with db.connect(shelter_db) as conn:
        capacity = get_shelter(conn, SHELTER)["capacity"]
        set_over = CountEvent(uuid.uuid4(), Kind.set, capacity + 50, NOW)
        assert record_counts(conn, shelter_id=SHELTER, events=[set_over])["occupancy"] == capacity + 50


def test_concurrent_writers_never_lose_an_update(shelter_db):
    per_writer, writers = 25, 8
    errors: list[BaseException] = []

    def write(sign: int) -> None:
        try:
            with db.connect(shelter_db) as conn:
                for _ in range(per_writer):
                    record_counts(conn, shelter_id=SHELTER, events=[delta(sign)])
        except BaseException as error:  # reported below
            errors.append(error)

    with db.connect(shelter_db) as conn:
        start = CountEvent(uuid.uuid4(), Kind.set, 100, NOW - timedelta(minutes=1))
        record_counts(conn, shelter_id=SHELTER, events=[start])
    signs = [+1] * 6 + [-1] * 2
    threads = [threading.Thread(target=write, args=(sign,)) for sign in signs[:writers]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with db.connect(shelter_db) as conn:
        assert get_shelter(conn, SHELTER)["occupancy"] == 100 + per_writer * sum(signs)


def test_status_follows_the_latest_event(shelter_db):
    with db.connect(shelter_db) as conn:
        opened = StatusEvent(uuid.uuid4(), ShelterStatus.open, NOW - timedelta(minutes=5))
        prepared = StatusEvent(
            uuid.uuid4(), ShelterStatus.preparing, NOW - timedelta(minutes=10)
        )  # arrives late
        assert record_status(conn, shelter_id=SHELTER, events=[opened])["status"] == "open"
        result = record_status(conn, shelter_id=SHELTER, events=[prepared, opened])
        assert result == {"status": "open", "stored": 1, "duplicates": 1}
        with pytest.raises(ConflictingEvent):
            record_status(
                conn, shelter_id=SHELTER, events=[StatusEvent(opened.id, ShelterStatus.closed, NOW)]
            )


def test_door_counters_count_once_per_message(shelter_db):
    received = datetime.now(UTC)
    message = decode(
        count_topic("kw-door-01"), encode(seq=7, time=received, entered=5, left=2), received_at=received
    )
    with db.connect(shelter_db) as conn:
        with pytest.raises(UnassignedCounter, match="kw-door-01"):
            apply_door_count(conn, message)
        assign_counter(conn, device_id="kw-door-01", shelter_id=SHELTER)
        assert apply_door_count(conn, message)["occupancy"] == 3
        assert apply_door_count(conn, message) == {
            "shelter_id": SHELTER,
            "occupancy": 3,
            "stored": 0,
            "duplicates": 1,
        }
        source = conn.execute("SELECT source, device_id FROM shelter_count_events").fetchone()
        assert source == ("door_counter", "kw-door-01")
        with pytest.raises(UnknownShelter):
            assign_counter(conn, device_id="kw-door-02", shelter_id="nowhere")


def test_history_buckets_and_status_changes(shelter_db):
    with db.connect(shelter_db) as conn:
        record_status(
            conn,
            shelter_id=SHELTER,
            events=[StatusEvent(uuid.uuid4(), ShelterStatus.open, NOW - timedelta(hours=2))],
        )
        record_counts(
            conn,
            shelter_id=SHELTER,
            events=[delta(+10, seconds_ago=7000), delta(+5, seconds_ago=3000), delta(-3, seconds_ago=100)],
        )
        report = history(
            conn, shelter_id=SHELTER, since=NOW - timedelta(hours=3), until=NOW, bucket=timedelta(hours=1)
        )
        assert [(b["count"], b["peak"]) for b in report["occupancy"]] == [(0, 0), (10, 10), (12, 15)]
        assert [c["status"] for c in report["status_changes"]] == ["open"]
        with pytest.raises(UnknownShelter):
            history(conn, shelter_id="nowhere", since=NOW, until=NOW, bucket=timedelta(hours=1))
