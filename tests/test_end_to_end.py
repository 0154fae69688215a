"""The thin slice, end to end with real parts: virtual gauges publish over a real
Mosquitto with their own credentials; the ingest worker stores the readings in
PostgreSQL; the alert evaluator judges them; the HTTP API shows the result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from alerts.rules import load_rules
from alerts.service import evaluate
from dashboard.main import create_app
from kawamori import db
from kawamori.network import DEMO_RULES
from simulator.fleet import run_fleet
from simulator.hydrograph import Event
from tests.helpers import running_ingest, serve, wait_for


@pytest.fixture
def ingest_worker(demo_db, broker):
    with running_ingest(demo_db, broker, "kawamori-ingest-t1") as worker:
        yield worker


def test_simulator_to_api(demo_network, demo_db, broker, ingest_worker):
    for device in demo_network.devices:
        broker.accounts.ensure(device.id)
    broker.reload()  # returns once Mosquitto has read the new accounts
    # a flood already near its peak: the gauges' last readings before this test (stored
    # as ingest would have) show the rise through the danger level, a few cm/min as the
    # demo's time-compressed rules expect; the fleet then reports the peak
    started = datetime.now(UTC)
    with db.connect(demo_db) as conn:
        for station in demo_network.stations:
            danger = next(s.level_m for s in station.stages if s.key == "danger")
            for seconds_ago, above in ((90, -0.40), (60, -0.15), (30, 0.03)):
                conn.execute(
                    "INSERT INTO readings (station_id, time, level_m) VALUES (%s, %s, %s)",
                    (station.id, started - timedelta(seconds=seconds_ago), danger + above),
                )
    flood = Event(
        start=datetime.now(UTC) - timedelta(minutes=20),
        time_to_peak=timedelta(minutes=20),
        lag_per_reach=timedelta(0),
        attenuation_per_reach=1.0,
        peak_ratio=1.05,
    )
    stats = run_fleet(
        list(demo_network.stations),
        list(demo_network.devices),
        broker_url=broker.devices_url,
        password_for=broker.accounts.password,
        interval_s=1.0,
        events=(flood,),
        count=5,
    )
    assert stats.published == 25

    def stored():
        with db.connect(demo_db) as conn:
            return (
                conn.execute("SELECT count(*) FROM readings WHERE device_id IS NOT NULL").fetchone()[0] == 25
            )

    wait_for(stored)
    with db.connect(demo_db) as conn:
        # the fleet sends a reading a second: judge it with the demo's time-compressed rules
        assessments = evaluate(conn, now=datetime.now(UTC), rules=load_rules(DEMO_RULES))
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
        # every station at flood danger: each of the three areas gets one proposal to issue
        # level 4, waiting for a person's approval; nothing is issued, nothing is public yet
        pending = conn.execute(
            """SELECT area_id, state, alert_level, proposal, pending_level, proposal_reason
               FROM alerts WHERE kind IN ('area', 'stage', 'forecast') ORDER BY area_id"""
        ).fetchall()
        assert [row[:5] for row in pending] == [
            (area.id, "pending", None, "raise", 4) for area in sorted(demo_network.areas, key=lambda a: a.id)
        ]
        assert {row[5] for row in pending} == {"observed"}
        assert conn.execute("SELECT count(*) FROM alert_outbox WHERE public").fetchone()[0] == 0
    assert {a.station_id for a in assessments} == {s.id for s in demo_network.stations}

    with serve(create_app(demo_db)) as base, httpx.Client(base_url=base) as client:
        stations = client.get("/api/stations").json()
        assert len(stations) == 5
        for station in stations:
            assert station["latest_time"] is not None and not station["stale"]
            assert station["stage_key"] == "danger" and station["alert_level"] == 4
        geo = client.get("/api/stations.geojson")
        assert geo.headers["content-type"].startswith("application/geo+json")
        assert len(geo.json()["features"]) == 5
        hydrograph = client.get("/api/stations/kyoden-chiwara/readings", params={"hours": 1}).json()
        assert len(hydrograph) == 8  # three before the test, five from the fleet
