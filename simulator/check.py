"""Compare what a run produced (:class:`simulator.runner.Outcome`) with the scenario's
expectations. Pure: one :class:`Verdict` per expectation, with what was expected and
what was produced in words (times as offsets from the scenario's start).

How each kind is judged against the platform (docs/simulator.md):

- ``enters_stage`` — the station's *confirmed* stage (the evaluator's state) first
  reaches the stage, or a higher one, at a time inside ``between``; the time is that of
  the reading that brought it there (history is kept by measurement time, so a backlog
  that lands late still places the entry where it happened);
- ``leaves_stage`` — after that, the confirmed stage first drops below it inside
  ``between`` (after the documented exit margin and dwell);
- ``stays_below`` — the confirmed stage never reaches it (an unverified jump does not count);
- ``stale`` — the evaluator shows the station offline at an evaluation no later than ``by``;
- ``alert`` — by ``by``, the issuance of the area (or of an area of the station)
  stands at 警戒レベル ``level``: ``pending_approval`` — a proposal to raise it to
  that level awaits staff; ``active`` — that level is issued;
- ``no_public_alert`` — no public message (outbox row with ``public``) for any alert
  of the station, of a station of the area, or at all;
- ``exactly_once`` — every reading the boards sent is stored once: none missing, none twice;
- ``no_public_channel`` — no public message at all, and every alert is not public;
- ``issued_level`` — the area's issued level, from its audit trail (issued, raised,
  lowered: that level; lifted, cancelled: 0), stays within the bounds at every moment of
  ``between`` (the level standing at its start included);
- ``issued`` — the area's issued level first became ``level`` by ``by``, by a staff
  account or by the written policy (no actor) as ``decided`` says.

Each staff step (``staff:``) is a verdict too: it passes when the runner could do it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator import scenario as schema
from simulator.runner import Outcome
from simulator.scenario import format_offset


@dataclass(frozen=True, slots=True)
class Verdict:
    expectation: schema.Expectation | schema.StaffStep
    what: str  # the expectation in words
    expected: str
    produced: str
    ok: bool


def _at(delta: timedelta) -> str:
    return format_offset(delta) if delta >= timedelta(0) else f"-{format_offset(-delta)}"


def _stage_index(outcome: Outcome, station_id: str, key: str | None) -> int:
    station = next(s for s in outcome.scenario.network.stations if s.id == station_id)
    keys = [s.key for s in station.stages]
    return keys.index(key) if key in keys else -1


def _entry(outcome: Outcome, station_id: str, stage: str) -> datetime | None:
    wanted = _stage_index(outcome, station_id, stage)
    for change in outcome.stages:
        if change.station_id == station_id and _stage_index(outcome, station_id, change.after) >= wanted:
            return change.at
    return None


def _between(what: str, outcome: Outcome, when: datetime | None, window: tuple[timedelta, timedelta]):
    low, high = window
    expected = f"{format_offset(low)}–{format_offset(high)}"
    if when is None:
        return what, expected, "never", False
    offset = outcome.offset(when)
    return what, expected, _at(offset), low <= offset <= high


def _areas_of(outcome: Outcome, station_id: str | None) -> set[str]:
    """The areas a station gives evidence for (a station in none is its own area)."""
    found = {a.id for a in outcome.scenario.network.areas if station_id in a.station_ids}
    return found or {str(station_id)}


def _stations_of(outcome: Outcome, station_id: str | None, area_id: str | None) -> set[str] | None:
    """The stations an expectation is about; None: every station."""
    if station_id is not None:
        return {station_id}
    if area_id is not None:
        area = next(a for a in outcome.scenario.network.areas if a.id == area_id)
        return set(area.station_ids)
    return None


def issued_levels(outcome: Outcome, area_id: str) -> list[tuple[datetime, int, str | None]]:
    """The area's issued level over the run, from its audit trail: each change as (time,
    level, who: a staff username or ``None`` for the written policy); 0 is nothing issued."""
    changes: list[tuple[datetime, int, str | None]] = []
    level = 0
    for entry in outcome.audit:
        if entry.area_id != area_id or entry.status != outcome.scenario.status:
            continue
        if entry.action in ("issued", "raised", "lowered"):
            new = int(entry.details.get("level") or 0)
        elif entry.action in ("lifted", "cancelled"):
            new = 0
        else:
            continue
        if new != level:
            changes.append((entry.at, new, entry.actor))
            level = new
    return changes


def _who(actor: str | None) -> str:
    return "policy" if actor is None else f"staff ({actor})"


def _judge_issued_level(outcome: Outcome, e: schema.IssuedLevel) -> tuple[str, str, str, bool]:
    low, high = (outcome.scenario.time.start + b for b in e.between)
    changes = issued_levels(outcome, e.area)
    at_start = next((level for at, level, _ in reversed(changes) if at <= low), 0)
    inside = [(low, at_start, "")] + [(at, lvl, _who(who)) for at, lvl, who in changes if low < at <= high]
    bounds = []
    if e.never_below is not None:
        bounds.append(f"≥ {e.never_below}")
    if e.never_above is not None:
        bounds.append(f"≤ {e.never_above}")
    window = f"{format_offset(e.between[0])}–{format_offset(e.between[1])}"
    what = f"issued level of {e.area} over {window}"
    bad = [
        (at, lvl, who)
        for at, lvl, who in inside
        if (e.never_below is not None and lvl < e.never_below)
        or (e.never_above is not None and lvl > e.never_above)
    ]
    levels = [lvl for _, lvl, _ in inside]
    produced = f"{min(levels)}–{max(levels)}" if min(levels) != max(levels) else f"{levels[0]} throughout"
    if bad:
        at, lvl, who = bad[0]
        produced += f"; {lvl} at {_at(outcome.offset(at))}" + (f" by {who}" if who else "")
    return what, " and ".join(bounds), produced, not bad


def _judge_issued(outcome: Outcome, e: schema.Issued) -> tuple[str, str, str, bool]:
    what = f"{e.area} {'lifted' if e.level == 0 else f'issued at level {e.level}'}"
    expected = f"by {format_offset(e.by)}" + (f", by {e.decided}" if e.decided else "")
    first = next(((at, who) for at, lvl, who in issued_levels(outcome, e.area) if lvl == e.level), None)
    if first is None:
        return what, expected, "never", False
    at, who = first
    decided = "policy" if who is None else "staff"
    ok = outcome.offset(at) <= e.by and (e.decided is None or e.decided == decided)
    return what, expected, f"{_at(outcome.offset(at))}, by {_who(who)}", ok


def _judge(outcome: Outcome, e: schema.Expectation) -> tuple[str, str, str, bool]:
    match e:
        case schema.EntersStage():
            what = f"{e.station} enters {e.stage}"
            return _between(what, outcome, _entry(outcome, e.station, e.stage), e.between)
        case schema.LeavesStage():
            what = f"{e.station} leaves {e.stage}"
            wanted = _stage_index(outcome, e.station, e.stage)
            entered = _entry(outcome, e.station, e.stage)
            left = None
            if entered is not None:
                for change in outcome.stages:
                    if (
                        change.station_id == e.station
                        and change.at >= entered
                        and _stage_index(outcome, e.station, change.after) < wanted
                    ):
                        left = change.at
                        break
            return _between(what, outcome, left, e.between)
        case schema.StaysBelow():
            entered = _entry(outcome, e.station, e.stage)
            produced = "stayed below" if entered is None else f"reached at {_at(outcome.offset(entered))}"
            return f"{e.station} stays below {e.stage}", "never reached", produced, entered is None
        case schema.Stale():
            first = next((h.seen for h in outcome.health if h.station_id == e.station and h.offline), None)
            produced = "never" if first is None else f"offline at {_at(outcome.offset(first))}"
            ok = first is not None and outcome.offset(first) <= e.by
            return f"{e.station} shows stale", f"by {format_offset(e.by)}", produced, ok
        case schema.Alert():
            stations = _stations_of(outcome, e.station, e.area)
            assert stations is not None
            state = "pending approval" if e.state == "pending_approval" else "active"
            what = f"level-{e.level} alert {state} for {e.station or e.area}"
            first = None
            # an area's issuance (staff notices are never an evacuation level)
            areas = {e.area} if e.area else _areas_of(outcome, e.station)
            for change in outcome.alerts:
                if change.kind != "area" or change.state not in ("pending", "active"):
                    continue
                if not areas & set(change.areas):
                    continue
                if e.state == "pending_approval":
                    hit = (change.state == "pending" and change.alert_level == e.level) or (
                        change.pending_level == e.level
                    )
                else:
                    hit = change.state == "active" and change.alert_level == e.level
                if hit:
                    first = change
                    break
            produced = (
                "never"
                if first is None
                else f"{_at(outcome.offset(first.seen))} ({first.kind} alert at {first.station_id})"
            )
            ok = first is not None and outcome.offset(first.seen) <= e.by
            return what, f"by {format_offset(e.by)}", produced, ok
        case schema.NoPublicAlert():
            stations = _stations_of(outcome, e.station, e.area)
            public = [
                m for m in outcome.outbox if m.public and (stations is None or m.station_id in stations)
            ]
            produced = "none"
            if public:
                first = public[0]
                when = _at(outcome.offset(first.created_at))
                produced = f"{len(public)}, first {first.msg_type} at {when} ({first.station_id})"
            return f"no public alert for {e.station or e.area or 'any station'}", "none", produced, not public
        case schema.IssuedLevel():
            return _judge_issued_level(outcome, e)
        case schema.Issued():
            return _judge_issued(outcome, e)
        case schema.ExactlyOnce():
            ledger = outcome.ledger
            assert ledger is not None
            twice = sum(1 for n in ledger.stored.values() if n > 1)
            produced = (
                f"{ledger.sent} sent ({ledger.deliveries} deliveries), {sum(ledger.stored.values())} stored,"
                f" {len(ledger.missing)} missing, {twice} twice, {len(ledger.extra)} unknown"
            )
            if ledger.dead_letters:
                produced += f"; dead letters: {ledger.dead_letters[0]}" + (
                    f" (+{len(ledger.dead_letters) - 1})" if len(ledger.dead_letters) > 1 else ""
                )
            return (
                "every reading stored exactly once",
                f"{ledger.sent} once each",
                produced,
                ledger.exactly_once,
            )
        case schema.NoPublicChannel():
            public = [m for m in outcome.outbox if m.public]
            public_alerts = {a.alert_id for a in outcome.alerts if a.public}
            produced = (
                f"{len(public)} public message(s) of {len(outcome.outbox)},"
                f" {len(public_alerts)} public alert(s)"
            )
            return "nothing reaches a public channel", "0 public", produced, not public and not public_alerts
    raise AssertionError(f"unknown expectation {e!r}")


def _staff_verdict(outcome: Outcome, done) -> Verdict:
    step = done.step
    what = f"staff: {step.by} {step.action}s {step.area}"
    if step.proposal is not None or step.level is not None:
        what += f" ({step.proposal or 'proposal'}{'' if step.level is None else f' to {step.level}'})"
    produced = done.result if done.at is None else f"{_at(outcome.offset(done.at))}: {done.result}"
    return Verdict(step, what, f"from {format_offset(step.at)}", produced, done.at is not None)


def check(outcome: Outcome) -> list[Verdict]:
    """One verdict per expectation, then one per staff step (done, or why it never could be)."""
    verdicts = [Verdict(e, *_judge(outcome, e)) for e in outcome.scenario.expectations]
    return verdicts + [_staff_verdict(outcome, done) for done in outcome.staff]


def timeline(outcome: Outcome) -> list[tuple[timedelta, str]]:
    """What staff saw, in order: stage changes (at the reading's time), offline and
    back, alert transitions (at the evaluation that made them)."""
    events: list[tuple[datetime, str]] = []
    for s in outcome.stages:
        events.append((s.at, f"{s.station_id}: stage {s.before or '–'} → {s.after or '–'}"))
    for h in outcome.health:
        events.append((h.seen, f"{h.station_id}: {'offline (stale)' if h.offline else 'reporting again'}"))
    for a in outcome.alerts:
        level = f"level {a.alert_level}" if a.alert_level is not None else "no level"
        if a.pending_level is not None:
            level += f", level {a.pending_level} awaiting approval"
        flags = ", ".join(
            filter(None, ["public" if a.public else "staff only", "stale" if a.stale else "", a.status])
        )
        events.append((a.seen, f"alert #{a.alert_id} {a.kind} {a.station_id}: {a.state}, {level} ({flags})"))
    for d in outcome.staff:
        if d.at is not None:
            events.append((d.at, f"staff {d.step.by}: {d.step.action} {d.step.area} → {d.result}"))
    events.sort(key=lambda item: item[0])
    return [(outcome.offset(when), text) for when, text in events]
