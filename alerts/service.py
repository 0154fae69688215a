"""The alert evaluator process: LISTEN for ingest's notifications, evaluate the
stations they name, and evaluate every station on a periodic tick so that a
restart or a missed notification loses nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import psycopg
import structlog
from pydantic import TypeAdapter

from alerts.judge import DISQUALIFYING, Judgement, judge
from kawamori.db import READINGS_CHANNEL, connect
from kawamori.model import Stage

log = structlog.get_logger(__name__)
_stages = TypeAdapter(tuple[Stage, ...])


def evaluate(
    conn: psycopg.Connection, *, now: datetime, station_ids: Iterable[str] | None = None
) -> list[Judgement]:
    """Judge the latest usable reading of each station (or of the given ones) and
    record the result in ``station_status``; returns the judgements."""
    ids = None if station_ids is None else sorted(set(station_ids))
    rows = conn.execute(
        """SELECT s.id, s.stages, r.time, r.level_m
           FROM stations s
           CROSS JOIN LATERAL (
               SELECT time, level_m FROM readings
               WHERE station_id = s.id AND quality & %(bad)s = 0 AND time <= %(now)s
               ORDER BY time DESC LIMIT 1) r
           WHERE %(ids)s::text[] IS NULL OR s.id = ANY(%(ids)s::text[])""",
        {"bad": int(DISQUALIFYING), "now": now, "ids": ids},
    ).fetchall()
    judgements = [
        judge(station_id, _stages.validate_python(stages), time, level, now)
        for station_id, stages, time, level in rows
    ]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO station_status (station_id, reading_time, level_m, stage_key, alert_level,
                                           evaluated_at)
               VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (station_id) DO UPDATE SET
                   reading_time = EXCLUDED.reading_time, level_m = EXCLUDED.level_m,
                   stage_key = EXCLUDED.stage_key, alert_level = EXCLUDED.alert_level,
                   evaluated_at = EXCLUDED.evaluated_at""",
            [
                (j.station_id, j.reading_time, j.level_m, j.stage_key, j.alert_level, j.evaluated_at)
                for j in judgements
            ],
        )
    return judgements


def run(
    database_url: str,
    *,
    tick_s: float = 30.0,
    stopping: threading.Event | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    stopping = stopping or threading.Event()
    listener = connect(database_url, application_name="kawamori-alerts")
    worker = connect(database_url, application_name="kawamori-alerts")
    listener.execute(f"LISTEN {READINGS_CHANNEL}".encode())
    log.info("alerts.started", tick_s=tick_s)
    try:
        evaluate(worker, now=clock())
        last_tick = clock()
        while not stopping.is_set():
            woken: set[str] = set()
            for note in listener.notifies(timeout=1.0, stop_after=None):
                woken.update(filter(None, note.payload.split(",")))
                if len(woken) > 10_000:
                    break
            now = clock()
            if (now - last_tick).total_seconds() >= tick_s:
                evaluate(worker, now=now)
                last_tick = now
            elif woken:
                evaluate(worker, now=now, station_ids=woken)
    finally:
        listener.close()
        worker.close()
        log.info("alerts.stopped")
