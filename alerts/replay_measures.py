"""How well a replay (:mod:`alerts.replay`) did, measured against the readings
themselves: episodes classified from the data, and the events of the areas each
station's evidence was cited in. The definitions are documented in bench/README.md
("Replay") and docs/alerts.md; all times are POSIX seconds.

An **episode** is a run of a station's readings with no silence longer than
``GAP_S`` (6 h) inside it. It is **fault-like** when a reading is ≥ 3 m above the
danger level, or the readings stay within 1 cm of each other above danger for
≥ 12 h; otherwise it **reaches danger** when a reading is at or above it, and
**never reaches danger** otherwise.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

GAP_S = 6 * 3600.0  # silence that ends an episode, and that an issued level must not outlive
FAULT_ABOVE_M = 3.0
FLAT_M, FLAT_S = 0.01, 12 * 3600.0
HYSTERESIS_S = 6 * 3600.0
TICK_S = 30.0  # the service's health tick: silence is noticed at the first tick after a threshold
NEAR_M = 0.3  # a forecast whose water came this close to danger "nearly reached" it
JUMP_FACTOR = 2.0  # a rise this many times the station's own fastest rise so far is a jump
HISTORY_RISES = 3  # fewer rises than this in a station's history: too short to say what water can do
HISTORY_GAP_S = 2 * 3600.0  # rises between readings further apart say nothing about speed
SPIKE_M = 0.5  # QARTOD spike: a reading this far beyond both neighbours is no rise of water
MAX_RISE_M_H = 6.0  # faster "rises" are beyond what water does (the engine's max_rise_m_h default)


@dataclass(frozen=True, slots=True)
class Episode:
    station: str
    first: int  # indexes into the station's readings
    last: int
    kind: str  # fault | danger | below
    evident: int = -1  # fault-like: the reading at which the readings alone show the fault


def episodes(times: Sequence[float], levels: Sequence[float], danger: float) -> list[Episode]:
    """A station's episodes, classified (``station`` left empty)."""
    out: list[Episode] = []
    start = 0
    for i in range(1, len(times) + 1):
        if i == len(times) or times[i] - times[i - 1] > GAP_S:
            out.append(Episode("", start, i - 1, *_kind(times, levels, start, i - 1, danger)))
            start = i
    return out


def _kind(times: Sequence[float], levels: Sequence[float], a: int, b: int, danger: float) -> tuple[str, int]:
    """The episode's kind, and for a fault-like one the first reading that shows it (one
    ≥ 3 m above danger, or the one that makes a flat run 12 h long)."""
    top = max(levels[a : b + 1])
    evident = next((i for i in range(a, b + 1) if levels[i] >= danger + FAULT_ABOVE_M), b + 1)
    run = None  # start of the current flat run above danger
    lo = hi = 0.0
    for i in range(a, min(b + 1, evident)):
        x = levels[i]
        if x < danger:
            run = None
            continue
        if run is None or max(hi, x) - min(lo, x) > FLAT_M:
            run, lo, hi = i, x, x
            continue
        lo, hi = min(lo, x), max(hi, x)
        if times[i] - times[run] >= FLAT_S:
            evident = i
            break
    if evident <= b:
        return "fault", evident
    return ("danger" if top >= danger else "below"), -1


