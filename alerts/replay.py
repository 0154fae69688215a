"""Replay a history of readings through the real evaluator and the area decisions on a
simulated clock: the backtest behind ``kawamori alerts replay`` and ``bench/replay.py``.

No I/O here (files are read by :mod:`alerts.replay_io`, the timeline written by the
caller): :func:`replay` takes stations, readings in time order and the staff to
emulate, and hands every change a person would see to ``emit`` as an :class:`Event`.

What it does, as the service would (:mod:`alerts.service`, :mod:`alerts.decision`):

* after every reading, the station is evaluated (:func:`alerts.evaluate.evaluate`)
  with its readings of ``settings.window`` before it — one deque per station, so the
  whole replay is linear in the readings;
* the service also evaluates every station on a 30-s tick; here a silent station is
  evaluated only when that can change something: at the first tick after its offline
  threshold, and after its no-data threshold (:func:`silence_marks`; wake-ups in a
  heap, never a tick every 30 s);
* after an evaluation whose conditions changed, every area the station belongs to is
  decided (:func:`alerts.decision.decide`) on the newest conditions of all its stations;
  with ``approve="auto"`` staff approve every open proposal at once (two approvers for
  the levels that need two), with ``"never"`` nobody acts;
* the staff-only station notices (sensor, offline, an unverified reading that is not
  plausible) go through :func:`alerts.lifecycle.reconcile` as the service does.
"""

from __future__ import annotations

import gc
import heapq
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from alerts import decision, health, lifecycle
from alerts.evaluate import evaluate_columns
from alerts.lifecycle import Action, Transition
from alerts.model import Alert, AlertState, Condition, Kind, Proposal, StationState, Status
from alerts.policy import ApprovalPolicy
from alerts.rules import DEFAULT, RuleSettings
from kawamori.model import Actor, AlertArea, Role, Station

_NONE: Mapping[str, int | None] = {}
TICK_S = 30.0  # the service's periodic evaluation (alerts.service.run)
EVENTS = ("proposed", "issued", "changed", "lift_proposed", "lifted", "withdrawn", "staff_notice")
Approve = Literal["auto", "never"]

# the staff who approve everything at once (--approve auto): one operator, then a second
# person with the role the highest level needs
STAFF = (
    Actor(id=-1, username="replay-approver-1", display_name="Replay approver 1", role=Role.approver),
    Actor(id=-2, username="replay-approver-2", display_name="Replay approver 2", role=Role.approver),
)


@dataclass(frozen=True, slots=True)
class Event:
    """One change a person would see (a line of the timeline, docs/alerts.md)."""

    time: datetime
    area: str
    stations: tuple[str, ...]
    event: str  # one of EVENTS
    level: int | None
    public: bool
    reason: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "area": self.area,
            "stations": list(self.stations),
            "event": self.event,
            "level": self.level,
            "public": self.public,
            "reason": self.reason,
            **self.extra,
        }


@dataclass
class Summary:
    """Counts of a replay: events by type and reason, by station; evaluations."""

    readings: int = 0
    evaluations: int = 0  # evaluate() calls (readings + health wake-ups)
    wakeups: int = 0
    max_window: int = 0  # the most readings one evaluation was given (bounded: linear replay)
    decisions: int = 0  # decide() calls
    events: Counter = field(default_factory=Counter)  # (event, reason) → n
    by_station: Counter = field(default_factory=Counter)  # (station, event) → n
    start: datetime | None = None
    end: datetime | None = None

    def count(self, event: Event) -> None:
        self.events[(event.event, event.reason or "")] += 1
        for station in event.stations:
            self.by_station[(station, event.event)] += 1


@dataclass(frozen=True, slots=True)
class _Gauge:
    station: Station
    rules: RuleSettings
    neighbours: tuple[str, ...]
    areas: tuple[str, ...]
    levels: Mapping[str, int | None]  # stage key → 警戒レベル
    window_s: float  # rules.window in seconds, computed once


