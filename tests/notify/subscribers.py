"""Factories for subscriptions: a test key, addresses per channel, queued work."""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from notify.sealing import SubscriberKey

NOW = datetime(2026, 9, 1, 5, 0, tzinfo=UTC)
UPPER = "area-kyoden-upper"  # demo network areas
LOWER = "area-kyoden-lower"
FUJISHIMA = "area-fujishima"
IN_UPPER = (38.75, 139.94)  # (lat, lon) inside area-kyoden-upper only
ON_LOWER_AND_FUJISHIMA = (38.790, 139.88)  # on the shared edge of two areas
OUTSIDE = (35.68, 139.76)  # Tokyo


def count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def new_key() -> SubscriberKey:
    return SubscriberKey(os.urandom(32))


def push_address(n: int = 1) -> dict:
    raw = os.urandom(16)
    return {
        "endpoint": f"https://push.example.net/send/{n}-{uuid.uuid4().hex}",
        "expirationTime": None,
        "keys": {
            "p256dh": base64.urlsafe_b64encode(os.urandom(65)).rstrip(b"=").decode(),
            "auth": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        },
    }


def line_user(n: int = 1) -> str:
    return "U" + f"{n:032x}"


def queue_work(
    conn: psycopg.Connection, subscription_id: uuid.UUID, *, station: str = "kyoden-chiwara"
) -> int:
    """An alert, its outbox row, one delivery for the subscription and one log row."""
    alert_id = conn.execute(
        """INSERT INTO alerts (fingerprint, station_id, kind, status, state, public, alert_level,
                               areas, version, opened_at, updated_at)
           VALUES (%s, %s, 'stage', 'Actual', 'active', true, 4, %s, 1, %s, %s) RETURNING id""",
        (f"{station}:stage:{uuid.uuid4().hex[:6]}", station, [UPPER], NOW, NOW),
    ).fetchone()[0]
    outbox_id = conn.execute(
        """INSERT INTO alert_outbox (alert_id, version, msg_type, status, public, payload, created_at)
           VALUES (%s, 1, 'Alert', 'Actual', true, %s, %s) RETURNING id""",
        (alert_id, json.dumps({}), NOW),
    ).fetchone()[0]
    delivery_id = conn.execute(
        """INSERT INTO deliveries (outbox_id, subscription_id, not_before, deadline)
           VALUES (%s, %s, %s, %s) RETURNING id""",
        (outbox_id, subscription_id, NOW, NOW),
    ).fetchone()[0]
    conn.execute(
        """INSERT INTO notification_log (delivery_id, alert_id, version, subscription_id, channel,
                                         attempt, outcome, at)
           VALUES (%s, %s, 1, %s, 'line', 1, 'retry', %s)""",
        (delivery_id, alert_id, subscription_id, NOW),
    )
    return delivery_id


def flood(conn, *, level: int = 4, status: str = "Actual", station: str = "kyoden-chiwara", areas=(UPPER,)):
    """A reading, the evaluator's judgement and the issued level of the station's area
    (an active alert of kind ``area``: what residents are told is per area)."""
    conn.execute(
        "INSERT INTO readings (station_id, time, level_m) VALUES (%s, %s, 3.3)",
        (station, NOW - timedelta(minutes=2)),
    )
    conn.execute(
        """INSERT INTO station_status (station_id, reading_time, level_m, stage_key, alert_level,
                                       evaluated_at)
           VALUES (%s, %s, 3.3, 'danger', %s, %s)""",
        (station, NOW - timedelta(minutes=2), level, NOW),
    )
    conn.execute(
        """INSERT INTO alerts (fingerprint, station_id, kind, area_id, status, state, public, alert_level,
                               areas, version, revision, opened_at, updated_at)
           VALUES (%s, %s, 'area', %s, %s, 'active', %s, %s, %s, 1, 1, %s, %s)""",
        (
            f"area:{areas[0]}" if status == "Actual" else f"area:{areas[0]}:{status}",
            station,
            areas[0],
            status,
            status == "Actual",
            level,
            [areas[0]],
            NOW,
            NOW,
        ),
    )
