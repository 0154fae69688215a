"""A fleet of gauges running the real firmware against a real Mosquitto, an
in-process ingest worker and PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from kawamori import db
from simulator.firmware_fleet import FirmwareFleet, normal_level, start_for
from simulator.fleet_setup import register_fleet
from tests.helpers import running_ingest

MINUTES = 60


@pytest.fixture
def fleet_db(demo_db, broker):
    start = start_for(time.time(), MINUTES, None)
    with db.connect(demo_db) as conn:
        specs = register_fleet(
            conn, broker.accounts, 20, installed_at=datetime.fromtimestamp(start, UTC) - timedelta(hours=1)
        )
    broker.reload()
    return demo_db, specs, start


@pytest.fixture
def worker(fleet_db, broker):
    with running_ingest(fleet_db[0], broker, "ingest-fleet") as service:
        yield service


def site(broker) -> dict:
    return {"broker_host": "127.0.0.1", "broker_port": broker.port, "tls": False}


def test_every_reading_of_a_fleet_arrives_exactly_once(tmp_path, fleet_db, broker, worker):
    database_url, specs, start = fleet_db
    fleet = FirmwareFleet(specs, folder=tmp_path, site=site(broker), start=start, workers=8)
    seen: list[float] = []
    report = fleet.run(minutes=MINUTES, on_progress=seen.append)
    # a measurement every 10 min for an hour: 6 each (7 if the last cycle lands on the hour)
    assert report.devices == 20 and report.errors == 0, report.last_error
    assert 6 * 20 <= report.taken <= 7 * 20
    assert report.acknowledged == report.taken
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with db.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT device_id, array_agg(seq ORDER BY seq), count(DISTINCT seq), min(time)
               FROM readings WHERE device_id LIKE 'fleet-%' GROUP BY device_id"""
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
        above_first_stage = conn.execute(
            """SELECT count(*) FROM readings r JOIN stations s ON s.id = r.station_id
               WHERE r.device_id LIKE 'fleet-%' AND r.level_m >= (s.stages -> 0 ->> 'level_m')::float8"""
        ).fetchone()[0]
    assert above_first_stage == 0  # a quiet river: the fleet raises no alert
    assert len(rows) == 20
    for device_id, seqs, distinct, first in rows:
        taken, acked = report.per_device[device_id]
        assert seqs == list(range(taken)) and distinct == taken == acked  # each exactly once
        assert first.timestamp() >= start


def test_devices_are_paced_by_virtual_time(tmp_path, fleet_db, broker, worker):
    """At ×600, ten virtual minutes take a second of wall time; a device leaves when
    its clock reaches the end (its cycle at 20 min does not run)."""
    _, specs, _ = fleet_db
    begin = int(time.time())
    fleet = FirmwareFleet(specs[:3], folder=tmp_path, site=site(broker), start=begin, workers=3)
    report = fleet.run(minutes=20, accelerate=600, drain=False)
    assert report.taken == 3 * 2 and report.errors == 0  # at 0 and 10 min
    assert 1.0 <= report.wall_s < 5


def test_the_normal_level_swings_gently_and_differs_by_device():
    one = normal_level(11_000, seed="a")
    two = normal_level(11_000, seed="b")
    levels = [one(t) for t in range(0, 86400, 600)]
    assert all(11_000 - 40 < level < 11_000 + 40 for level in levels)
    assert max(levels) - min(levels) > 40
    assert levels != [two(t) for t in range(0, 86400, 600)]


def test_a_fleet_with_wiped_flash_continues_above_the_servers_watermark(tmp_path, fleet_db, broker, worker):
    """The second run starts from empty flash folders: each gauge takes the server's
    watermark, renumbers what it measured, and nothing is lost or stored twice."""
    database_url, specs, start = fleet_db
    for run in (0, 1):  # the second half hour after the first
        fleet = FirmwareFleet(
            specs[:4], folder=tmp_path / str(run), site=site(broker), start=start + run * 1800, workers=4
        )
        report = fleet.run(minutes=30)
        assert report.taken == 4 * 3 and report.acknowledged == report.taken, report.last_error
    with db.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT device_id, array_agg(seq ORDER BY seq) FROM readings
               WHERE device_id LIKE 'fleet-%' GROUP BY 1"""
        ).fetchall()
    assert len(rows) == 4 and all(seqs == list(range(6)) for _, seqs in rows)


def test_the_fleet_command_registers_runs_and_reports(tmp_path, fleet_db, broker, worker):
    """``kawamori simulate fleet`` against a stack recorded as ``kawamori up`` does."""
    from typer.testing import CliRunner

    from kawamori_app.cli import app

    database_url = fleet_db[0]
    (tmp_path / "services.json").write_text(
        json.dumps(
            {
                "database_url": database_url,
                "mqtt_url": broker.url("kawamori-ingest"),
                "accounts_dir": str(broker.accounts.folder),
                "device_url": broker.devices_url,
            }
        )
    )
    env = {"KAWAMORI_DATA_DIR": str(tmp_path), "KAWAMORI_DATABASE_URL": None, "KAWAMORI_MQTT_URL": None}
    result = CliRunner().invoke(app, ["simulate", "fleet", "--devices", "25", "--minutes", "30"], env=env)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│") and "25" in line)
    assert [cell.strip() for cell in row.strip("│").split("│")][:5] == ["25", "75", "75", "50", "0"]
    with db.connect(database_url) as conn:
        assert (
            conn.execute("SELECT count(*) FROM readings WHERE device_id LIKE 'fleet-%'").fetchone()[0] == 75
        )
        assert conn.execute("SELECT count(*) FROM devices WHERE id LIKE 'fleet-%'").fetchone()[0] == 25