def gauges(
    stations: Sequence[Station], areas: Sequence[AlertArea] = (), *, rules: RuleSettings = DEFAULT
) -> dict[str, _Gauge]:
    """Each station with its rules, neighbours (up- and downstream) and areas; a station
    in no area is its own area (area id = station id)."""
    upstream: dict[str, list[str]] = {}
    for s in stations:
        if s.downstream_id:
            upstream.setdefault(s.downstream_id, []).append(s.id)
    area_of: dict[str, list[str]] = {}
    for area in areas:
        for sid in area.station_ids:
            area_of.setdefault(sid, []).append(area.id)
    out = {}
    for s in stations:
        neighbours = {*upstream.get(s.id, ()), *filter(None, [s.downstream_id])}
        own = RuleSettings.for_station(s.alert_rules, rules)
        out[s.id] = _Gauge(
            station=s,
            rules=own,
            neighbours=tuple(sorted(neighbours)),
            areas=tuple(sorted(area_of.get(s.id, ()))) or (s.id,),
            levels={stage.key: stage.alert_level for stage in s.stages},
            window_s=own.window.total_seconds(),
        )
    return out


def silence_marks(state: StationState, settings: RuleSettings) -> tuple[float, ...]:
    """POSIX times of the service ticks at which silence since ``state.last_time`` can
    change what is true about a station: the first tick after it is offline, and the
    first after its stage no longer counts (no data after high water). Each is the
    first 30-s tick after the threshold (the health tests are strict)."""
    if state.last_time is None:
        return ()
    pace = health.cadence(settings, health.typical(state.intervals))
    offline = pace.offline_after if state.intervals else health.offline_after(state.fast_mode, settings)
    last = state.last_time.timestamp()
    marks = sorted({offline, max(pace.no_data_after, offline)})
    return tuple(_tick_after(last + m) for m in marks)


_INF = float("inf")


def _tick_after(ts: float) -> float:
    """The first 30-s service tick after ``ts`` (the service's time tests are strict)."""
    return ts // TICK_S * TICK_S + TICK_S


@dataclass(slots=True)
class _Window:
    """A station's readings within its rule window, oldest first, as columns."""

    stamps: deque[datetime] = field(default_factory=deque)
    levels: deque[float] = field(default_factory=deque)
    qualities: deque[int] = field(default_factory=deque)
    times: deque[float] = field(default_factory=deque)  # the stamps as POSIX seconds


@dataclass
class _Area:
    id: str
    stations: tuple[str, ...]
    alert: Alert | None = None  # open, or closed but declined (decision.decide's input)
    issued: int = 0
    wake: float | None = None  # the tick its held level was last scheduled to fall due
    lifted_at: datetime | None = None  # when its last issuance was lifted


