"""Read-side service functions for the dashboard. Each takes a connection and
keyword arguments and returns plain dicts ready for JSON."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

STALE_AFTER = timedelta(minutes=30)


def stations(conn: psycopg.Connection, *, now: datetime) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT s.id, s.name_ja, s.name_en, s.river_ja, s.river_en, s.latitude, s.longitude,
                      s.level_min_m, s.level_max_m, s.stages, s.downstream_id,
                      st.reading_time, st.level_m, st.stage_key, st.alert_level, st.evaluated_at,
                      latest.time AS latest_time, latest.level_m AS latest_level_m,
                      latest.quality AS latest_quality
               FROM stations s
               LEFT JOIN station_status st ON st.station_id = s.id
               LEFT JOIN LATERAL (SELECT time, level_m, quality FROM readings
                                  WHERE station_id = s.id ORDER BY time DESC LIMIT 1) latest ON true
               ORDER BY s.river_en, s.id"""
        ).fetchall()
    for row in rows:
        newest = row["latest_time"]
        row["stale"] = newest is None or now - newest > STALE_AFTER
        stage = next((s for s in row["stages"] if s["key"] == row["stage_key"]), None)
        row["stage"] = stage
    return rows


def station_readings(
    conn: psycopg.Connection, *, station_id: str, since: datetime, until: datetime, bucket: timedelta | None
) -> list[dict]:
    """Readings of one station; with ``bucket``, the mean, minimum and maximum per
    time bucket (``date_bin``, which works on PostgreSQL and TimescaleDB alike)."""
    with conn.cursor(row_factory=dict_row) as cur:
        if bucket is None:
            return cur.execute(
                """SELECT time, level_m, quality FROM readings
                   WHERE station_id = %s AND time >= %s AND time < %s ORDER BY time""",
                (station_id, since, until),
            ).fetchall()
        return cur.execute(
            """SELECT date_bin(%s, time, TIMESTAMPTZ '2000-01-01') AS time,
                      avg(level_m) AS level_m, min(level_m) AS min_m, max(level_m) AS max_m,
                      count(*) AS n
               FROM readings WHERE station_id = %s AND time >= %s AND time < %s
               GROUP BY 1 ORDER BY 1""",
            (bucket, station_id, since, until),
        ).fetchall()


def station_exists(conn: psycopg.Connection, station_id: str) -> bool:
    return conn.execute("SELECT 1 FROM stations WHERE id = %s", (station_id,)).fetchone() is not None


def areas(conn: psycopg.Connection) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT a.id, a.name_ja, a.name_en, a.geometry,
                      coalesce(array_agg(x.station_id ORDER BY x.station_id)
                               FILTER (WHERE x.station_id IS NOT NULL), '{}') AS station_ids
               FROM alert_areas a LEFT JOIN alert_area_stations x ON x.area_id = a.id
               GROUP BY a.id ORDER BY a.id"""
        ).fetchall()


def counts(conn: psycopg.Connection) -> dict[str, int]:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM stations), (SELECT count(*) FROM devices),
                  (SELECT count(*) FROM dead_letters)"""
    ).fetchone()
    assert row is not None
    return {"stations": row[0], "devices": row[1], "dead_letters": row[2]}


@dataclass(frozen=True, slots=True)
class AlertNames:
    """Names the alert console shows next to alerts: rivers by station, alert areas,
    staff members by id."""

    rivers: dict[str, tuple[str, str]]
    areas: dict[str, tuple[str, str]]
    users: dict[int, str]


def alert_names(conn: psycopg.Connection, *, views: Iterable) -> AlertNames:
    views = list(views)
    stations = sorted({v.station_id for v in views})
    areas = sorted({a for v in views for a in v.areas})
    users = sorted({v.acknowledged_by for v in views if v.acknowledged_by is not None})
    rivers = conn.execute(
        "SELECT id, river_ja, river_en FROM stations WHERE id = ANY(%s)", (stations,)
    ).fetchall()
    area_rows = conn.execute(
        "SELECT id, name_ja, name_en FROM alert_areas WHERE id = ANY(%s)", (areas,)
    ).fetchall()
    user_rows = conn.execute(
        "SELECT id, display_name FROM staff_users WHERE id = ANY(%s)", (users,)
    ).fetchall()
    return AlertNames(
        rivers={r[0]: (r[1], r[2]) for r in rivers},
        areas={r[0]: (r[1], r[2]) for r in area_rows},
        users=dict(user_rows),
    )