@dataclass
class _AreaTrack:
    """An area's issued level and pending raise after each event time."""

    times: list[float] = field(default_factory=list)
    issued: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    asking: list[bool] = field(default_factory=list)  # any proposal (raise, lower, verify, lift) open
    events: list[tuple[float, str, int, str | None]] = field(
        default_factory=list
    )  # time, event, level, reason
    keys: list[float] = field(default_factory=list)  # the events' times

    def add(
        self, ts: float, event: str, level: int | None, extra: Mapping[str, Any], reason: str | None
    ) -> None:
        issued = self.issued[-1] if self.issued else 0
        pending = self.pending[-1] if self.pending else 0
        asking = self.asking[-1] if self.asking else False
        if event in ("issued", "changed"):
            issued = level or 0
            # the written policy may issue a lower level (e.g. 2) while a level-4
            # proposal stays open for staff: only a level that meets it ends it
            if issued >= pending or extra.get("decided_by") == "staff":
                pending, asking = 0, False
        elif event == "lifted":
            issued, pending, asking = 0, 0, False
        elif event == "withdrawn":
            pending, asking = 0, False
            if extra.get("withdrawn") == "issuance":
                issued = 0
        elif event == "proposed":
            pending = (level or 0) if extra.get("proposal") == "raise" else 0
            asking = True
        elif event == "lift_proposed":
            pending, asking = 0, True
        if self.times and self.times[-1] == ts:
            self.issued[-1], self.pending[-1], self.asking[-1] = issued, pending, asking
        else:
            self.times.append(ts)
            self.issued.append(issued)
            self.pending.append(pending)
            self.asking.append(asking)
        self.events.append((ts, event, level or 0, reason))
        self.keys.append(ts)

    def at(self, ts: float) -> tuple[int, int]:
        """(issued, pending raise) once everything at ``ts`` has happened."""
        i = bisect_right(self.times, ts) - 1
        return (self.issued[i], self.pending[i]) if i >= 0 else (0, 0)

    def asking_at(self, ts: float) -> bool:
        """Whether a proposal is open for staff once everything at ``ts`` has happened."""
        i = bisect_right(self.times, ts) - 1
        return self.asking[i] if i >= 0 else False

    def between(self, a: float, b: float) -> list[tuple[float, str, int, str | None]]:
        """Events with ``a <= time <= b``."""
        return self.events[bisect_left(self.keys, a) : bisect_right(self.keys, b)]


