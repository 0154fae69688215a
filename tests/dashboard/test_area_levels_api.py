"""Each area's issued level for the map (/api/areas/levels), the stations' observed
trend, and the resident summary's list of areas: what was issued is public, proposals
and drills only for signed-in staff, never for residents."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from dashboard.main import create_app
from kawamori import db, staff
from kawamori.model import Role
from tests.dashboard.area_setup import DRILL, ISSUED, PROPOSED, set_up
from tests.dashboard.test_alerts_api import PASSWORD, sign_in
from tests.helpers import serve

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def server(demo_db):
    with db.connect(demo_db) as conn:
        staff.create_user(
            conn, username="viewer", display_name="閲覧 職員", role=Role.viewer, password=PASSWORD, now=NOW
        )
        scenario = set_up(conn, now=NOW)
    with serve(create_app(demo_db, clock=lambda: NOW)) as base:
        yield base, scenario


def test_anyone_sees_issued_levels_only(server):
    base, scenario = server
    body = httpx.get(f"{base}/api/areas/levels").json()
    assert body["staff"] is False
    areas = {a["id"]: a for a in body["areas"]}
    assert body["areas"][0]["id"] == ISSUED  # most severe first
    assert areas[ISSUED]["issued"]["level"] == 4 and areas[ISSUED]["issued"]["alert_id"] == scenario.issued
    assert areas[ISSUED]["issued"]["basis"] == "observed"
    # the proposal awaits staff and the drill is a drill: neither is issued, neither is shown
    assert areas[PROPOSED]["issued"] is None and areas[DRILL]["issued"] is None
    assert all(a["proposal"] is None and a["drills"] == [] for a in body["areas"])
    assert {a["id"] for a in body["areas"]} == {ISSUED, PROPOSED, DRILL}
    assert all(a["geometry"] for a in body["areas"])


def test_staff_see_proposals_and_drills(server):
    base, scenario = server
    with sign_in(base, "viewer") as http:
        body = http.get("/api/areas/levels").json()
    assert body["staff"] is True
    areas = {a["id"]: a for a in body["areas"]}
    assert [a["id"] for a in body["areas"]][:2] == [ISSUED, PROPOSED]  # then the open proposal
    assert areas[PROPOSED]["issued"] is None
    assert areas[PROPOSED]["proposal"] == {
        "alert_id": scenario.proposal,
        "proposal": "raise",
        "level": 4,
        "reason": "observed",
        "revision": 1,
    }
    (drill,) = areas[DRILL]["drills"]
    assert drill["alert_id"] == scenario.drill and drill["status"] == "Exercise" and drill["level"] == 3
    assert drill["proposal"]["level"] == 4
    assert areas[DRILL]["issued"] is None and areas[DRILL]["proposal"] is None  # a drill is not the area's


def test_stations_carry_their_observed_trend(server):
    base, _ = server
    stations = {s["id"]: s for s in httpx.get(f"{base}/api/stations").json()}
    assert (stations["fujishima-tomizawa"]["trend"], stations["fujishima-tomizawa"]["rate_m_h"]) == (
        "rising",
        6.0,
    )
    assert stations["fujishima-fujikawa"]["trend"] == "falling"
    # no rate from the evaluator: the last hour's readings (flat) decide
    assert stations["kyoden-kanehiro"]["trend"] == "steady" and stations["kyoden-kanehiro"]["rate_m_h"] == 0
    assert stations["kyoden-chiwara"]["trend"] is None  # no data
    assert stations["kyoden-chiwara"]["alert_status"] == "Exercise"
    features = httpx.get(f"{base}/api/stations.geojson").json()["features"]
    assert {f["properties"]["trend"] for f in features} == {"rising", "falling", "steady", None}


def test_documented_in_openapi(server):
    base, _ = server
    spec = httpx.get(f"{base}/openapi.json").json()
    operation = spec["paths"]["/api/areas/levels"]["get"]
    assert "alert areas" in operation["tags"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/AreaLevelsPublic")
    area = spec["components"]["schemas"]["AreaLevelPublic"]["properties"]
    assert {"issued", "proposal", "drills"} <= set(area)
    station = spec["components"]["schemas"]["StationPublic"]["properties"]
    assert "observed" in station["stage_key"]["description"] and "trend" in station


def test_resident_summary_without_an_area_names_each_issued_area(server):
    base, _ = server
    for lang, name, level in (
        ("ja", "藤島川流域（富沢橋・藤川橋周辺）", "警戒レベル4「避難指示」"),
        ("en", "Fujishima River (Tomizawa and Fujikawa bridges)", "Alert level 4: evacuate"),
        ("ja-easy", "藤島川流域（富沢橋・藤川橋周辺）", "レベル4（にげて ください）"),
    ):
        body = httpx.get(f"{base}/api/residents/summary", params={"lang": lang}).json()
        assert body["issued_areas"] == [
            {"id": ISSUED, "name": name, "level": 4, "level_text": level, "link": True}
        ]
        assert body["quiet_areas"] == 2  # the proposal and the drill are not issued
    chosen = httpx.get(f"{base}/api/residents/summary", params={"area": PROPOSED}).json()
    assert chosen["issued_areas"] == [] and chosen["alert_level"] is None
