"""Import against a real PostgreSQL: idempotent, all or nothing, status kept."""

from __future__ import annotations

import pytest

from kawamori import db
from kawamori.model import Shelter
from shelters.errors import ImportFailed, UnknownShelter
from shelters.opendata import parse_file
from shelters.registry import all_shelters, fingerprints, get_shelter, import_shelters, live_states, state
from tests.shelters.conftest import SAMPLE_CSV, SAMPLE_GEOJSON


def test_import_twice_changes_nothing_the_second_time(conn):
    shelters = parse_file(SAMPLE_CSV.name, SAMPLE_CSV.read_bytes())
    first = import_shelters(conn, shelters)
    assert (first.added, first.updated, first.unchanged) == (20, 0, 0)
    before = fingerprints(conn)
    second = import_shelters(conn, parse_file(SAMPLE_GEOJSON.name, SAMPLE_GEOJSON.read_bytes()))
    assert (second.added, second.updated, second.unchanged) == (0, 0, 20)
    assert fingerprints(conn) == before
    assert str(second) == "0 added, 0 updated, 20 unchanged"


def test_reimport_updates_the_registry_but_keeps_status_and_count(conn):
    shelters = parse_file(SAMPLE_CSV.name, SAMPLE_CSV.read_bytes())
    import_shelters(conn, shelters)
    target = shelters[0].id
    conn.execute("UPDATE shelters SET status = 'open', occupancy = 42 WHERE id = %s", (target,))
    changed = [s.model_copy(update={"capacity": 999}) if s.id == target else s for s in shelters]
    summary = import_shelters(conn, changed)
    assert (summary.added, summary.updated) == (0, 1)
    row = get_shelter(conn, target)
    assert (row["capacity"], row["status"], row["occupancy"]) == (999, "open", 42)
    assert state(row).capacity == 999
    assert live_states(conn)[target] == ("open", 42, 999)


def test_fingerprints_see_places_and_live_state_separately(conn):
    import_shelters(conn, parse_file(SAMPLE_CSV.name, SAMPLE_CSV.read_bytes()))
    places, live = fingerprints(conn)
    conn.execute("UPDATE shelters SET occupancy = 7 WHERE id = '062031-0001'")
    assert fingerprints(conn) == (places, fingerprints(conn)[1]) and fingerprints(conn)[1] != live
    conn.execute("UPDATE shelters SET latitude = 38.7 WHERE id = '062031-0001'")
    assert fingerprints(conn)[0] != places


def test_a_failed_database_write_leaves_nothing_behind(conn):
    good = Shelter(id="a", name_ja="甲", name_en="A", latitude=38, longitude=139, capacity=10)
    # 2**31 does not fit the integer column: the second upsert fails inside the transaction
    bad = good.model_copy(update={"id": "b", "capacity": 2**31})
    with pytest.raises(ImportFailed, match=r"b: .*out of range"):
        import_shelters(conn, [good, bad])
    assert all_shelters(conn) == []


def test_unknown_shelter(conn):
    with pytest.raises(UnknownShelter, match="nowhere"):
        get_shelter(conn, "nowhere")


def test_malformed_file_never_reaches_the_database(database_url, tmp_path):
    path = tmp_path / "bad.csv"
    text = SAMPLE_CSV.read_bytes().decode("cp932").replace("38.764000", "north", 1)
    path.write_bytes(text.encode("cp932"))
    with pytest.raises(ImportFailed, match="line 2: 緯度"):
        parse_file(path.name, path.read_bytes())
    with db.connect(database_url) as conn:
        assert all_shelters(conn) == []
