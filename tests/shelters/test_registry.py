"""Import against a real PostgreSQL: a preview that writes nothing, idempotent, status
and counts kept, capacities as read."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kawamori import db
from shelters import fields
from shelters.errors import ImportFailed, UnknownShelter
from shelters.opendata import parse_file
from shelters.registry import (
    all_shelters,
    fingerprints,
    get_shelter,
    import_records,
    live_states,
    plan,
    state,
)
from tests.shelters.conftest import NOW, OPENED_UTF8, SAMPLE_GEOJSON, sample_records


def test_import_twice_changes_nothing_the_second_time(conn):
    first = import_records(conn, sample_records())
    assert (len(first.added), len(first.changed), len(first.unchanged)) == (20, 0, 0)
    before = fingerprints(conn)
    second = import_records(
        conn, parse_file(SAMPLE_GEOJSON.name, SAMPLE_GEOJSON.read_bytes(), now=NOW).records
    )
    assert (len(second.added), len(second.changed), len(second.unchanged)) == (0, 0, 20)
    assert fingerprints(conn) == before
    assert str(second) == "0 added, 0 changed, 20 unchanged, 0 not in the file"


def test_a_preview_writes_nothing_and_names_what_would_change(conn):
    records = sample_records()
    import_records(conn, records[:18])
    edited = [replace(records[0], capacity=fields.capacity("屋内250人")), *records[1:5], records[19]]
    preview = plan(conn, edited)
    assert [r["id"] for r in preview.added] == [records[19].id]
    assert [(r["id"], f) for r, f in preview.changed] == [
        (records[0].id, ["capacity", "capacity_text", "capacity_indoor", "capacity_basis"])
    ]
    assert len(preview.unchanged) == 4 and len(preview.removed) == 13  # kept, only named
    assert len(all_shelters(conn)) == 18 and get_shelter(conn, records[0].id)["capacity"] == 400


def test_reimport_updates_the_registry_but_keeps_status_and_count(conn):
    records = sample_records()
    import_records(conn, records)
    target = records[0].id
    conn.execute("UPDATE shelters SET status = 'open', occupancy = 42 WHERE id = %s", (target,))
    changed = [replace(r, capacity=fields.capacity("999")) if r.id == target else r for r in records]
    summary = import_records(conn, changed)
    assert (len(summary.added), len(summary.changed)) == (0, 1)
    row = get_shelter(conn, target)
    assert (row["capacity"], row["status"], row["occupancy"]) == (999, "open", 42)
    assert state(row).capacity == 999
    assert live_states(conn)[target] == ("open", 42, 999)


def test_capacities_designations_and_temporary_shelters_are_stored(conn):
    import_records(conn, parse_file(OPENED_UTF8.name, OPENED_UTF8.read_bytes(), now=NOW).records)
    kyoden = get_shelter(conn, "062031-0001")
    assert (kyoden["capacity"], kyoden["capacity_indoor"], kyoden["capacity_outdoor"]) == (480, 480, 3350)
    assert (kyoden["capacity_basis"], kyoden["designated_shelter"], kyoden["capacity_text"]) == (
        "indoor",
        True,
        "屋内480人／屋外3,350人(面積の1/2)",
    )
    park = get_shelter(conn, "062031-0005")
    assert (park["capacity"], park["capacity_basis"], park["area_m2"]) == (2500, "site", 5000.0)
    unknown = get_shelter(conn, "062031-0007")
    assert (unknown["capacity"], unknown["capacity_basis"]) == (0, "unknown")
    temporary = get_shelter(conn, "062031-0011")
    assert temporary["temporary"] and state(temporary).temporary


def test_fingerprints_see_places_and_live_state_separately(conn):
    import_records(conn, sample_records())
    places, live = fingerprints(conn)
    conn.execute("UPDATE shelters SET occupancy = 7 WHERE id = '062031-0001'")
    assert fingerprints(conn) == (places, fingerprints(conn)[1]) and fingerprints(conn)[1] != live
    conn.execute("UPDATE shelters SET latitude = 38.7 WHERE id = '062031-0001'")
    assert fingerprints(conn)[0] != places


def test_a_failed_database_write_leaves_nothing_behind(conn):
    good, other = sample_records()[:2]
    # 2**31 does not fit the integer column: the second upsert fails inside the transaction
    bad = replace(other, capacity=fields.capacity(str(2**31)))
    with pytest.raises(ImportFailed, match=r"062031-0002: .*out of range"):
        import_records(conn, [good, bad])
    assert all_shelters(conn) == []


def test_unknown_shelter(conn):
    with pytest.raises(UnknownShelter, match="nowhere"):
        get_shelter(conn, "nowhere")


def test_the_migration_keeps_existing_shelters_readable(database_url):
    with db.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO shelters (id, name_ja, name_en, latitude, longitude, capacity)
               VALUES ('old', '旧', 'Old', 38.7, 139.8, 300)"""
        )
        row = get_shelter(conn, "old")
    assert (row["capacity"], row["capacity_basis"], row["temporary"], row["designated_shelter"]) == (
        300,
        "stated",
        False,
        None,
    )