def replay(
    stations: Mapping[str, _Gauge],
    readings: Iterable[tuple[float, str, float, int]],
    *,
    approve: Approve = "auto",
    policy: ApprovalPolicy | None = None,
    until: float | None = None,
    emit: Callable[[Event], None] = lambda e: None,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Replay ``readings`` — ``(POSIX seconds, station id, level m, quality)`` in time
    order — through the evaluator and the area decisions. Health wake-ups after the
    last reading run up to ``until`` (default: the last reading's own offline tick)."""
    policy = policy or ApprovalPolicy()
    # as the service does for one evaluation (alerts.service._collector_paused): the
    # replay allocates millions of short-lived acyclic objects, while the collector
    # would traverse every long-lived one (the readings, the states) again and again
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Replay(stations, approve, policy, emit).run(readings, until, progress)
    finally:
        if enabled:
            gc.enable()


class _Replay:
    def __init__(
        self, stations: Mapping[str, _Gauge], approve: Approve, policy: ApprovalPolicy, emit
    ) -> None:
        self.stations, self.approve, self.policy, self.emit = stations, approve, policy, emit
        self.summary = Summary()
        # each station's window as columns (times, levels, quality bits, POSIX times),
        # as evaluate_columns takes them: no object per reading
        self.windows: dict[str, _Window] = {sid: _Window() for sid in stations}
        self.states: dict[str, StationState] = {sid: StationState() for sid in stations}
        self.conditions: dict[str, tuple[Condition, ...]] = {sid: () for sid in stations}
        self.notices: dict[str, dict[Kind, Alert]] = {}  # station → its open staff notices
        members: dict[str, list[str]] = {}
        for sid, g in stations.items():
            for area in g.areas:
                members.setdefault(area, []).append(sid)
        self.areas = {a: _Area(a, tuple(sorted(m))) for a, m in members.items()}
        self.wakeups: list[tuple[float, str, float]] = []  # (when, station, its last_time)
        self.area_wakeups: list[tuple[float, str]] = []  # (when, area): a held level falls due

    # -- the clock ---------------------------------------------------------------------------

    def run(self, readings, until: float | None, progress) -> Summary:
        wake = self.wakeups
        last_ts = None
        n = 0
        for ts, sid, level, quality in readings:
            self._wake_until(ts, inclusive=False)
            self._reading(ts, sid, level, quality)
            last_ts = ts
            n += 1
            if progress is not None and not n & 0x3FFF:
                progress(n)
        if until is None and last_ts is not None:
            until = max(
                max((w for w, _, _ in wake), default=last_ts),
                max((w for w, _ in self.area_wakeups), default=last_ts),
            )
        if until is not None:
            self._wake_until(until, inclusive=True)
        if progress is not None:
            progress(n)
        self.summary.readings = n
        self.summary.end = datetime.fromtimestamp(until, UTC) if until is not None else None
        return self.summary

    def _reading(self, ts: float, sid: str, level: float, quality: int) -> None:
        g = self.stations[sid]
        now = datetime.fromtimestamp(ts, UTC)
        if self.summary.start is None:
            self.summary.start = now
        w = self.windows[sid]
        w.stamps.append(now)
        w.levels.append(level)
        w.qualities.append(quality)
        w.times.append(ts)
        cutoff = ts - g.window_s
        while w.times[0] < cutoff:
            w.stamps.popleft()
            w.levels.popleft()
            w.qualities.popleft()
            w.times.popleft()
        if len(w.times) > self.summary.max_window:
            self.summary.max_window = len(w.times)
        self._evaluate(g, now, w)

    def _wake_until(self, ts: float, *, inclusive: bool) -> None:
        """Run the service's ticks before ``ts`` (or at it) that can change anything:
        stations' silence marks and areas' held levels falling due, in time order."""
        wake, areas = self.wakeups, self.area_wakeups
        while True:
            first = wake[0][0] if wake else _INF
            area_first = areas[0][0] if areas else _INF
            when = min(first, area_first)
            if when > ts or (when == ts and not inclusive):
                return
            if first <= area_first:
                self._wake(*heapq.heappop(wake))
            else:
                self._area_wake(*heapq.heappop(areas))

    def _area_wake(self, when: float, area_id: str) -> None:
        area = self.areas[area_id]
        due = decision.lower_due(area.alert) if area.alert is not None else None
        if due is None or _tick_after(due.timestamp()) != when:
            return  # the evidence came back, or moved the time: another wake-up was scheduled
        self._decide(area, datetime.fromtimestamp(when, UTC))

    def _wake(self, when: float, sid: str, last: float) -> None:
        state = self.states[sid]
        if state.last_time is None or state.last_time.timestamp() != last:
            return  # a newer reading came and scheduled its own wake-up
        self.summary.wakeups += 1
        self._evaluate(self.stations[sid], datetime.fromtimestamp(when, UTC))

    def _evaluate(self, g: _Gauge, now: datetime, window: _Window | None = None) -> None:
        """Evaluate a station after a reading (``window``: its readings, the newest last)
        or at a health wake-up (no readings)."""
        sid = g.station.id
        neighbours = {n: self._level(n) for n in g.neighbours} if g.neighbours else _NONE
        if window is None:
            columns: tuple[Sequence[Any], ...] = ((), (), ())
            times = None
        else:
            columns = (list(window.stamps), list(window.levels), list(window.qualities))
            times = list(window.times)
        state = self.states[sid]
        settings = g.rules
        assessment = evaluate_columns(
            g.station, *columns, state, now=now, settings=settings, neighbours=neighbours, times=times
        )
        self.summary.evaluations += 1
        state = self.states[sid] = assessment.state
        if window is not None and state.last_time is not None:
            last = state.last_time.timestamp()
            for due in silence_marks(state, g.rules):
                heapq.heappush(self.wakeups, (due, sid, last))
        if assessment.conditions == self.conditions[sid]:
            return  # nothing any decision reads has changed
        self.conditions[sid] = assessment.conditions
        self._notices(sid, assessment.conditions, now)
        for area_id in g.areas:
            area = self.areas[area_id]
            if area.alert is None and not any(
                c.alert_level for sid in area.stations for c in self.conditions[sid]
            ):
                continue  # no issuance and no level anywhere: decide() would find nothing
            self._decide(area, now)

    def _level(self, sid: str) -> int | None:
        g, state = self.stations.get(sid), self.states.get(sid)
        if g is None or state is None or state.stage_key is None:
            return None
        return g.levels.get(state.stage_key)

    # -- staff-only notices ------------------------------------------------------------------

    def _notices(self, sid: str, conditions: tuple[Condition, ...], now: datetime) -> None:
        staff = {
            c.kind: c
            for c in conditions
            if c.kind in _NOTICE_KINDS and (c.kind is not Kind.unverified or not c.details.get("plausible"))
        }
        open_ = self.notices.get(sid)
        if not staff and not open_:
            return
        open_ = self.notices.setdefault(sid, {})
        for kind in _NOTICE_KINDS:
            alert, condition = open_.get(kind), staff.get(kind)
            if alert is None and condition is None:
                continue
            t = lifecycle.reconcile(alert, condition, status=Status.actual, policy=self.policy, now=now)
            if t.after is not None and t.after.open:
                open_[kind] = t.after
            else:
                open_.pop(kind, None)
            for entry in t.audit:
                if entry.action not in (Action.opened, Action.resolved, Action.withdrawn):
                    continue
                opened = entry.action is Action.opened
                extra: dict[str, Any] = {"notice": str(kind), "state": "open" if opened else "closed"}
                level = None
                if opened and condition is not None:
                    level = condition.alert_level
                    for key in ("level_m", "tests", "critical", "reason"):
                        if condition.details.get(key) is not None:
                            extra[key] = condition.details[key]
                for area in self.stations[sid].areas:
                    self._out(
                        Event(now, area, (sid,), "staff_notice", level, False, _NOTICE_REASON[kind], extra)
                    )

    # -- area decisions ----------------------------------------------------------------------

    def _decide(self, area: _Area, now: datetime) -> None:
        conditions = [c for sid in area.stations for c in self.conditions[sid]]
        self.summary.decisions += 1
        t = self._decision(area, conditions, now)
        self._take(area, t, now)
        for step in range(4):  # staff approve at once; the engine may then ask for more
            alert = area.alert
            if self.approve != "auto" or alert is None or not alert.open or alert.proposal is None:
                return
            if step and alert.proposal is not Proposal.raise_:
                return  # not the reverse of what they just approved, in the same instant
            revision = alert.revision
            for actor in STAFF:
                t = decision.approve(alert, actor, policy=self.policy, now=now, revision=revision)
                self._take(area, t, now)
                alert = area.alert
                if alert is None or not alert.open or alert.proposal is None or alert.revision != revision:
                    break
            self._take(area, self._decision(area, conditions, now), now)

    def _decision(self, area: _Area, conditions: Sequence[Condition], now: datetime) -> Transition:
        return decision.decide(
            area.alert,
            conditions,
            area_id=area.id,
            status=Status.actual,
            policy=self.policy,
            now=now,
            last_down=area.lifted_at,
        )

    def _take(self, area: _Area, t: Transition, now: datetime) -> None:
        before = area.alert
        after = t.after if t.after is not None else t.lifted
        if after is not None and (after.open or after.declined):
            area.alert = after
        else:
            area.alert = None
        for entry in t.audit:
            event = _area_event(area, before, t, entry, now)
            if event is not None:
                self._out(event)
        if after is not None:
            area.issued = (after.alert_level or 0) if after.state is AlertState.active else 0
            if after.state is AlertState.resolved and after.ended_at is not None:
                area.lifted_at = after.ended_at
        due = decision.lower_due(area.alert) if area.alert is not None else None
        if due is not None and due > now and area.wake != (tick := _tick_after(due.timestamp())):
            area.wake = tick
            heapq.heappush(self.area_wakeups, (tick, area.id))

    def _out(self, event: Event) -> None:
        self.summary.count(event)
        self.emit(event)


_NOTICE_KINDS = (Kind.unverified, Kind.sensor, Kind.offline)
_NOTICE_REASON = {
    Kind.sensor: decision.SENSOR_FAULT,
    Kind.offline: decision.NO_DATA,
    Kind.unverified: decision.UNVERIFIED,
}


_PROPOSALS = {"raise": "proposed", "lower": "proposed", "verify": "proposed", "lift": "lift_proposed"}


def _area_event(
    area: _Area, before: Alert | None, t: Transition, entry: lifecycle.AuditEntry, now: datetime
) -> Event | None:
    """The timeline event of one audit entry of an area decision (``None``: not a change
    anyone sees by itself: opened, approved, reminded)."""
    after = t.after or t.lifted
    assert after is not None
    details = entry.details
    facts = details.get("evidence") or [
        i for i in after.details.get("evidence", ()) if i.get("counts") or i.get("basis") in _LOST
    ]
    stations = tuple(dict.fromkeys(f["station"] for f in facts)) or (
        (after.station_id,) if after.station_id else ()
    )
    extra: dict[str, Any] = {"revision": after.revision}
    lead = next((f for f in facts if f.get("level_m") is not None), None)
    if lead is not None:
        extra["level_m"] = lead["level_m"]
        if lead.get("eta"):
            extra["eta"] = lead["eta"]
    action = entry.action
    if action in (Action.proposed, Action.proposal_changed):
        proposal = details["proposal"]
        extra["proposal"] = proposal
        if details.get("from_level"):
            extra["issued_level"] = details["from_level"]
        return Event(
            now,
            area.id,
            stations,
            _PROPOSALS[proposal],
            details["level"] or None,
            False,
            details["reason"],
            extra,
        )
    if action in (Action.proposal_withdrawn, Action.withdrawn):
        extra["withdrawn"] = "proposal" if action is Action.proposal_withdrawn else "issuance"
        level = before.pending_level if before is not None else None
        reason = before.proposal_reason if before is not None else None
        if before is not None and before.proposal is not None:
            extra["proposal"] = str(before.proposal)
        return Event(now, area.id, stations, "withdrawn", level or None, False, reason, extra)
    if action in (Action.issued, Action.raised, Action.lowered, Action.lifted):
        by_staff = entry.actor_id is not None
        extra["decided_by"] = "staff" if by_staff else "policy"
        if details.get("from_level"):
            extra["from_level"] = details["from_level"]
        reason = (before.proposal_reason if by_staff and before is not None else None) or (
            details.get("basis") or decision.OBSERVED
        )
        name = {Action.issued: "issued", Action.lifted: "lifted"}.get(action, "changed")
        public = t.message is not None and after.public
        return Event(now, area.id, stations, name, details.get("level"), public, reason, extra)
    return None


_LOST = (decision.SENSOR_FAULT, decision.NO_DATA)


def readings_of(rows: Iterable[Any]) -> Iterable[tuple[float, str, float, int]]:
    """``alerts.replay_io.Row`` objects as the tuples :func:`replay` takes."""
    for r in rows:
        yield r.ts, r.station_id, r.level_m, r.quality


def to_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


__all__ = ["EVENTS", "Event", "Summary", "gauges", "readings_of", "replay", "silence_marks", "to_utc"]