def measure(
    readings: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    danger: Mapping[str, float],
    areas_of: Mapping[str, Sequence[str]],
    events: Iterable[dict[str, Any]],
    *,
    end: float | None = None,
) -> dict[str, Any]:
    """The measures of one replay. ``readings``: station → (times, levels) in time
    order; ``danger``: station → its danger level; ``areas_of``: station → its areas;
    ``events``: the timeline's area events (``to_json`` dicts with ``ts`` added)."""
    tracks: dict[str, _AreaTrack] = {}
    for e in events:
        if e["event"] == "staff_notice":
            continue
        tracks.setdefault(e["area"], _AreaTrack()).add(e["ts"], e["event"], e["level"], e, e["reason"])
    empty = _AreaTrack()
    m: dict[str, Any] = {
        "episodes": {"fault": 0, "danger": 0, "below": 0},
        "fault_public": 0,
        "fault_public_gauges": set(),
        "fault_public_evident": 0,
        "silent_holds": 0,
        "forecasts_below": 0,
        "forecasts_below_falling": 0,
        "rises": 0,
        "rises_proposed": 0,
        "rises_proposed_late": 0,
        "rises_jump": 0,
        "rises_jump_proposed": 0,
        "dropouts": 0,  # crossings from a dropout below danger (not counted as rises)
        "dropouts_proposed": 0,
        "singles_plausible": 0,
        "singles_plausible_proposed": 0,
        "singles_jump": 0,
        "singles_jump_proposed": 0,
        "singles_short": 0,
        "singles_short_proposed": 0,
        "takebacks": 0,
        "takebacks_withdrawn": 0,
        "takebacks_confirmed": 0,  # confirmed-stage proposals the next reading falls below (kept)
        "silent_holds_strict": 0,  # …still held at exactly 6 h (asked at the first tick after)
        "max_changes_6h": 0,
        "flapping_areas": 0,
        "max_reversals_6h": 0,
        "reversal_areas": 0,
        "forecasts_below_kinds": {},
        # each case behind a miss, for people to look at: (station, POSIX time, ...)
        "cases": {
            "silent_holds": [],
            "takebacks_told": [],
            "takebacks_open": [],
            "forecasts_below": [],
            "fault_public": [],
            "fault_public_evident": [],
            "rises_missed": [],
            "rises_jump_proposed": [],
            "singles_missed": [],
            "singles_jump_proposed": [],
            "reversals": [],
        },
    }
    cases = m["cases"]
    for sid, (times, levels) in readings.items():
        if not times:
            continue
        d = danger[sid]
        mine = [tracks.get(a, empty) for a in areas_of.get(sid, (sid,))]
        eps = episodes(times, levels, d)
        fastest = _fastest_rises(times, levels, d, eps)

        state = partial(_state, mine)
        seen = partial(_seen, mine)
        for ep in eps:
            m["episodes"][ep.kind] += 1
            t0, t1 = times[ep.first], times[ep.last]
            if ep.kind == "fault":
                public = seen(t0, t1 + GAP_S, lambda e: e[1] in ("issued", "changed") and e[2] >= 3)
                if public or state(t0)[0] >= 3:
                    m["fault_public"] += 1
                    m["fault_public_gauges"].add(sid)
                    cases["fault_public"].append((sid, t0, t1))
                # once the readings show the fault: no level ≥ 3 goes public on it, and one
                # already public is put to staff (verify, lower or lift) by the next reading
                te = times[ep.evident]
                nxt = times[ep.evident + 1] if ep.evident < ep.last else te + GAP_S
                issued_on = seen(te, t1 + GAP_S, lambda e: e[1] in ("issued", "changed") and e[2] >= 3)
                asked = seen(te, nxt, lambda e: e[1] in ("proposed", "lift_proposed")) or any(
                    t.asking_at(nxt) for t in mine
                )
                if issued_on or (state(te)[0] >= 3 and state(nxt)[0] >= 3 and not asked):
                    m["fault_public_evident"] += 1
                    cases["fault_public_evident"].append((sid, te))
                continue
            if ep.kind == "below":
                for t in mine:
                    for ts, ev, lvl, reason in t.between(t0, t1):
                        if ev == "proposed" and reason == "forecast" and lvl >= 4:
                            m["forecasts_below"] += 1
                            i = bisect_right(times, ts) - 1
                            if i > 0 and levels[i] < levels[i - 1]:
                                m["forecasts_below_falling"] += 1
                            kind = _forecast_kind(times, levels, d, i, ep.last)
                            kinds = m["forecasts_below_kinds"]
                            kinds[kind] = kinds.get(kind, 0) + 1
                            cases["forecasts_below"].append((sid, ts, kind))
                continue
            for i in range(ep.first + 1, ep.last + 1):
                if not (levels[i - 1] < d <= levels[i]):
                    continue
                two = i + 1 <= ep.last and levels[i + 1] >= d
                if levels[i - 1] < levels[i] and _spike(times, levels, i - 1):
                    # the reading below danger was a dropout (QARTOD spike) between
                    # readings above it: the water did not rise, the gauge came back
                    m["dropouts"] += 1
                    m["dropouts_proposed"] += seen(times[i], times[i + 1] if two else times[i], _four) or (
                        max(state(times[i])) >= 4
                    )
                    continue
                rate = (levels[i] - levels[i - 1]) / max((times[i] - times[i - 1]) / 3600, 1 / 6)
                best, rises = fastest[i - 1]  # its history before this rise
                jump = rises >= HISTORY_RISES and rate > JUMP_FACTOR * best
                if two and jump:
                    # beyond what the station's history shows water can do: no rise of
                    # water but a jump (e.g. a gauge flipping between two stuck values)
                    m["rises_jump"] += 1
                    if seen(times[i], times[i + 1], _four):
                        m["rises_jump_proposed"] += 1
                        cases["rises_jump_proposed"].append((sid, times[i]))
                    continue
                if two:
                    m["rises"] += 1
                    due = times[i + 1]
                    if seen(times[i], due, _four) or state(due)[0] >= 4 or state(due)[1] >= 4:
                        m["rises_proposed"] += 1
                        continue
                    cases["rises_missed"].append((sid, times[i]))
                    if i + 2 <= ep.last and seen(times[i], times[i + 2], _four):
                        m["rises_proposed_late"] += 1
                    continue
                proposed = seen(times[i], times[i], _four) or state(times[i])[1] >= 4
                if rises < HISTORY_RISES:
                    m["singles_short"] += 1
                    m["singles_short_proposed"] += proposed
                elif jump:
                    m["singles_jump"] += 1
                    # proposed on this reading: a proposal already open before it (e.g. on
                    # the plateau a flipping gauge returns to) is not the jump's
                    before = state(times[i] - 1e-6)
                    if seen(times[i], times[i], _four) and max(before) < 4:
                        m["singles_jump_proposed"] += 1
                        cases["singles_jump_proposed"].append((sid, times[i]))
                else:
                    m["singles_plausible"] += 1
                    m["singles_plausible_proposed"] += proposed
                    if not proposed:
                        cases["singles_missed"].append((sid, times[i]))
        # proposals the next reading takes back
        for t in mine:
            for ts, ev, lvl, reason in t.events:
                if ev != "proposed" or lvl < 4 or reason not in ("unverified", "observed"):
                    continue
                i = bisect_right(times, ts) - 1
                if i < 0 or times[i] != ts or i + 1 >= len(times) or levels[i + 1] >= d:
                    continue
                if times[i + 1] - ts > GAP_S:
                    continue
                if reason == "observed":
                    # a confirmed stage is not taken back by one reading below: the
                    # hysteresis keeps it (and the proposal) until it is confirmed below
                    m["takebacks_confirmed"] += 1
                    continue
                m["takebacks"] += 1
                # told: the proposed level (4 or more) went public; a lower level the
                # policy issues from other evidence (level 2) is not this proposal
                told = any(e[1] in ("issued", "changed") and e[2] >= lvl for e in t.between(ts, times[i + 1]))
                # handled: withdrawn, ended with the issuance it was raising (the policy
                # lifted a level 2), or replaced by a proposal on other evidence (a
                # forecast that still projects danger: a new question for staff)
                after = [e for e in t.between(ts, times[i + 1]) if e[0] > ts]
                if not told and any(
                    e[1] in ("withdrawn", "lifted") or (e[1] == "proposed" and e[3] != reason) for e in after
                ):
                    m["takebacks_withdrawn"] += 1
                else:
                    cases["takebacks_told" if told else "takebacks_open"].append((sid, ts, times[i + 1]))
        # issued levels held across silence
        gaps = [(times[i - 1], times[i]) for i in range(1, len(times)) if times[i] - times[i - 1] > GAP_S]
        if end is not None and end - times[-1] > GAP_S:
            gaps.append((times[-1], end))
        for a, _ in gaps:
            # 6 h as the service sees it: its health tick runs every 30 s, so the first
            # moment silence "longer than 6 h" can be acted on is the first tick after
            due = (a + GAP_S) // TICK_S * TICK_S + TICK_S
            held = state(a)[0] >= 4 and state(due)[0] >= 4
            # staff were asked when a proposal came in the silence, or one made before
            # it is still open then (one approved or withdrawn before asks nothing)
            asked = seen(a + 1e-6, due, lambda e: e[1] in ("proposed", "lift_proposed")) or any(
                t.asking_at(a) and t.asking_at(due) and not t.between(a + 1e-6, due) for t in mine
            )
            strict = (
                state(a)[0] >= 4
                and state(a + GAP_S)[0] >= 4
                and not (
                    seen(a + 1e-6, a + GAP_S, lambda e: e[1] in ("proposed", "lift_proposed"))
                    or any(
                        t.asking_at(a) and t.asking_at(a + GAP_S) and not t.between(a + 1e-6, a + GAP_S)
                        for t in mine
                    )
                )
            )
            m["silent_holds_strict"] += strict
            if held and not asked:
                m["silent_holds"] += 1
                cases["silent_holds"].append((sid, a))
    for area, t in tracks.items():
        changes = [e[0] for e in t.events if e[1] in ("issued", "changed", "lifted")]
        worst = 0
        j = 0
        for i, ts in enumerate(changes):
            while changes[j] <= ts - HYSTERESIS_S:
                j += 1
            worst = max(worst, i - j + 1)
        m["max_changes_6h"] = max(m["max_changes_6h"], worst)
        m["flapping_areas"] += worst > 2
        reversals = _reversals(t.events)
        m["max_reversals_6h"] = max(m["max_reversals_6h"], reversals)
        m["reversal_areas"] += reversals > 1
        if reversals > 1:
            cases["reversals"].append((area, reversals))
    m["fault_public_gauges"] = len(m["fault_public_gauges"])
    return m


