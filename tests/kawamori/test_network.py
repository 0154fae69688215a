from __future__ import annotations

from pathlib import Path

import pytest

from kawamori import db
from kawamori.network import NetworkError, apply_network, read_network


def test_demo_network_is_valid(demo_network):
    assert len(demo_network.stations) == 5
    assert {d.station_id for d in demo_network.devices} == {s.id for s in demo_network.stations}
    for station in demo_network.stations:
        assert station.stages[-1].alert_level == 4


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "network.yaml"
    path.write_text(text, encoding="utf-8")
    return path


STATION = """
  - id: s1
    name_ja: 橋
    name_en: Bridge
    river_ja: 川
    river_en: River
    latitude: 38.7
    longitude: 139.8
    mount_height_m: 10
    level_min_m: 0
    level_max_m: 9
    stages:
      - {key: caution, name_ja: 注意, name_en: Caution, level_m: 5, alert_level: 2}
      - {key: danger, name_ja: 危険, name_en: Danger, level_m: 4, alert_level: 4}
"""


def test_errors_name_the_place(tmp_path):
    with pytest.raises(NetworkError) as error:
        read_network(write(tmp_path, "stations:" + STATION))
    assert "stations.0" in str(error.value) and "stages must ascend" in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stations: [\n", "network.yaml"),
        ("devices:\n  - {id: d1, station_id: nowhere}\n", "unknown station nowhere"),
        ("devices:\n  - {id: d1}\n  - {id: d1}\n", "duplicate device ids: d1"),
        ("devices:\n  - {id: 'bad/id'}\n", "devices.0.id"),
        (
            "areas:\n  - {id: a, name_ja: a, name_en: a, geometry: {type: Point, coordinates: [1, 2]}}\n",
            "Polygon",
        ),
        ("surprise: 1\n", "surprise"),
    ],
)
def test_bad_files_are_refused(tmp_path, text, message):
    with pytest.raises(NetworkError, match=message):
        read_network(write(tmp_path, text))


def test_apply_is_idempotent(database_url, demo_network):
    with db.connect(database_url) as conn:
        apply_network(conn, demo_network)
        first = conn.execute("SELECT count(*) FROM stations").fetchone()
        apply_network(conn, demo_network)
        assert conn.execute("SELECT count(*) FROM stations").fetchone() == first
        assert conn.execute("SELECT count(*) FROM alert_area_stations").fetchone()[0] == 5


def test_alert_rules_are_checked_by_the_rules_passed_in(tmp_path):
    """The core reads the file; the alert engine's own check (wired in by the CLI and
    the replay) refuses a station's bad ``alert_rules`` with the place named."""
    from alerts.rules import RuleSettings

    text = "stations:" + STATION.replace("level_m: 5,", "level_m: 3,") + "    alert_rules: {window_h: -1}\n"
    path = write(tmp_path, text)
    assert read_network(path).stations[0].alert_rules == {"window_h": -1}
    with pytest.raises(NetworkError, match=r"stations\.0\.alert_rules \(s1\)"):
        read_network(path, check_rules=RuleSettings.for_station)
