"""Read-side service functions for the dashboard. Each takes a connection and
keyword arguments and returns plain dicts ready for JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import psycopg
from psycopg.rows import dict_row

STALE_AFTER = timedelta(minutes=30)
# a level changing slower than this is "steady" on the map (the arrow →)
STEADY_M_H = 0.05
TREND_WINDOW = timedelta(hours=1)  # readings behind the trend when the evaluator has no rate
ROLLUP = timedelta(hours=1)  # reading_rollups: one row per station and hour
ROLLUP_BUCKETS = """SELECT date_bin(%s, hour, TIMESTAMPTZ '2000-01-01') AS time,
           sum(sum_m) / sum(n) AS level_m, min(min_m) AS min_m, max(max_m) AS max_m, sum(n)::bigint AS n
    FROM reading_rollups
    WHERE station_id = %s AND hour >= date_bin(%s, %s, TIMESTAMPTZ '2000-01-01') AND hour < %s
    GROUP BY 1 ORDER BY 1 {order} LIMIT %s"""


def trend(rate_m_h: float | None) -> str | None:
    """rising / falling / steady for a rate of rise in m/h; None: not known."""
    if rate_m_h is None:
        return None
    if rate_m_h >= STEADY_M_H:
        return "rising"
    if rate_m_h <= -STEADY_M_H:
        return "falling"
    return "steady"


@lru_cache(maxsize=65_536)
def _stages(text: str) -> list[dict]:
    """A station's stages from their JSON text, decoded once per distinct text: decoding
    20,000 stations' stages on every refresh of the map was half its time. Shared: never
    changed by a caller."""
    return json.loads(text)


def stations(conn: psycopg.Connection, *, now: datetime) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT s.id, s.name_ja, s.name_en, s.river_ja, s.river_en, s.latitude, s.longitude,
                      s.level_min_m, s.level_max_m, s.stages::text AS stages, s.downstream_id, s.alert_status,
                      st.reading_time, st.level_m, st.stage_key, st.alert_level, st.evaluated_at,
                      (st.state ->> 'rate_m_h')::double precision AS evaluated_rate_m_h,
                      latest.time AS latest_time, latest.level_m AS latest_level_m,
                      latest.quality AS latest_quality, recent.rate_m_h AS recent_rate_m_h
               FROM stations s
               LEFT JOIN station_status st ON st.station_id = s.id
               -- the newest reading, kept current as readings are stored (migration 0018)
               LEFT JOIN station_latest latest ON latest.station_id = s.id
               -- the least-squares slope of the last hour's readings, only for a station
               -- the evaluator has given no rate yet (a one-time filter skips the others)
               LEFT JOIN LATERAL (SELECT regr_slope(level_m, extract(epoch FROM time)) * 3600 AS rate_m_h
                                  FROM readings WHERE (st.state ->> 'rate_m_h') IS NULL
                                                  AND station_id = s.id AND time > latest.time - %s
                                                  AND time <= latest.time) recent ON true
               ORDER BY s.river_en, s.id""",
            (TREND_WINDOW,),
        ).fetchall()
    for row in rows:
        row["stages"] = _stages(row["stages"])
        newest = row["latest_time"]
        row["stale"] = newest is None or now - newest > STALE_AFTER
        stage = next((s for s in row["stages"] if s["key"] == row["stage_key"]), None)
        row["stage"] = stage
        evaluated, recent = row.pop("evaluated_rate_m_h"), row.pop("recent_rate_m_h")
        rate = evaluated if evaluated is not None else recent
        row["rate_m_h"] = None if row["stale"] or rate is None else round(rate, 3)
        row["trend"] = trend(row["rate_m_h"])
    return rows


def station_readings(
    conn: psycopg.Connection,
    *,
    station_id: str,
    since: datetime,
    until: datetime,
    bucket: timedelta | None,
    limit: int | None = None,
) -> list[dict]:
    """Readings of one station, oldest first; with ``bucket``, the mean, minimum and
    maximum per time bucket (``date_bin``, which works on PostgreSQL and TimescaleDB
    alike); buckets of whole hours come from the hourly rollups (migration 0018). With
    ``limit``, only the newest ``limit`` (readings or buckets) before ``until``: a
    caller asks for ``limit + 1`` to know whether older ones remain."""
    newest = "DESC" if limit is not None else ""
    with conn.cursor(row_factory=dict_row) as cur:
        if bucket is not None and bucket % ROLLUP == timedelta(0):
            # whole hours: from the hourly rollups (a year is 8,760 rows, not 52,560
            # readings); buckets start at the bucket boundary at or before ``since``
            rows = cur.execute(
                ROLLUP_BUCKETS.format(order=newest), (bucket, station_id, bucket, since, until, limit)
            ).fetchall()
        elif bucket is None:
            rows = cur.execute(
                f"""SELECT time, level_m, quality FROM readings
                   WHERE station_id = %s AND time >= %s AND time < %s ORDER BY time {newest} LIMIT %s""",
                (station_id, since, until, limit),
            ).fetchall()
        else:
            rows = cur.execute(
                f"""SELECT date_bin(%s, time, TIMESTAMPTZ '2000-01-01') AS time,
                          avg(level_m) AS level_m, min(level_m) AS min_m, max(level_m) AS max_m,
                          count(*) AS n
                   FROM readings WHERE station_id = %s AND time >= %s AND time < %s
                   GROUP BY 1 ORDER BY 1 {newest} LIMIT %s""",
                (bucket, station_id, since, until, limit),
            ).fetchall()
    return rows[::-1] if limit is not None else rows


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