def _reversals(events: Sequence[tuple[float, str, int, str | None]]) -> int:
    """The most **reversals** of an area's public level within one hysteresis window:
    a change whose direction is the opposite of the change before it, less than
    ``HYSTERESIS_S`` after it (down and back up, or up and back down). A flood going
    2 → 4 → lifted is one reversal; 4 → lifted → 4 → lifted within 6 h is two."""
    level, last, flips = 0, None, []
    for ts, ev, lvl, _ in events:
        if ev not in ("issued", "changed", "lifted"):
            continue
        new = 0 if ev == "lifted" else lvl
        if new == level:
            continue
        way = 1 if new > level else -1
        if last is not None and way != last[1] and ts - last[0] < HYSTERESIS_S:
            flips.append(ts)
        level, last = new, (ts, way)
    worst = j = 0
    for i, ts in enumerate(flips):
        while flips[j] <= ts - HYSTERESIS_S:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


def _forecast_kind(times: Sequence[float], levels: Sequence[float], danger: float, i: int, last: int) -> str:
    """Why a level-4 forecast in an episode that never reached danger is explained:
    ``falling`` (the newest reading is below the one before: never right), ``near``
    (the water later came within ``NEAR_M`` of danger in the episode), ``stalled``
    (it kept rising at least one more reading, then stopped short), ``peak`` (the
    reading it was made at was the episode's highest from there on: the rise ended)."""
    if i > 0 and levels[i] < levels[i - 1]:
        return "falling"
    top = max(levels[i : last + 1])
    if danger - top <= NEAR_M:
        return "near"
    if top > levels[i]:
        return "stalled"
    return "peak"


