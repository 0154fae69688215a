"""A scenario-like state of the demo network for the map and the resident page: one
area with an issued level 4, one with a proposal awaiting staff, one in a drill, and
stations whose observed stages and trends say something else than what was issued."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

ISSUED = "area-fujishima"  # 警戒レベル4 避難指示, issued
PROPOSED = "area-kyoden-lower"  # nothing issued, a proposal to raise to level 4 awaits staff
DRILL = "area-kyoden-upper"  # only an Exercise issuance (level 3, a proposal for 4)
XSS = '<img src=x onerror="window.__xss=1">'


@dataclass(frozen=True, slots=True)
class Scenario:
    issued: int
    proposal: int
    drill: int


def _alert(conn, *, area, station, status, state, level, proposal, pending, reason, now, details) -> int:
    return conn.execute(
        """INSERT INTO alerts (fingerprint, station_id, kind, area_id, status, state, public, alert_level,
                               proposal, pending_level, proposal_reason, areas, details, version, revision,
                               opened_at, updated_at)
           VALUES (%s, %s, 'area', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s)
           RETURNING id""",
        (
            f"area:{area}" if status == "Actual" else f"area:{area}:{status}",
            station,
            area,
            status,
            state,
            status == "Actual" and state == "active",
            level,
            proposal,
            pending,
            reason,
            [area],
            json.dumps(details),
            1 if state == "active" else 0,
            now - timedelta(minutes=20),
            now - timedelta(minutes=1),
        ),
    ).fetchone()[0]


def _observe(conn, station: str, *, levels: list[float], stage: str | None, alert_level, rate, now) -> None:
    """Readings a minute apart ending now, and the evaluator's judgement of them."""
    for i, level in enumerate(levels):
        conn.execute(
            "INSERT INTO readings (station_id, time, level_m) VALUES (%s, %s, %s)",
            (station, now - timedelta(minutes=len(levels) - 1 - i), level),
        )
    state = {} if rate is None else {"rate_m_h": rate}
    conn.execute(
        """INSERT INTO station_status (station_id, reading_time, level_m, stage_key, alert_level,
                                       evaluated_at, state)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (station, now, levels[-1], stage, alert_level, now, json.dumps(state)),
    )


def set_up(conn: psycopg.Connection, *, now: datetime, area_name_ja: str | None = None) -> Scenario:
    # observed: Tomizawa above its danger level and still rising; Jumonji at its danger
    # level (level 4 equivalent, which is NOT issued: its area has only a proposal);
    # Fujikawa falling; Kanehiro steady (from its readings: the evaluator gave no rate)
    _observe(
        conn,
        "fujishima-tomizawa",
        levels=[14.70, 14.80, 14.90],
        stage="danger",
        alert_level=4,
        rate=6.0,
        now=now,
    )
    _observe(
        conn, "kyoden-jumonji", levels=[7.70, 7.78, 7.84], stage="danger", alert_level=4, rate=3.6, now=now
    )
    _observe(
        conn,
        "fujishima-fujikawa",
        levels=[7.10, 7.00, 6.90],
        stage="caution",
        alert_level=2,
        rate=-6.0,
        now=now,
    )
    _observe(
        conn,
        "kyoden-kanehiro",
        levels=[5.00, 5.00, 5.00],
        stage="observation",
        alert_level=None,
        rate=None,
        now=now,
    )
    conn.execute("UPDATE stations SET alert_status = 'Exercise' WHERE id = 'kyoden-chiwara'")
    if area_name_ja is not None:
        conn.execute("UPDATE alert_areas SET name_ja = %s WHERE id = %s", (area_name_ja, ISSUED))
    evidence = {
        "basis": "observed",
        "evidence": [
            {
                "station": "fujishima-tomizawa",
                "basis": "observed",
                "level": 4,
                "level_m": 14.9,
                "counts": True,
            }
        ],
    }
    issued = _alert(
        conn,
        area=ISSUED,
        station="fujishima-tomizawa",
        status="Actual",
        state="active",
        level=4,
        proposal=None,
        pending=None,
        reason=None,
        now=now,
        details=evidence,
    )
    proposal = _alert(
        conn,
        area=PROPOSED,
        station="kyoden-jumonji",
        status="Actual",
        state="pending",
        level=None,
        proposal="raise",
        pending=4,
        reason="observed",
        now=now,
        details={"basis": "observed", "evidence": []},
    )
    drill = _alert(
        conn,
        area=DRILL,
        station="kyoden-chiwara",
        status="Exercise",
        state="active",
        level=3,
        proposal="raise",
        pending=4,
        reason="forecast",
        now=now,
        details={"basis": "forecast", "evidence": []},
    )
    return Scenario(issued=issued, proposal=proposal, drill=drill)
