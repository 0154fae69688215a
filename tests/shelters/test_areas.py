from __future__ import annotations

from datetime import UTC, datetime

from kawamori import db
from shelters.areas import danger_areas


def judge(conn, station_id: str, alert_level: int | None) -> None:
    now = datetime.now(UTC)
    conn.execute(
        """INSERT INTO station_status (station_id, reading_time, level_m, stage_key, alert_level,
                                       evaluated_at)
           VALUES (%s, %s, 1.0, NULL, %s, %s)""",
        (station_id, now, alert_level, now),
    )


def issue(
    conn,
    area_id: str,
    level: int | None,
    *,
    state: str = "active",
    status: str = "Actual",
    proposed: int | None = None,
) -> None:
    """An area's issuance (an alert of kind ``area``): ``level`` issued, ``proposed``
    awaiting staff."""
    now = datetime.now(UTC)
    [station_id] = conn.execute(  # the station behind it (any of the area's)
        "SELECT min(station_id) FROM alert_area_stations WHERE area_id = %s", (area_id,)
    ).fetchone()
    conn.execute(
        """INSERT INTO alerts (fingerprint, station_id, kind, area_id, status, state, public, alert_level,
                               pending_level, proposal, areas, version, revision, opened_at, updated_at)
           VALUES (%s, %s, 'area', %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s)""",
        (
            f"area:{area_id}" if status == "Actual" else f"area:{area_id}:{status}",
            station_id,
            area_id,
            status,
            state,
            status == "Actual",
            level,
            proposed,
            "raise" if proposed else None,
            [area_id],
            0 if level is None else 1,
            now,
            now,
        ),
    )


def test_an_area_is_in_danger_when_its_issued_level_is_4_or_higher(demo_db):
    with db.connect(demo_db) as conn:
        assert danger_areas(conn) == []
        # a station's own reading is evidence, not an issued level
        judge(conn, "kyoden-kanehiro", 5)
        judge(conn, "fujishima-tomizawa", 4)
        assert danger_areas(conn) == []
        # a proposal awaiting a person, and a drill, are not issued levels either
        issue(conn, "area-kyoden-lower", None, state="pending", proposed=5)
        issue(conn, "area-fujishima", 5, status="Exercise")
        assert danger_areas(conn) == []
        conn.execute("DELETE FROM alerts")
        issue(conn, "area-kyoden-upper", 2)
        issue(conn, "area-kyoden-lower", 5)
        issue(conn, "area-fujishima", 4, proposed=5)  # issued 4, a raise to 5 awaiting staff
        found = {a.id: a.alert_level for a in danger_areas(conn)}
        assert found == {"area-kyoden-lower": 5, "area-fujishima": 4}
        lower = next(a for a in danger_areas(conn) if a.id == "area-kyoden-lower")
        assert lower.geometry["type"] == "Polygon" and lower.name_en.startswith("Lower Kyoden")
        assert {a.id for a in danger_areas(conn, min_level=5)} == {"area-kyoden-lower"}
