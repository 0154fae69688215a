"""What the after-action review reads (``dashboard/review.py``): every query is bounded
by the areas asked for and the time range, through the tables' own indexes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg
import shapely
from psycopg.rows import dict_row
from shapely.geometry import Point, shape

NEAR_DEG = 0.02  # shelters within about 2 km of an area serve it (where its people go)


def _rows(conn: psycopg.Connection, sql: str, params: tuple) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def areas(conn: psycopg.Connection, ids: Sequence[str]) -> list[dict]:
    """The areas asked for, named as :func:`dashboard.queries.area_levels` names them:
    alert areas with their stations, and stations in no area (an area of their own)."""
    return _rows(
        conn,
        """SELECT a.id, a.name_ja, a.name_en, a.geometry,
                  coalesce(array_agg(x.station_id ORDER BY x.station_id)
                           FILTER (WHERE x.station_id IS NOT NULL), '{}') AS station_ids
           FROM alert_areas a LEFT JOIN alert_area_stations x ON x.area_id = a.id
           WHERE a.id = ANY(%s) GROUP BY a.id
           UNION ALL
           SELECT s.id, s.river_ja || '（' || s.name_ja || '）', s.river_en || ' (' || s.name_en || ')',
                  NULL, ARRAY[s.id]
           FROM stations s
           WHERE s.id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM alert_area_stations x WHERE x.station_id = s.id)
           ORDER BY 1""",
        (list(ids), list(ids)),
    )


def stations(conn: psycopg.Connection, ids: Sequence[str]) -> list[dict]:
    return _rows(
        conn, "SELECT id, name_ja, name_en, stages FROM stations WHERE id = ANY(%s) ORDER BY id", (list(ids),)
    )


def audit(conn: psycopg.Connection, area_ids: Sequence[str], since: datetime, until: datetime) -> list[dict]:
    """Every audit entry of the areas' issuances in the range, with who acted (None: the
    engine) and the area's names."""
    return _rows(
        conn,
        """SELECT au.at, au.action, au.reason, au.details, a.area_id, a.status, u.display_name AS actor,
                  coalesce(ar.name_ja, a.area_id) AS area_ja, coalesce(ar.name_en, a.area_id) AS area_en
           FROM alerts a
           JOIN alert_audit au ON au.alert_id = a.id
           LEFT JOIN staff_users u ON u.id = au.actor_id
           LEFT JOIN alert_areas ar ON ar.id = a.area_id
           WHERE a.kind = 'area' AND a.area_id = ANY(%s) AND au.at >= %s AND au.at < %s
           ORDER BY au.at, au.id""",
        (list(area_ids), since, until),
    )


def messages(
    conn: psycopg.Connection, area_ids: Sequence[str], since: datetime, until: datetime
) -> list[dict]:
    return _rows(
        conn,
        """SELECT o.alert_id, o.version, o.msg_type, o.public, o.created_at, a.area_id,
                  o.payload ->> 'alert_level' AS level,
                  coalesce(ar.name_ja, a.area_id) AS area_ja, coalesce(ar.name_en, a.area_id) AS area_en
           FROM alerts a
           JOIN alert_outbox o ON o.alert_id = a.id
           LEFT JOIN alert_areas ar ON ar.id = a.area_id
           WHERE a.kind = 'area' AND a.area_id = ANY(%s) AND o.created_at >= %s AND o.created_at < %s
           ORDER BY o.created_at, o.id""",
        (list(area_ids), since, until),
    )


def deliveries(conn: psycopg.Connection, alert_ids: Sequence[int]) -> list[dict]:
    """Per message version and channel: delivered, failed (failed, gone, expired),
    superseded, still queued, and duplicates (a subscription told the same version more
    than once, from the notification log)."""
    return _rows(
        conn,
        """WITH counted AS (
               SELECT d.alert_id, d.version, d.channel,
                      count(*) FILTER (WHERE d.state = 'delivered') AS sent,
                      count(*) FILTER (WHERE d.state IN ('failed', 'gone', 'expired')) AS failed,
                      count(*) FILTER (WHERE d.state = 'superseded') AS superseded,
                      count(*) FILTER (WHERE d.state = 'queued') AS queued,
                      min(d.created_at) AS first_created, max(d.done_at) AS last_done
               FROM deliveries d WHERE d.alert_id = ANY(%s) GROUP BY 1, 2, 3),
           repeated AS (
               SELECT alert_id, version, channel, sum(n - 1) AS duplicates
               FROM (SELECT alert_id, version, channel, subscription_id, count(*) AS n
                     FROM notification_log WHERE alert_id = ANY(%s) AND outcome = 'delivered'
                     GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) x
               GROUP BY 1, 2, 3)
           SELECT c.*, coalesce(r.duplicates, 0)::bigint AS duplicates, a.area_id,
                  coalesce(ar.name_ja, a.area_id) AS area_ja, coalesce(ar.name_en, a.area_id) AS area_en
           FROM counted c
           JOIN alerts a ON a.id = c.alert_id
           LEFT JOIN alert_areas ar ON ar.id = a.area_id
           LEFT JOIN repeated r ON (r.alert_id, r.version, r.channel) = (c.alert_id, c.version, c.channel)
           ORDER BY c.first_created, c.channel""",
        (list(alert_ids), list(alert_ids)),
    )


def shelters_near(conn: psycopg.Connection, areas: Sequence[dict]) -> list[dict]:
    """Shelters inside the areas or within about 2 km of them (a station's own area, with
    no polygon, is the point of the station)."""
    shapes = []
    for a in areas:
        if a["geometry"]:
            shapes.append(shapely.make_valid(shape(a["geometry"])).buffer(NEAR_DEG))
        else:
            for s in _rows(
                conn, "SELECT latitude, longitude FROM stations WHERE id = ANY(%s)", (a["station_ids"],)
            ):
                shapes.append(Point(s["longitude"], s["latitude"]).buffer(NEAR_DEG))
    if not shapes:
        return []
    region = shapely.union_all(shapes)
    rows = _rows(
        conn, "SELECT id, name_ja, name_en, capacity, latitude, longitude FROM shelters ORDER BY id", ()
    )
    return [r for r in rows if region.contains(Point(r["longitude"], r["latitude"]))]


def counts(conn: psycopg.Connection, shelter_id: str, until: datetime) -> list[tuple[datetime, str, int]]:
    return conn.execute(
        """SELECT recorded_at, kind, value FROM shelter_count_events
           WHERE shelter_id = %s AND recorded_at < %s ORDER BY recorded_at, id""",
        (shelter_id, until),
    ).fetchall()


def statuses(
    conn: psycopg.Connection, shelter_ids: Sequence[str], since: datetime, until: datetime
) -> list[tuple[str, datetime, str]]:
    return conn.execute(
        """SELECT shelter_id, recorded_at, status FROM shelter_status_events
           WHERE shelter_id = ANY(%s) AND recorded_at >= %s AND recorded_at < %s ORDER BY recorded_at""",
        (list(shelter_ids), since, until),
    ).fetchall()
