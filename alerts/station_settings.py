"""A station's alert settings as staff edit them: its stages, its rule overrides
(``stations.alert_rules``) and its alert status (``Actual``, or ``Exercise`` / ``Test``
for a drill).

Validated exactly as a network file is (:func:`kawamori.model.stage_problem`: unique,
ascending, within the sensor's range; :meth:`alerts.rules.RuleSettings.for_station`).
A change sets ``stations.updated_at``, which makes a running evaluator re-read the
station, and is recorded in ``staff_audit`` with the settings before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.errors import NotAllowed, NotFound
from alerts.model import Status
from alerts.rules import RuleSettings, RuleSettingsError
from kawamori.model import Actor, Role, Stage, stage_problem


class InvalidSettings(ValueError):
    """The settings cannot be used for this station (the message says why)."""


@dataclass(frozen=True, slots=True)
class StationSettings:
    station_id: str
    level_min_m: float
    level_max_m: float
    stages: tuple[Stage, ...]
    alert_rules: dict[str, Any]
    alert_status: Status
    updated_at: datetime

    def editable(self) -> dict[str, Any]:
        return {
            "stages": [s.model_dump() for s in self.stages],
            "alert_rules": dict(self.alert_rules),
            "alert_status": str(self.alert_status),
        }


_SELECT = """SELECT id, level_min_m, level_max_m, stages, alert_rules, alert_status, updated_at
             FROM stations WHERE id = %s"""


def _settings(row: tuple) -> StationSettings:
    station_id, level_min, level_max, stages, rules, status, updated_at = row
    return StationSettings(
        station_id=station_id,
        level_min_m=level_min,
        level_max_m=level_max,
        stages=tuple(Stage.model_validate(s) for s in stages),
        alert_rules=dict(rules),
        alert_status=Status(status),
        updated_at=updated_at,
    )


def get_settings(conn: psycopg.Connection, *, station_id: str) -> StationSettings:
    row = conn.execute(_SELECT, (station_id,)).fetchone()
    if row is None:
        raise NotFound(f"no station {station_id!r}")
    return _settings(row)


def update_settings(
    conn: psycopg.Connection,
    *,
    station_id: str,
    stages: tuple[Stage, ...],
    alert_rules: dict[str, Any],
    alert_status: Status,
    by: Actor,
    now: datetime,
) -> StationSettings:
    """Replace a station's alert settings (admins only). Raises :class:`InvalidSettings`
    with the reason, :class:`~alerts.errors.NotFound`, :class:`~alerts.errors.NotAllowed`."""
    if not by.role.at_least(Role.admin):
        raise NotAllowed("only an admin may change a station's alert settings")
    try:
        RuleSettings.for_station(alert_rules)
    except RuleSettingsError as error:
        raise InvalidSettings(str(error)) from None
    with conn.transaction():
        row = conn.execute(_SELECT + " FOR UPDATE", (station_id,)).fetchone()
        if row is None:
            raise NotFound(f"no station {station_id!r}")
        before = _settings(row)
        problem = stage_problem(stages, before.level_min_m, before.level_max_m)
        if problem:
            raise InvalidSettings(problem)
        after_row = conn.execute(
            """UPDATE stations SET stages = %s, alert_rules = %s, alert_status = %s, updated_at = now()
               WHERE id = %s
               RETURNING id, level_min_m, level_max_m, stages, alert_rules, alert_status, updated_at""",
            (Jsonb([s.model_dump() for s in stages]), Jsonb(alert_rules), str(alert_status), station_id),
        ).fetchone()
        after = _settings(after_row)
        conn.execute(
            """INSERT INTO staff_audit (at, actor_id, user_id, action, details)
               VALUES (%s, %s, NULL, 'station_settings', %s)""",
            (
                now,
                by.id,
                Jsonb({"station_id": station_id, "before": before.editable(), "after": after.editable()}),
            ),
        )
    return after
