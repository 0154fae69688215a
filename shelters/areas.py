"""Which alert areas are under an issued level of 4 or higher: the area's public, real
(``Actual``) issuance (``alerts`` of kind ``area``, decided by staff or the written
policy) — never a station's own reading, a proposal still awaiting a person, or a
drill."""

from __future__ import annotations

import psycopg

from shelters.recommend import DangerArea

EXCLUDE_FROM_LEVEL = 4


def danger_areas(conn: psycopg.Connection, *, min_level: int = EXCLUDE_FROM_LEVEL) -> list[DangerArea]:
    rows = conn.execute(
        """SELECT a.id, a.name_ja, a.name_en, al.alert_level, a.geometry
           FROM alert_areas a
           JOIN alerts al ON al.area_id = a.id AND al.kind = 'area'
           WHERE al.state = 'active' AND al.public AND al.status = 'Actual' AND al.alert_level >= %s
           ORDER BY a.id""",
        (min_level,),
    ).fetchall()
    return [DangerArea(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]
