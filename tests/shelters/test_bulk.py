"""Bulk operations against a real PostgreSQL: official head counts with their own
time (any age, audited, once), open / close by list and hazard, the listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kawamori import db
from kawamori.clock import DEFAULT_ZONE as JST
from kawamori.model import Hazard, ShelterStatus
from shelters.bulk import listing, load_snapshots, read_counts, select, set_status
from shelters.counts import official_count
from shelters.errors import InvalidEvent, UnknownShelter
from shelters.opendata import Snapshot

NOW = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
NINTH = datetime(2026, 11, 9, 18, 0, tzinfo=JST)  # four weeks before NOW


def snapshot(shelter_id: str, count: int, at: datetime = NINTH) -> Snapshot:
    return Snapshot(shelter_id, count, at, "人数_11月9日18時時点", 7)


def test_an_official_snapshot_keeps_its_time_whatever_its_age(shelter_db):
    with db.connect(shelter_db) as conn:
        loaded = load_snapshots(
            conn,
            [snapshot("062031-0001", 120), snapshot("nowhere", 3)],
            now=NOW,
            entered_by="cli:ops",
            source="a.csv",
        )
        assert (loaded.stored, loaded.duplicates, loaded.unknown) == (1, 0, ["nowhere"])
        event = conn.execute(
            "SELECT kind, value, recorded_at, source, entered_by, origin FROM shelter_count_events"
        ).fetchone()
        assert event == ("set", 120, NINTH, "official", "cli:ops", "a.csv: 人数_11月9日18時時点, line 7")
        assert conn.execute("SELECT occupancy FROM shelters WHERE id = '062031-0001'").fetchone() == (120,)
        again = load_snapshots(
            conn, [snapshot("062031-0001", 120)], now=NOW, entered_by="cli:ops", source="b.csv"
        )
        assert (again.stored, again.duplicates) == (0, 1)
        corrected = load_snapshots(
            conn, [snapshot("062031-0001", 125)], now=NOW, entered_by="x", source="c.csv"
        )
        assert corrected.conflicts == [
            "062031-0001"
        ]  # a different figure for the same time is not slipped in
        # a staff count after the snapshot wins; an older snapshot does not override it
        later = load_snapshots(
            conn,
            [snapshot("062031-0001", 80, NINTH + timedelta(hours=12))],
            now=NOW,
            entered_by="x",
            source="d",
        )
        assert later.stored == 1
        assert conn.execute("SELECT occupancy FROM shelters WHERE id = '062031-0001'").fetchone() == (80,)


def test_official_counts_are_checked():
    with pytest.raises(InvalidEvent, match="time zone"):
        official_count(
            shelter_id="a", count=1, recorded_at=datetime(2024, 1, 1), now=NOW, entered_by="", origin=""
        )
    with pytest.raises(InvalidEvent, match="ahead"):
        official_count(
            shelter_id="a", count=1, recorded_at=NOW + timedelta(hours=1), now=NOW, entered_by="", origin=""
        )
    with pytest.raises(InvalidEvent, match="whole number"):
        official_count(shelter_id="a", count=-1, recorded_at=NOW, now=NOW, entered_by="", origin="")
    years = official_count(
        shelter_id="a", count=1, recorded_at=NOW - timedelta(days=900), now=NOW, entered_by="", origin=""
    )
    assert years.recorded_at == NOW - timedelta(days=900)


def test_open_and_close_in_bulk_at_an_official_time(shelter_db):
    with db.connect(shelter_db) as conn:
        quake = select(conn, hazard=Hazard.earthquake)
        assert len(quake) > 2
        opened_at = datetime(2026, 12, 1, 16, 30, tzinfo=JST)
        changed, same = set_status(
            conn, quake, ShelterStatus.open, at=opened_at, now=NOW, entered_by="cli:ops", origin="cli"
        )
        assert (changed, same) == (len(quake), 0)
        assert set_status(
            conn, quake[:2], ShelterStatus.open, at=NOW, now=NOW, entered_by="x", origin="y"
        ) == (0, 2)
        row = conn.execute(
            "SELECT status, status_changed_at FROM shelters WHERE id = %s", (quake[0],)
        ).fetchone()
        assert row == ("open", opened_at)
        audit = conn.execute(
            "SELECT source, entered_by FROM shelter_status_events WHERE shelter_id = %s", (quake[0],)
        ).fetchone()
        assert audit == ("cli", "cli:ops")
        with pytest.raises(UnknownShelter, match="nowhere"):
            select(conn, ids=["062031-0001", "nowhere"])
        assert len(select(conn, everything=True)) == 24
        listed = {r["id"]: r for r in listing(conn)}
        assert listed[quake[0]]["status"] == "open" and listed[quake[0]]["counted_at"] is None


def test_counts_from_a_plain_list():
    data = (
        "ID,人数,時点\n062031-0001,35,2024-01-01 18:00\n062031-0002,１２人,1月1日18時\n"
        "062031-0003,x,1月1日18時\n"
    )
    snapshots, problems = read_counts(data.encode("cp932"), now=datetime(2024, 1, 5, tzinfo=UTC))
    assert [(s.shelter_id, s.count, s.at.isoformat()) for s in snapshots] == [
        ("062031-0001", 35, "2024-01-01T18:00:00+09:00"),
        ("062031-0002", 12, "2024-01-01T18:00:00+09:00"),
    ]
    assert [(p.line, p.code) for p in problems] == [(4, "count_bad")]