def area_levels(conn: psycopg.Connection, *, staff: bool) -> list[dict]:
    """Every area's issued level (発令) — an ``area`` alert of status Actual that is public
    and active — most severe first. With ``staff``, also each area's open proposal and its
    drills (Exercise / Test issuances, never public); without, neither is included.

    Areas are the alert areas plus each station in no area (an area of its own, named
    after the station); ``geometry`` is false for those."""
    with conn.cursor(row_factory=dict_row) as cur:
        places = cur.execute(
            """SELECT a.id, a.name_ja, a.name_en, true AS geometry FROM alert_areas a
               UNION ALL
               SELECT s.id, s.river_ja || '（' || s.name_ja || '）',
                      s.river_en || ' (' || s.name_en || ')', false
               FROM stations s
               WHERE NOT EXISTS (SELECT 1 FROM alert_area_stations x WHERE x.station_id = s.id)"""
        ).fetchall()
        alerts = cur.execute(
            """SELECT id, area_id, status, state, public, alert_level, proposal, pending_level,
                      proposal_reason, revision, opened_at, updated_at, details ->> 'basis' AS basis
               FROM alerts WHERE kind = 'area' AND state IN ('pending', 'active')
               ORDER BY area_id, status, id"""
        ).fetchall()
    by_area: dict[str, dict] = {
        p["id"]: {**p, "issued": None, "proposal": None, "drills": []} for p in places
    }
    for a in alerts:
        area = by_area.get(a["area_id"])
        if area is None:  # an area deleted since: still shown, by its id
            area = by_area[a["area_id"]] = {
                "id": a["area_id"],
                "name_ja": a["area_id"],
                "name_en": a["area_id"],
                "geometry": False,
                "issued": None,
                "proposal": None,
                "drills": [],
            }
        proposal = (
            {
                "alert_id": a["id"],
                "proposal": a["proposal"],
                "level": a["pending_level"],
                "reason": a["proposal_reason"],
                "revision": a["revision"],
            }
            if a["proposal"] is not None
            else None
        )
        if a["status"] != "Actual":
            if staff:
                area["drills"].append(
                    {
                        "alert_id": a["id"],
                        "status": a["status"],
                        "state": a["state"],
                        "level": a["alert_level"],
                        "proposal": proposal,
                    }
                )
            continue
        if a["state"] == "active" and a["public"] and a["alert_level"] is not None:
            area["issued"] = {
                "alert_id": a["id"],
                "level": a["alert_level"],
                "basis": a["basis"],
                "since": a["opened_at"],
                "updated_at": a["updated_at"],
            }
        if staff:
            area["proposal"] = proposal
    rows = list(by_area.values())
    rows.sort(
        key=lambda r: (
            -((r["issued"] or {}).get("level") or 0),
            r["proposal"] is None,
            -((r["proposal"] or {}).get("level") or 0),
            not r["geometry"],
            r["id"],
        )
    )
    return rows


def device_health(conn: psycopg.Connection, *, now: datetime) -> list[dict]:
    """Every device with its status row and its last 24 hours of readings at its station
    (count, flagged count, the union of quality bits) and the newest reading's lag from
    measurement to storage. Read through each station's primary key, never all readings."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT d.id AS device_id, d.station_id, s.name_ja AS station_name_ja,
                      s.name_en AS station_name_en, d.retired_at IS NOT NULL AS retired,
                      ds.online, ds.last_seen, ds.firmware, ds.battery_v::float8 AS battery_v, ds.rssi_dbm,
                      ds.buffered, ds.dropped, newest.time AS last_reading, newest.level_m AS last_level_m,
                      extract(epoch FROM newest.received_at - newest.time)::float8 AS lag_s,
                      coalesce(day.n, 0) AS readings_24h, coalesce(day.flagged, 0) AS flagged_24h,
                      coalesce(day.flags, 0) AS flags_24h, coalesce(ds.extra, '{}'::jsonb) AS reported
               FROM devices d
               LEFT JOIN stations s ON s.id = d.station_id
               LEFT JOIN device_status ds ON ds.device_id = d.id
               LEFT JOIN LATERAL (SELECT time, level_m, received_at FROM readings
                                  WHERE station_id = d.station_id AND device_id = d.id
                                  ORDER BY time DESC LIMIT 1) newest ON true
               LEFT JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE quality <> 0) AS flagged,
                                         bit_or(quality) AS flags
                                  FROM readings WHERE station_id = d.station_id AND device_id = d.id
                                                  AND time > %s AND time <= %s) day ON true
               ORDER BY d.id""",
            (now - timedelta(hours=24), now),
        ).fetchall()
