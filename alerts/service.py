"""The alert evaluator process: evaluate the stations ingest names in its
notifications at once, and every station on a periodic tick (staleness, time-driven
hysteresis, reminders of pending approvals), so a restart or a missed notification
loses nothing.

One evaluation, for any set of stations, in one transaction:

1. read each station's remembered state (``station_status.state``) and the time of
   its newest reading; only stations with a newer reading get their window of
   readings fetched (one query for all of them; from a window before the last reading
   judged, so a backlog that lands at once is judged reading by reading) — the others
   take the evaluator's fast path, which only checks their health;
2. judge them with the pure :func:`alerts.evaluate.evaluate`;
3. store what changed: the new states, the quality-control flags on the readings,
   and the alerts reconciled with the conditions (:func:`alerts.store.apply_many`,
   which writes the audit log and the outbox).

The clock is injected (:class:`kawamori.clock.Clock`, the same one ingest takes): the
simulator runs the same code in accelerated or manual time.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import structlog
from psycopg.rows import dict_row

from alerts import store
from alerts.evaluate import evaluate_columns as assess
from alerts.evaluate import state_from_json, state_to_json
from alerts.model import Assessment, StationState
from alerts.policy import ApprovalPolicy
from alerts.rules import RuleSettings, RuleSettingsError
from kawamori.clock import REAL, Clock
from kawamori.db import READINGS_CHANNEL, connect
from kawamori.model import Station
from kawamori.waiting import StopWaiting, until_ready

log = structlog.get_logger(__name__)


_EMPTY: tuple[list, list, list] = ([], [], [])
MAX_CATCH_UP = timedelta(days=2)  # the broker keeps a board's backlog this long (session expiry)


def _since(newest: datetime, judged: datetime | None, window: timedelta) -> datetime:
    """Where a station's readings must be fetched from: the rules look back ``window``
    from the newest reading, and every reading newer than the last one judged is taken
    into account one by one, with its own window before it — so a backlog that lands at
    once (a board back from an outage) is judged by measurement time, not only its end."""
    since = newest - window
    if judged is not None and judged - window < since:
        since = max(judged - window, newest - MAX_CATCH_UP)
    return since


@dataclass(frozen=True, slots=True)
class _Entry:
    station: Station
    rules: RuleSettings
    neighbours: tuple[str, ...]  # up- and downstream stations
    alert_levels: Mapping[str, int | None]  # stage key → its 警戒レベル


class Evaluator:
    """Evaluates stations against one database connection. Station definitions are
    cached and re-read only when the ``stations`` table changes."""

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        policy: ApprovalPolicy | None = None,
        rules: RuleSettings | None = None,
        sender: str = store.DEFAULT_SENDER,
    ) -> None:
        self.conn = conn
        self.policy = policy or ApprovalPolicy()
        self.rules = rules or RuleSettings()
        self.sender = sender
        self._entries: dict[str, _Entry] = {}
        self._areas: dict[str, tuple[str, ...]] = {}  # area → its stations (issuances are per area)
        self._areas_of: dict[str, tuple[str, ...]] = {}  # station → its areas
        self._version: tuple | None = None

    def _refresh(self) -> None:
        version = self.conn.execute(
            """SELECT count(*), max(updated_at),
                      (SELECT md5(coalesce(string_agg(area_id || ' ' || station_id, ','
                                                      ORDER BY area_id, station_id), ''))
                       FROM alert_area_stations)
               FROM stations"""
        ).fetchone()
        if version == self._version:
            return
        with self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                """SELECT id, name_ja, name_en, river_ja, river_en, latitude, longitude, datum_elevation_m,
                          mount_height_m, level_min_m, level_max_m, stages, downstream_id, alert_rules
                   FROM stations"""
            ).fetchall()
        stations = [Station.model_validate(row) for row in rows]
        upstream: dict[str, list[str]] = {}
        for station in stations:
            if station.downstream_id:
                upstream.setdefault(station.downstream_id, []).append(station.id)
        entries = {}
        for station in stations:
            neighbours = {*upstream.get(station.id, ()), *filter(None, [station.downstream_id])}
            try:
                rules = RuleSettings.for_station(station.alert_rules, self.rules)
            except RuleSettingsError as error:  # never stop judging a station over a settings typo
                log.error("alerts.bad_station_rules", station=station.id, error=str(error))
                rules = self.rules
            levels = {stage.key: stage.alert_level for stage in station.stages}
            entries[station.id] = _Entry(station, rules, tuple(sorted(neighbours)), levels)
        self._entries = entries
        areas: dict[str, list[str]] = {}
        for area_id, station_id in self.conn.execute("SELECT area_id, station_id FROM alert_area_stations"):
            if station_id in entries:
                areas.setdefault(area_id, []).append(station_id)
        placed = {station_id for members in areas.values() for station_id in members}
        for station_id in entries.keys() - placed:  # a station in no area is an area of its own
            areas[station_id] = [station_id]
        self._areas = {area: tuple(sorted(members)) for area, members in areas.items()}
        self._areas_of: dict[str, tuple[str, ...]] = {}
        for area, members in self._areas.items():
            for station_id in members:
                self._areas_of[station_id] = (*self._areas_of.get(station_id, ()), area)
        self._version = version

    def evaluate(self, *, now: datetime, station_ids: Iterable[str] | None = None) -> list[Assessment]:
        """Evaluate these stations (default: all) as of ``now`` and store the outcome."""
        with _collector_paused():
            return self._evaluate(now=now, station_ids=station_ids)

    def _evaluate(self, *, now: datetime, station_ids: Iterable[str] | None) -> list[Assessment]:
        self._refresh()
        named = self._entries.keys() if station_ids is None else set(station_ids) & self._entries.keys()
        # an area is decided from all its stations: evaluate the others too (their fast
        # path, unless they have new readings as well)
        areas = {area for sid in named for area in self._areas_of.get(sid, ())}
        ids = sorted({*named, *(sid for area in areas for sid in self._areas[area])})
        if not ids:
            return []
        with self.conn.transaction():
            priors, newest = self._priors(ids, now)
            windows = self._windows(
                [
                    (sid, _since(newest[sid], priors[sid].last_time, self._entries[sid].rules.window))
                    for sid in ids
                    if sid in newest
                    and (priors[sid].last_time is None or newest[sid] > priors[sid].last_time)
                ],
                now,
            )
            # only neighbours' levels are ever read
            wanted = {n for sid in ids for n in self._entries[sid].neighbours}
            levels = {n: self._alert_level(n, state) for n in wanted if (state := priors.get(n)) is not None}
            assessments = []
            for sid in ids:
                entry = self._entries[sid]
                stamps, levels_m, qualities = windows.get(sid, _EMPTY)
                assessments.append(
                    assess(
                        entry.station,
                        stamps,
                        levels_m,
                        qualities,
                        priors[sid],
                        now=now,
                        settings=entry.rules,
                        neighbours={n: levels.get(n) for n in entry.neighbours},
                    )
                )
            self._store(assessments, priors, now)
            store.apply_many(
                self.conn,
                conditions={a.station_id: a.conditions for a in assessments},
                now=now,
                policy=self.policy,
                sender=self.sender,
                areas={area: self._areas[area] for area in areas},
            )
        return assessments

    def remind(self, *, now: datetime) -> None:
        store.remind_pending(self.conn, now=now, policy=self.policy, sender=self.sender)

    def _alert_level(self, station_id: str, state: StationState) -> int | None:
        entry = self._entries.get(station_id)
        if entry is None or state.stage_key is None:
            return None
        return entry.alert_levels.get(state.stage_key)

    def _priors(self, ids: list[str], now: datetime) -> tuple[dict[str, StationState], dict[str, datetime]]:
        rows = self.conn.execute(
            """SELECT s.id, st.state, r.time
               FROM unnest(%(ids)b::text[]) AS s(id)
               LEFT JOIN station_status st ON st.station_id = s.id
               LEFT JOIN LATERAL (SELECT time FROM readings
                                  WHERE station_id = s.id AND time <= %(now)s
                                  ORDER BY time DESC LIMIT 1) r ON true""",
            {"ids": ids, "now": now},
        ).fetchall()
        priors = {sid: state_from_json(state) for sid, state, _ in rows}
        newest = {sid: time for sid, _, time in rows if time is not None}
        return priors, newest

    def _windows(
        self, since: list[tuple[str, datetime]], now: datetime
    ) -> dict[str, tuple[list[datetime], list[float], list[int]]]:
        """Each station's readings from its ``since`` to ``now``, ascending, as columns:
        times, levels, quality bits (one row per station: a cold tick fetches ~10⁵
        readings, and a Python object per reading would cost more than the rules)."""
        if not since:
            return {}
        with self.conn.cursor(binary=True) as cur:  # binary: arrays load in C
            cur.execute(
                """SELECT w.id, r.times, r.levels, r.qualities
                   FROM unnest(%b::text[], %b::timestamptz[]) AS w(id, since)
                   CROSS JOIN LATERAL (
                       SELECT array_agg(time ORDER BY time), array_agg(level_m ORDER BY time),
                              array_agg(quality ORDER BY time)
                       FROM readings
                       WHERE station_id = w.id AND time >= w.since AND time <= %s
                   ) AS r(times, levels, qualities)
                   WHERE r.times IS NOT NULL""",
                ([s for s, _ in since], [t for _, t in since], now),
            )
            return {sid: (times, levels, qualities) for sid, times, levels, qualities in cur.fetchall()}

    def _store(
        self, assessments: list[Assessment], priors: Mapping[str, StationState], now: datetime
    ) -> None:
        changed = [
            a for a in assessments if a.state != priors[a.station_id] and a.state.last_time is not None
        ]
        flagged = [(a.station_id, time, bits) for a in assessments for time, bits in a.flagged]
        with self.conn.cursor() as cur:
            if changed:  # one statement, whatever the number of stations
                columns: list[list] = [[] for _ in range(8)]
                for a in changed:
                    state = a.state
                    row = (
                        a.station_id,
                        state.last_time,
                        state.confirmed_m if state.confirmed_m is not None else state.last_level_m,
                        state.stage_key,
                        self._alert_level(a.station_id, state),
                        json.dumps(state_to_json(state)),
                        state.sensor_bits,
                        state.offline,
                    )
                    for column, value in zip(columns, row, strict=True):
                        column.append(value)
                cur.execute(
                    """INSERT INTO station_status (station_id, reading_time, level_m, stage_key, alert_level,
                                                   evaluated_at, state, quality, offline)
                       SELECT c.id, c.reading_time, c.level_m, c.stage_key, c.alert_level, %s,
                              c.state::jsonb, c.quality, c.offline
                       FROM unnest(%b::text[], %b::timestamptz[], %b::float8[], %b::text[], %b::int[],
                                   %b::text[], %b::int[], %b::bool[])
                            AS c(id, reading_time, level_m, stage_key, alert_level, state, quality, offline)
                       ON CONFLICT (station_id) DO UPDATE SET
                           reading_time = EXCLUDED.reading_time, level_m = EXCLUDED.level_m,
                           stage_key = EXCLUDED.stage_key, alert_level = EXCLUDED.alert_level,
                           evaluated_at = EXCLUDED.evaluated_at, state = EXCLUDED.state,
                           quality = EXCLUDED.quality, offline = EXCLUDED.offline""",
                    (now, *columns),
                )
            if flagged:
                cur.execute(
                    """UPDATE readings r SET quality = r.quality | f.bits
                       FROM unnest(%b::text[], %b::timestamptz[], %b::int[]) AS f(station_id, time, bits)
                       WHERE r.station_id = f.station_id AND r.time = f.time
                         AND r.quality & f.bits <> f.bits""",
                    ([s for s, _, _ in flagged], [t for _, t, _ in flagged], [b for _, _, b in flagged]),
                )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one evaluation. A full tick allocates
    a few hundred thousand short-lived, acyclic objects (samples, times, states), which
    reference counting frees; meanwhile the collector would repeatedly traverse every
    long-lived object (the station cache): a third of a cold tick's CPU (bench/README.md,
    also why gc.freeze() does not replace this). Any cyclic garbage is collected as usual
    once the evaluation is over."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def evaluate(
    conn: psycopg.Connection, *, now: datetime, station_ids: Iterable[str] | None = None, **options
) -> list[Assessment]:
    """One evaluation with a fresh :class:`Evaluator` (tests and one-off tools)."""
    return Evaluator(conn, **options).evaluate(now=now, station_ids=station_ids)


def run(
    database_url: str,
    *,
    tick_s: float = 30.0,
    stopping: threading.Event | None = None,
    clock: Clock = REAL,
    sender: str = store.DEFAULT_SENDER,
    policy: ApprovalPolicy | None = None,
    rules: RuleSettings | None = None,
) -> None:
    """Evaluate on every notification from ingest (at once) and everything every
    ``tick_s`` seconds, until ``stopping`` is set. While the database is unavailable
    (at start or later) wait for it and start over: the first evaluation after it
    judges whatever arrived meanwhile."""
    stopping = stopping or threading.Event()
    while not stopping.is_set():
        try:
            listener, worker = until_ready(
                lambda: (
                    connect(database_url, application_name="kawamori-alerts"),
                    connect(database_url, application_name="kawamori-alerts"),
                ),
                what="database",
                errors=(psycopg.OperationalError,),
                stopping=stopping,
            )
        except StopWaiting:
            return
        try:
            _serve(
                listener,
                worker,
                tick_s=tick_s,
                stopping=stopping,
                clock=clock,
                sender=sender,
                policy=policy,
                rules=rules,
            )
        except psycopg.OperationalError as error:
            log.warning("alerts.database_lost", error=str(error).strip()[:200])
            stopping.wait(0.5)
        finally:
            listener.close()
            worker.close()
    log.info("alerts.stopped")


HEARTBEAT_S = 5.0


def heartbeat(conn: psycopg.Connection, service: str) -> None:
    """Say this service is alive (``service_heartbeats``, read by ``/api/health``)."""
    conn.execute(
        """INSERT INTO service_heartbeats (service, host, pid) VALUES (%s, %s, %s)
           ON CONFLICT (service) DO UPDATE SET last_seen = now(), host = EXCLUDED.host, pid = EXCLUDED.pid""",
        (service, socket.gethostname(), os.getpid()),
    )


def _serve(
    listener: psycopg.Connection,
    worker: psycopg.Connection,
    *,
    tick_s: float,
    stopping: threading.Event,
    clock: Clock,
    sender: str,
    policy: ApprovalPolicy | None,
    rules: RuleSettings | None,
) -> None:
    listener.execute(f"LISTEN {READINGS_CHANNEL}".encode())
    evaluator = Evaluator(worker, policy=policy, rules=rules, sender=sender)
    log.info("alerts.started", tick_s=tick_s)
    heartbeat(worker, "alerts")
    last_beat = time.monotonic()
    evaluator.evaluate(now=clock.now())
    last_tick = clock.now()
    while not stopping.is_set():
        woken: set[str] = set()
        # wake on the first notification, then take whatever else has arrived
        for note in listener.notifies(timeout=min(1.0, tick_s), stop_after=1):
            woken.update(filter(None, note.payload.split(",")))
        if woken:
            for note in listener.notifies(timeout=0.005):
                woken.update(filter(None, note.payload.split(",")))
        now = clock.now()
        if (now - last_tick).total_seconds() >= tick_s:
            evaluator.evaluate(now=now)
            evaluator.remind(now=now)
            last_tick = now
        elif woken:
            evaluator.evaluate(now=now, station_ids=woken)
        if time.monotonic() - last_beat >= HEARTBEAT_S:
            heartbeat(worker, "alerts")
            last_beat = time.monotonic()