def _state(tracks: Sequence[_AreaTrack], ts: float) -> tuple[int, int]:
    """The highest (issued, pending raise) of a station's areas at ``ts``."""
    best = (0, 0)
    for t in tracks:
        i, p = t.at(ts)
        best = (max(best[0], i), max(best[1], p))
    return best


def _seen(tracks: Sequence[_AreaTrack], a: float, b: float, test: Callable[[tuple], bool]) -> bool:
    return any(test(e) for t in tracks for e in t.between(a, b))


def _four(e: tuple) -> bool:
    """A level-4 (or higher) proposal or public level."""
    return e[1] in ("proposed", "issued", "changed") and e[2] >= 4


def _fastest_rises(
    times: Sequence[float], levels: Sequence[float], danger: float, eps: list[Episode]
) -> list[tuple[float, int]]:
    """For each reading, the station's fastest rise (m/h) and number of rises up to and
    including it: between consecutive readings ≤ 2 h apart, both below danger, outside
    fault-like episodes — what its own history shows water can do, as known then."""
    out: list[tuple[float, int]] = []
    best, count = 0.0, 0
    fault = [False] * len(times)
    for ep in eps:
        if ep.kind == "fault":
            fault[ep.first : ep.last + 1] = [True] * (ep.last - ep.first + 1)
    for i in range(len(times)):
        if i and not (fault[i] or fault[i - 1] or _spike(times, levels, i) or _spike(times, levels, i - 1)):
            dt = times[i] - times[i - 1]
            if 0 < dt <= HISTORY_GAP_S and levels[i] < danger and levels[i - 1] < danger:
                rate = (levels[i] - levels[i - 1]) / (dt / 3600)
                if 0 < rate <= MAX_RISE_M_H:
                    count += 1
                    best = max(best, rate)
        out.append((best, count))
    return out


def _spike(times: Sequence[float], levels: Sequence[float], i: int) -> bool:
    """QARTOD's spike test on reading ``i`` (known once the next reading is in: the
    history "as known then" lags one reading, as any observer's does): it stands
    more than ``SPIKE_M`` beyond both neighbours, each within ``HISTORY_GAP_S``."""
    if i == 0 or i + 1 >= len(times):
        return False
    if times[i] - times[i - 1] > HISTORY_GAP_S or times[i + 1] - times[i] > HISTORY_GAP_S:
        return False
    a, x, b = levels[i - 1], levels[i], levels[i + 1]
    return abs(x - (a + b) / 2) - abs(b - a) / 2 > SPIKE_M


def rate(part: int, whole: int) -> str:
    return "–" if not whole else f"{part}/{whole} ({100 * part / whole:.0f} %)"
