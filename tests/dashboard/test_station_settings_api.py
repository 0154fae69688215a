"""Station alert settings through the API: admin only, CSRF, validated like a network
file, recorded in the staff audit, and picked up by a running evaluator (drill mode)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.service import Evaluator
from dashboard.main import create_app
from kawamori import db, staff
from kawamori.model import Role
from tests.dashboard.test_alerts_api import PASSWORD, sign_in
from tests.helpers import serve

STATION = "kyoden-jumonji"  # level range 1.85–10.0 m
AREA = "area-kyoden-lower"  # its area (with kyoden-kanehiro)
URL = f"/api/stations/{STATION}/settings"
STAGES = [
    {"key": "observation", "name_ja": "観測開始水位", "name_en": "Observation start", "level_m": 4.35},
    {
        "key": "caution",
        "name_ja": "氾濫注意水位",
        "name_en": "Flood caution",
        "level_m": 7.0,
        "alert_level": 2,
    },
    {"key": "danger", "name_ja": "氾濫危険水位", "name_en": "Flood danger", "level_m": 7.6, "alert_level": 4},
]


@pytest.fixture
def server(demo_db):
    with db.connect(demo_db) as conn:
        for username, role in {"admin": Role.admin, "op": Role.operator}.items():
            staff.create_user(
                conn,
                username=username,
                display_name=username,
                role=role,
                password=PASSWORD,
                now=datetime.now(UTC),
            )
    with serve(create_app(demo_db)) as base:
        yield base, demo_db


def test_only_admins_read_or_change_settings(server):
    base, _ = server
    with sign_in(base, "op") as http:
        assert http.get(URL).status_code == 403
        assert http.put(URL, json={"stages": STAGES}).status_code == 403
    with sign_in(base, "admin") as http:
        settings = http.get(URL).json()
        assert settings["alert_status"] == "Actual" and settings["alert_rules"] == {}
        assert [s["level_m"] for s in settings["stages"]] == [4.35, 7.07, 7.77]
        assert (settings["level_min_m"], settings["level_max_m"]) == (1.85, 10.0)
        assert http.get("/api/stations/nowhere/settings").status_code == 404
        assert http.put("/api/stations/nowhere/settings", json={"stages": STAGES}).status_code == 404
        del http.headers["X-CSRF-Token"]
        assert http.put(URL, json={"stages": STAGES}).status_code == 403  # no CSRF token


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"stages": list(reversed(STAGES))}, "must ascend"),
        ({"stages": [*STAGES[:2], {**STAGES[2], "level_m": 10.5}]}, "outside 1.85–10.0 m"),
        ({"stages": [STAGES[0], {**STAGES[1], "key": "observation"}]}, "unique"),
        ({"stages": [{**STAGES[1], "alert_level": 4}, STAGES[2] | {"alert_level": 2}]}, "alert level"),
        ({"stages": STAGES, "alert_rules": {"dwell_min": -5}}, "dwell_min"),
        ({"stages": STAGES, "alert_rules": {"no_such_rule": 1}}, "no_such_rule"),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(server, change, reason):
    base, _ = server
    with sign_in(base, "admin") as http:
        before = http.get(URL).json()
        response = http.put(URL, json=change)
        assert response.status_code == 422 and reason in response.text
        assert http.get(URL).json() == before


def test_admin_puts_a_station_into_drill_mode(server):
    base, database_url = server
    now = datetime.now(UTC)
    with db.connect(database_url) as conn:
        evaluator = Evaluator(conn)
        evaluator.evaluate(now=now)  # a running evaluator has read the stations
        for minutes in (30, 20, 10):  # a real river moves: the same value again confirms nothing
            conn.execute(
                "INSERT INTO readings (station_id, time, level_m) VALUES (%s, %s, %s)",
                (STATION, now - timedelta(minutes=minutes), 7.65 + minutes / 1000),
            )
        with sign_in(base, "admin") as http:
            response = http.put(
                URL, json={"stages": STAGES, "alert_rules": {"dwell_min": 45}, "alert_status": "Exercise"}
            )
            assert response.status_code == 200, response.text
            assert response.json()["alert_status"] == "Exercise"
            assert http.get(URL).json()["alert_rules"] == {"dwell_min": 45}
        # 7.65 m is below the old danger level (7.77 m) and above the new one (7.6 m)
        # the station's area is decided from all its stations, so its neighbour is evaluated too
        assessments = {a.station_id: a for a in evaluator.evaluate(now=now, station_ids=[STATION])}
        assert assessments[STATION].state.stage_key == "danger"
        # the drill's evidence decides a drill issuance of the area, apart from the real one:
        # level 4 is proposed to staff, and a drill never reaches residents
        alerts = conn.execute(
            """SELECT fingerprint, status, public, state, alert_level, proposal, pending_level
               FROM alerts WHERE kind = 'area' AND area_id = %s""",
            (AREA,),
        ).fetchall()
        assert alerts == [(f"area:{AREA}:Exercise", "Exercise", False, "pending", None, "raise", 4)]
        assert conn.execute("SELECT count(*) FROM alert_outbox WHERE public").fetchone()[0] == 0
        [(actor, details)] = conn.execute(
            """SELECT u.username, a.details FROM staff_audit a JOIN staff_users u ON u.id = a.actor_id
               WHERE a.action = 'station_settings'"""
        ).fetchall()
        assert actor == "admin" and details["station_id"] == STATION
        assert details["before"]["alert_status"] == "Actual"
        assert details["after"]["alert_status"] == "Exercise"
        assert details["after"]["stages"][2]["level_m"] == 7.6
