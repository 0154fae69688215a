"""Small factories for the alert-lifecycle tests: conditions, staff actors and accounts."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from alerts.model import Condition, Kind
from kawamori.model import Actor, Role

T0 = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)
STATION = "kyoden-jumonji"  # demo network: caution (level 2) and danger (level 4); area-kyoden-lower

STAGES = {1: "observation", 2: "caution", 3: "evacuation", 4: "danger", 5: "flooding"}


def stage(level: int | None, station: str = STATION, *, stale: bool = False, **details) -> Condition:
    return Condition(
        station_id=station,
        kind=Kind.stage,
        alert_level=level,
        stage_key=STAGES.get(level or 0),
        stale=stale,
        details=details or {"level_m": 7.0 + (level or 0) / 10},
    )


def sensor(station: str = STATION) -> Condition:
    return Condition(station_id=station, kind=Kind.sensor, details={"reason": "flat line"})


def actor(user_id: int, role: Role) -> Actor:
    return Actor(id=user_id, username=f"{role}{user_id}", display_name=f"{role.title()} {user_id}", role=role)


def add_staff(conn: psycopg.Connection, username: str, role: Role, display_name: str = "") -> Actor:
    user_id = conn.execute(
        """INSERT INTO staff_users (username, display_name, role, password_hash)
           VALUES (%s, %s, %s, 'x') RETURNING id""",
        (username, display_name or username.title(), str(role)),
    ).fetchone()[0]
    return Actor(id=user_id, username=username, display_name=display_name or username.title(), role=role)
