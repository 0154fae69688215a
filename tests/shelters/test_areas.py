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


def test_an_area_is_in_danger_when_any_of_its_stations_reaches_level_4(demo_db):
    with db.connect(demo_db) as conn:
        assert danger_areas(conn) == []
        judge(conn, "kyoden-chiwara", 2)
        judge(conn, "kyoden-jumonji", None)
        judge(conn, "kyoden-kanehiro", 5)
        judge(conn, "fujishima-tomizawa", 4)
        found = {a.id: a.alert_level for a in danger_areas(conn)}
        assert found == {"area-kyoden-lower": 5, "area-fujishima": 4}
        lower = next(a for a in danger_areas(conn) if a.id == "area-kyoden-lower")
        assert lower.geometry["type"] == "Polygon" and lower.name_en.startswith("Lower Kyoden")
        assert {a.id for a in danger_areas(conn, min_level=5)} == {"area-kyoden-lower"}
