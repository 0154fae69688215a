"""Which alert areas are under an active alert of level 4 or higher, today from the
evaluator's per-station judgement: an area is under level ≥ 4 when any station
covering it has ``station_status.alert_level`` ≥ 4. The alert engine (its own issue)
replaces the source of this one function; nothing else needs to change."""

from __future__ import annotations

import psycopg

from shelters.recommend import DangerArea

EXCLUDE_FROM_LEVEL = 4


def danger_areas(conn: psycopg.Connection, *, min_level: int = EXCLUDE_FROM_LEVEL) -> list[DangerArea]:
    rows = conn.execute(
        """SELECT a.id, a.name_ja, a.name_en, max(st.alert_level), a.geometry
           FROM alert_areas a
           JOIN alert_area_stations x ON x.area_id = a.id
           JOIN station_status st ON st.station_id = x.station_id
           WHERE st.alert_level >= %s
           GROUP BY a.id ORDER BY a.id""",
        (min_level,),
    ).fetchall()
    return [DangerArea(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]
