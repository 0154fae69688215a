"""Evaluate one station: its recent readings, its remembered state and ``now`` in; its
new state, what is true about it (conditions) and the QC flags to store out.

Pure and deterministic: no I/O, no clock. Evaluating the same readings again from the
resulting state gives the same conditions, because conditions are drawn from the
state alone (:func:`conditions`), and a station without a reading newer than
``prior.last_time`` takes a fast path that only checks its health.

The caller fetches the station's readings from ``settings.window`` before its newest
reading (ascending, none after ``now``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import islice
from math import isfinite

from alerts import health, qc
from alerts.model import Assessment, Condition, Kind, Sample, StationState
from alerts.rules import RuleSettings
from alerts.stages import Step, index_of, lower_median, reached, step
from alerts.state import state_from_json, state_to_json
from alerts.trend import hours_to, theil_sen
from kawamori.model import QC_QUALITY, Quality, Stage, Station

__all__ = ["conditions", "evaluate", "evaluate_columns", "state_from_json", "state_to_json"]

_QC = int(QC_QUALITY)
_RATE = int(Quality.RATE)
_UNSOUND = qc.HARD | _RATE
# readings at an alerting stage with these flags are a fault, not water: the stage is not
# entered again until a sound reading has been below it (a spike is left out: one wild
# reading in a real flood must not block its level)
_FAULT = int(Quality.FLAT_LINE | Quality.SUSPECT_RANGE)
_EPS = 1e-6  # m: levels are decimals (197.55 - 197.54 > 0.01 in floating point)
_INF = float("inf")
_MIN_SPACING = 60.0  # s: rates over shorter spacings are taken over a minute
LOOKBACK = 40  # readings before the first new one that any rule looks at (the window may hold more)
AWAITING = "awaiting"  # a plausible reading at a higher stage, waiting for the median to follow


def evaluate(
    station: Station,
    samples: Sequence[Sample],
    prior: StationState,
    *,
    now: datetime,
    settings: RuleSettings,
    neighbours: Mapping[str, int | None] = {},
    times: Sequence[float] | None = None,
) -> Assessment:
    """Assess a station. ``neighbours`` maps the ids of the stations up- and downstream
    to their confirmed 警戒レベル (``None`` below every alerting stage). ``times``, if the
    caller keeps them, are the samples' POSIX timestamps (``sample.time.timestamp()``)."""
    return evaluate_columns(
        station,
        [s.time for s in samples],
        [s.level_m for s in samples],
        [s.quality for s in samples],
        prior,
        now=now,
        settings=settings,
        neighbours=neighbours,
        times=times,
    )


def evaluate_columns(
    station: Station,
    stamps: Sequence[datetime],
    levels: Sequence[float],
    qualities: Sequence[int],
    prior: StationState,
    *,
    now: datetime,
    settings: RuleSettings,
    neighbours: Mapping[str, int | None] = {},
    times: Sequence[float] | None = None,
) -> Assessment:
    """:func:`evaluate` with the readings as columns (their times, levels and quality
    bits, ascending), as a caller that fetches them in bulk has them: the same result
    without a :class:`Sample` per reading."""
    if stamps and stamps[-1] > now:
        kept = [i for i, t in enumerate(stamps) if t <= now]
        stamps = [stamps[i] for i in kept]
        levels = [levels[i] for i in kept]
        qualities = [qualities[i] for i in kept]
        times = None if times is None else [times[i] for i in kept]
    flagged: tuple[tuple[datetime, int], ...] = ()
    state = prior
    if stamps and (prior.last_time is None or stamps[-1] > prior.last_time):
        state, flagged = _advance(station.stages, stamps, levels, qualities, prior, settings, times)
    state = _corroborate(station.stages, state, neighbours, settings)
    pace = health.cadence(settings, health.typical(state.intervals))
    if state.last_time is None:
        off = True
    else:
        silent = (now - state.last_time).total_seconds()
        off = silent > (
            pace.offline_after if state.intervals else health.offline_after(state.fast_mode, settings)
        )
        if silent > pace.no_data_after and not state.no_data and _high_water(station.stages, state):
            state = _no_data(state)
    if off != state.offline:
        state = replace(state, offline=off)
    forecast = _forecast(station.stages, index_of(station.stages, state.stage_key), state, settings)
    key = forecast[0].key if forecast else None
    if key != state.forecast_key:
        state = replace(state, forecast_key=key)
    return Assessment(station.id, state, conditions(station, state, settings), flagged)


def _high_water(stages: Sequence[Stage], state: StationState) -> bool:
    """The station was at (or heading for) a stage with a 警戒レベル."""
    index = index_of(stages, state.stage_key)
    return (
        _alert_level(stages, index) > 0
        or state.candidate_key is not None
        or state.forecast_key is not None
        or state.below_since is not None
    )


def _no_data(state: StationState) -> StationState:
    """Silent too long after high water: the stage no longer counts, nothing is held."""
    return replace(
        state,
        stage_key=None,
        stage_since=None,
        below_since=None,
        confirmed_m=None,
        confirmed_at=None,
        corroborated_by=None,
        candidate_key=None,
        candidate_m=None,
        candidate_at=None,
        candidate_reason=None,
        candidate_plausible=False,
        candidate_rise_m_h=None,
        candidate_points=0,
        rate_m_h=None,
        rising=False,
        forecast_key=None,
        no_data=True,
    )


def _advance(
    stages: Sequence[Stage],
    stamps: Sequence[datetime],
    levels: Sequence[float],
    qualities: Sequence[int],
    prior: StationState,
    settings: RuleSettings,
    times: Sequence[float] | None = None,
) -> tuple[StationState, tuple[tuple[datetime, int], ...]]:
    """Take the readings newer than ``prior.last_time`` into account, one by one."""
    start = 0 if prior.last_time is None else bisect_right(stamps, prior.last_time)
    # after a long silence at high water (or once it was declared no data) the station
    # starts afresh: its old stage does not revive, older readings confirm nothing
    fresh = prior.no_data
    if prior.last_time is not None and not fresh:
        before = health.cadence(settings, health.typical(prior.intervals))
        fresh = (stamps[start] - prior.last_time).total_seconds() > before.no_data_after
    low = start if fresh else max(0, start - LOOKBACK)
    if low:
        stamps, levels, qualities, start = stamps[low:], levels[low:], qualities[low:], start - low
    if times is None:
        times = [t.timestamp() for t in stamps]
    elif low:
        times = times[low:]
    n = len(stamps)
    intervals = health.learn_all(
        prior.intervals,
        prior.last_time.timestamp() if prior.last_time is not None else None,
        times,
        start,
        settings,
    )
    pace = health.cadence(settings, health.typical(intervals))

    top = stages[-1].level_m if stages else None
    alert_m = next((stage.level_m for stage in stages if stage.alert_level), None)
    flags, pending = qc.check_columns(
        levels, qualities, times, top_m=top, settings=settings, cadence=pace, alert_m=alert_m
    )
    if fresh:
        current, confirmed_m, confirmed_at, corroborated_by = Step(-1, None, None), None, None, None
    else:
        current = Step(index_of(stages, prior.stage_key), prior.stage_since, prior.below_since)
        confirmed_m, confirmed_at = prior.confirmed_m, prior.confirmed_at
        corroborated_by = prior.corroborated_by
    window = pace.confirm_window
    margin, dwell = settings.exit_margin_m, timedelta(seconds=pace.dwell)
    tol = settings.flat_line_tolerance_m
    same = max(tol, settings.flat_line_high_tolerance_m) + _EPS
    needed = min(2, settings.confirm_count)
    rise_max, rises = prior.rise_max_m_h, prior.rises
    suspect_high, sane_since = prior.suspect_high, prior.sane_since
    sane_for = pace.dwell
    low_m = alert_m if alert_m is not None else _INF
    danger_m = stages[-1].level_m if stages else _INF
    gap, max_rise = pace.gap, settings.max_rise_m_h
    hard = qc.HARD
    # the two newest sound readings before the one being stepped (-1: none), for the
    # rise each reading shows the one before it made (see _learn_rise)
    q = start - 1
    while q >= 0 and flags[q] & _UNSOUND:
        q -= 1
    p = q - 1
    while p >= 0 and flags[p] & _UNSOUND:
        p -= 1
    # most of the time the readings cannot move the stage: once the rest of them cannot,
    # only the newest confirmed level counts (the same outcome as stepping each one)
    bounds: _Bounds | None = _Bounds(levels, flags) if n - start > 1 else None
    still = n
    for i in range(start, n):
        if i > start and not flags[i - 1] & _UNSOUND:
            p, q = q, i - 1
        f = flags[i]
        x = levels[i]
        if f & _FAULT and x >= low_m:
            suspect_high, sane_since = True, None
        elif suspect_high and not f & _UNSOUND and x < low_m:
            # trusted up there again only once it has read sound values below for the
            # dwell: a gauge flipping between a stuck value and the water is no rise
            if sane_since is None:
                sane_since = times[i]
            elif times[i] - sane_since >= sane_for:
                suspect_high, sane_since = False, None
        if f & hard:
            if _alert_level(stages, current.index) and (i == 0 or flags[i - 1] & hard):
                # two faulty readings in a row: no valid evidence holds an alerting stage any more
                current, confirmed_m, confirmed_at = Step(-1, None, None), None, None
                corroborated_by = None
            continue
        # _learn_rise, inline (a hot loop): reading i shows that sound reading q was no
        # spike and not the start of a stuck run; the rise from p to q counts
        if p >= 0:
            tq = times[q]
            if tq - times[p] <= gap and times[i] - tq <= gap:
                xq, xp = levels[q], levels[p]
                if not (abs(x - xq) <= tol or xq >= danger_m or xp >= danger_m):
                    spacing = tq - times[p]
                    rise_rate = (xq - xp) / (_MIN_SPACING if spacing < _MIN_SPACING else spacing) * 3600
                    if 0 < rise_rate <= max_rise:  # max(rise_max, rate), max(spacing, _MIN_SPACING)
                        rise_max, rises = (rise_rate if rise_rate > rise_max else rise_max), rises + 1
        if still < n:
            continue
        if bounds is not None and _settled(stages, current, bounds, times, i, window, margin):
            still = i
            if not suspect_high and not any(islice(flags, i, None)):
                # the rest are sound readings and can change nothing but what rises
                # they show: learn those in a tighter loop
                rise_max, rises = _rises(
                    levels, times, i + 1, q, i, gap, tol, danger_m, max_rise, rise_max, rises
                )
                break
            continue
        chosen = _usable(times, flags, pending, i, settings.confirm_count, window)
        if not chosen:
            continue
        level = lower_median([levels[j] for j in chosen])
        target = reached(stages, level)
        if target > current.index and _alert_level(stages, target) > _alert_level(stages, current.index):
            if suspect_high:
                continue  # the gauge was stuck or out of range up there: no evidence of water
            # entering an alerting stage takes two readings at it that differ: the same
            # value again is no confirmation, a stuck sensor repeats itself
            threshold = stages[current.index + 1].level_m
            above = [levels[j] for j in chosen if levels[j] >= threshold]
            if len(above) < needed or (len(above) >= 2 and max(above) - min(above) <= same):
                continue
        before = current.index
        current = step(stages, current, level, stamps[i], exit_margin_m=margin, dwell=dwell)
        if current.index != before:
            corroborated_by = None
        confirmed_m, confirmed_at = level, stamps[i]
    if still < n:
        for i in range(n - 1, still - 1, -1):
            if not flags[i] & hard:
                chosen = _usable(times, flags, pending, i, settings.confirm_count, window)
                if chosen:
                    confirmed_m = lower_median([levels[j] for j in chosen])
                    confirmed_at = stamps[i]
                    break

    last = n - 1
    trend = _usable(times, flags, pending, last, settings.trend_max_points, pace.trend_window)
    usable = trend[0] if trend else None
    rate = None
    rising = False
    if len(trend) >= settings.trend_min_points:
        recent = trend[2::-1]
        trend.reverse()
        rate = theil_sen([times[j] for j in trend], [levels[j] for j in trend])
        if rate is not None and not isfinite(rate):
            rate = None
        quick = theil_sen([times[j] for j in recent], [levels[j] for j in recent])
        # still rising in the newest readings: not just over the trend window
        rising = quick is not None and quick > 0 and levels[recent[-1]] > levels[recent[-2]]

    candidate_key = candidate_m = candidate_at = reason = rise = None
    plausible, points = False, 0
    if not flags[last] & hard:
        x = levels[last]
        jump = reached(stages, x)
        if _alert_level(stages, jump) > _alert_level(stages, current.index):
            candidate_key, candidate_m = stages[jump].key, x
            candidate_at, reason = stamps[last], pending[last] or AWAITING
            if (
                reason in (AWAITING, qc.JUMP, qc.LONE)
                and not suspect_high
                and not _repeats_a_fault(levels, flags, last, same)
            ):
                threshold = stages[jump].level_m
                # a lone reading (nothing within the gap to compare it with) is judged by
                # the rise from the sound readings before it, as long as the station
                # was not silent long enough for its evidence to count as lost
                reach = pace.no_data_after if reason == qc.LONE else pace.gap
                plausible, rise, points = _plausible(
                    levels, times, flags, last, reach, rise_max, rises, threshold, settings
                )

    recent_flags = range(max(0, n - settings.confirm_count), n)
    sensor_bits = 0
    sensor_at = None
    for j in recent_flags:
        if flags[j]:
            sensor_bits |= flags[j]
            sensor_at = stamps[j]

    newest = levels[last]
    state = StationState(
        stage_key=stages[current.index].key if current.index >= 0 else None,
        stage_since=current.since,
        below_since=current.below_since,
        last_time=stamps[last],
        last_level_m=newest if isfinite(newest) else None,
        offline=prior.offline,
        fast_mode=health.fast_mode(times[last - 1] if n > 1 else None, times[last], settings),
        confirmed_m=confirmed_m,
        confirmed_at=confirmed_at,
        usable_m=levels[usable] if usable is not None else None,
        usable_at=stamps[usable] if usable is not None else None,
        rate_m_h=rate,
        corroborated_by=corroborated_by if current.index >= 0 else None,
        candidate_key=candidate_key,
        candidate_m=candidate_m,
        candidate_at=candidate_at,
        candidate_reason=reason,
        candidate_plausible=plausible,
        candidate_rise_m_h=rise,
        candidate_points=points,
        sensor_bits=sensor_bits,
        sensor_at=sensor_at,
        forecast_key=None if fresh else prior.forecast_key,
        rising=rising,
        intervals=intervals,
        rise_max_m_h=rise_max,
        rises=rises,
        suspect_high=suspect_high,
        sane_since=sane_since,
        no_data=False,
    )
    flagged = tuple((stamps[j], flags[j] & _QC) for j in range(max(0, start - 1), n) if flags[j] & _QC)
    return state, flagged


class _Bounds:
    """From each reading on: the lowest and highest sound level (``inf``, ``-inf`` if
    none), and whether two faulty readings in a row follow. Computed for one reading at
    first (usually the only one asked about: the readings are settled at once), for
    every reading once a second is asked about."""

    __slots__ = ("doubles", "flags", "highs", "levels", "lows")

    def __init__(self, levels: Sequence[float], flags: Sequence[int]) -> None:
        self.levels, self.flags = levels, flags
        self.lows: list[float] | None = None
        self.highs: list[float] = []
        self.doubles: list[bool] = []

    def levels_from(self, j: int) -> tuple[float, float]:
        if self.lows is None:
            self.lows = []  # the next question gets every suffix
            sound = [x for x, f in zip(self.levels[j:], self.flags[j:], strict=True) if not f & qc.HARD]
            return (min(sound), max(sound)) if sound else (_INF, -_INF)
        if not self.highs:
            self.lows, self.highs, self.doubles = _suffix_bounds(self.levels, self.flags)
        return self.lows[j], self.highs[j]

    def double_from(self, k: int) -> bool:
        if not self.doubles:
            self.lows, self.highs, self.doubles = _suffix_bounds(self.levels, self.flags)
        return self.doubles[k]


def _suffix_bounds(
    levels: Sequence[float], flags: Sequence[int]
) -> tuple[list[float], list[float], list[bool]]:
    """From each reading on: the lowest and highest sound level (``inf``, ``-inf`` if
    none), and whether two faulty readings in a row follow."""
    n = len(levels)
    lows, highs, doubles = [_INF] * (n + 1), [-_INF] * (n + 1), [False] * (n + 1)
    hard = qc.HARD
    for j in range(n - 1, -1, -1):
        lows[j], highs[j], doubles[j] = lows[j + 1], highs[j + 1], doubles[j + 1]
        if flags[j] & hard:
            doubles[j] = doubles[j] or j == 0 or bool(flags[j - 1] & hard)
        else:
            x = levels[j]
            lows[j], highs[j] = min(lows[j], x), max(highs[j], x)
    return lows, highs, doubles


def _settled(
    stages: Sequence[Stage],
    current: Step,
    bounds: _Bounds,
    times: Sequence[float],
    k: int,
    window: float,
    margin: float,
) -> bool:
    """Whether stepping through readings ``k:`` can change nothing but the confirmed
    level: every sound level they can choose (a confirmed level is one of them) lies
    between the current stage's exit threshold and the next stage's threshold, the stage
    is not being left, and no two faulty readings in a row can drop an alerting stage."""
    index = current.index
    if index >= 0 and current.below_since is not None:
        return False
    if _alert_level(stages, index) and bounds.double_from(k):
        return False
    first = bisect_left(times, times[k] - window - 1.0)  # a second more than _usable looks back
    low = stages[index].level_m - margin if index >= 0 else -_INF
    high = stages[index + 1].level_m if index + 1 < len(stages) else _INF
    lowest, highest = bounds.levels_from(first)
    return low <= lowest and highest < high


def _sound(flags: Sequence[int], j: int) -> bool:
    return not flags[j] & _UNSOUND


def _rises(
    levels: Sequence[float],
    times: Sequence[float],
    start: int,
    p: int,
    q: int,
    gap: float,
    tol: float,
    danger_m: float,
    max_rise: float,
    rise_max: float,
    rises: int,
) -> tuple[float, int]:
    """The rises learnt from readings ``start:``, all sound, as the main loop of
    :func:`_advance` learns them: ``q`` and ``p`` are the two newest sound readings
    before ``start`` (-1: none)."""
    if q < 0:
        return rise_max, rises  # not reached: q is the reading before start
    xq, tq = levels[q], times[q]
    known = p >= 0
    xp, tp = (levels[p], times[p]) if known else (0.0, 0.0)
    for x, t in zip(islice(levels, start, None), islice(times, start, None), strict=True):
        if (
            known
            and tq - tp <= gap
            and t - tq <= gap
            and not (abs(x - xq) <= tol or xq >= danger_m or xp >= danger_m)
        ):
            spacing = tq - tp
            rate = (xq - xp) / (_MIN_SPACING if spacing < _MIN_SPACING else spacing) * 3600
            if 0 < rate <= max_rise:
                rise_max, rises = (rate if rate > rise_max else rise_max), rises + 1
        xp, tp, xq, tq, known = xq, tq, x, t, True
    return rise_max, rises


def _plausible(
    levels: Sequence[float],
    times: Sequence[float],
    flags: Sequence[int],
    last: int,
    gap: float,
    rise_max: float,
    rises: int,
    threshold: float,
    settings: RuleSettings,
) -> tuple[bool, float | None, int]:
    """Whether the newest reading follows a rise water can make: it (or the one before
    it, when the two did not confirm the stage) crossed ``threshold`` from a sound
    reading below it — readings that never were below are a repeat, not a rise — no
    faster than twice the fastest rise the station's own history shows — or, while that
    history is too short to say (fewer than ``rise_history_min`` rises), than
    ``plausible_rise_m_h`` — and that
    rise (m/h) over the last readings (at most three, counting this one)."""
    chain = [last]
    j = last - 1
    while j >= 0 and len(chain) < 3:
        if _sound(flags, j):
            if times[chain[-1]] - times[j] > gap:
                break
            chain.append(j)
        j -= 1
    if len(chain) < 2:
        return False, None, 1
    x, t = levels[last], times[last]
    # the crossing: from the newest sound reading below the threshold to the one after it
    # (the newest, or the one before it when two readings above did not confirm the stage)
    k = 1
    while k < len(chain) and levels[chain[k]] >= threshold:
        k += 1
    if k == len(chain) or k > 2:
        return False, None, len(chain)  # no crossing seen: a repeat or a lone value, not a rise
    up = chain[k - 1]
    step_rate = (levels[up] - levels[chain[k]]) / max(times[up] - times[chain[k]], _MIN_SPACING) * 3600
    if rises >= settings.rise_history_min:
        limit = min(settings.max_rise_m_h, 2 * rise_max)
    else:
        limit = min(settings.max_rise_m_h, max(settings.plausible_rise_m_h, 2 * rise_max))
    first = chain[-1]
    rise = (x - levels[first]) / max(t - times[first], _MIN_SPACING) * 3600
    return step_rate <= limit, round(rise, 3), len(chain)


def _repeats_a_fault(levels: Sequence[float], flags: Sequence[int], last: int, same: float) -> bool:
    """Whether the newest reading repeats (within ``same``) a level the gauge gave in
    the window while it failed quality control (a spike, a jump beyond what water does,
    a flat line, out of range): a gauge flipping back to a value it was caught stuck at
    or jumping to is repeating a fault, not measuring a rise."""
    x = levels[last]
    return any(flags[j] & _UNSOUND and abs(levels[j] - x) <= same for j in range(last))


def _usable(
    times: Sequence[float],
    flags: Sequence[int],
    pending: Sequence[str | None],
    newest: int,
    count: int,
    window: float,
) -> list[int]:
    """Indexes (newest first) of up to ``count`` readings that count as of reading
    ``newest``, within ``window`` seconds of it: sound, and if they needed
    confirmation, followed by a sound reading that agrees with them (one that did
    not itself move implausibly fast from them)."""
    chosen: list[int] = []
    agreed = False  # the next sound reading after this one is not implausible next to it
    t = times[newest]
    for j in range(newest, -1, -1):
        if t - times[j] > window:
            break
        if flags[j] & qc.HARD:
            continue
        if pending[j] is None or agreed:
            chosen.append(j)
            if len(chosen) >= count:
                break
        agreed = not flags[j] & _RATE
    return chosen


def _alert_level(stages: Sequence[Stage], index: int) -> int:
    return (stages[index].alert_level or 0) if index >= 0 else 0


def _corroborate(
    stages: Sequence[Stage], state: StationState, neighbours: Mapping[str, int | None], settings: RuleSettings
) -> StationState:
    """An unverified jump becomes the confirmed stage when a neighbouring station is
    itself at (nearly) that alert level."""
    if state.candidate_key is None or not neighbours:
        return state
    index = index_of(stages, state.candidate_key)
    needed = _alert_level(stages, index) - settings.neighbour_level_gap
    if index < 0 or index <= index_of(stages, state.stage_key):
        return state
    for neighbour in sorted(neighbours):
        level = neighbours[neighbour]
        if level is not None and level >= max(needed, 1):
            return replace(
                state,
                stage_key=state.candidate_key,
                stage_since=state.candidate_at,
                below_since=None,
                confirmed_m=state.candidate_m,
                confirmed_at=state.candidate_at,
                corroborated_by=neighbour,
                candidate_key=None,
                candidate_m=None,
                candidate_at=None,
                candidate_reason=None,
            )
    return state


def conditions(station: Station, state: StationState, settings: RuleSettings) -> tuple[Condition, ...]:
    """What is true about a station, from its state alone."""
    stages, sid, stale = station.stages, station.id, state.offline
    out: list[Condition] = []
    index = index_of(stages, state.stage_key)
    stage = stages[index] if index >= 0 else None
    # how long the station's evidence must stay below a level before the area lowers it
    # (the stage hysteresis's dwell, scaled to the station's cadence)
    hold = health.cadence(settings, health.typical(state.intervals)).dwell
    if stage is not None and stage.alert_level is not None:
        details = {
            "level_m": _round(state.confirmed_m),
            "observed_at": _iso(state.confirmed_at),
            "rate_m_h": _round(state.rate_m_h),
            "since": _iso(state.stage_since),
            "hold_s": hold,
            **_names(stage),
        }
        if state.corroborated_by:
            details["corroborated_by"] = state.corroborated_by
        out.append(Condition(sid, Kind.stage, stage.alert_level, stage.key, stale, details))
    forecast = _forecast(stages, index, state, settings)
    if forecast is not None:
        target, hours = forecast
        assert state.usable_at is not None
        eta = state.usable_at + timedelta(hours=hours)
        details = {
            "eta": _iso(eta),
            "hours": round(hours, 2),
            "rate_m_h": _round(state.rate_m_h),
            "level_m": _round(state.usable_m),
            "observed_at": _iso(state.usable_at),
            "threshold_m": target.level_m,
            "hold_s": hold,
            **_names(target),
        }
        out.append(Condition(sid, Kind.forecast, target.alert_level, target.key, stale, details))
    if state.candidate_key is not None:
        jump = stages[index_of(stages, state.candidate_key)]
        details = {
            "level_m": _round(state.candidate_m),
            "observed_at": _iso(state.candidate_at),
            "reason": state.candidate_reason,
            "plausible": state.candidate_plausible,
            **_names(jump),
        }
        if state.candidate_plausible:
            details["rise_m_h"] = state.candidate_rise_m_h
            details["points"] = state.candidate_points
        out.append(Condition(sid, Kind.unverified, jump.alert_level, jump.key, stale, details))
    if state.sensor_bits:
        details = {"tests": qc.test_names(state.sensor_bits), "observed_at": _iso(state.sensor_at)}
        out.append(Condition(sid, Kind.sensor, None, None, stale, details))
    if state.offline:
        interval = health.typical(state.intervals)
        if interval is not None:
            expected = round(min(interval, settings.seconds.max_interval) / 60, 1)
        else:
            expected = settings.fast_interval_min if state.fast_mode else settings.slow_interval_min
        details = {
            "critical": index >= 0 or state.fast_mode or state.no_data,
            "last_reading_at": _iso(state.last_time),
            "expected_interval_min": expected,
        }
        if state.no_data:
            details["no_data"] = True
        out.append(Condition(sid, Kind.offline, None, None, False, details))
    return tuple(out)


def _forecast(
    stages: Sequence[Stage], index: int, state: StationState, settings: RuleSettings
) -> tuple[Stage, float] | None:
    """The highest alerting stage above the confirmed one that the trend reaches within
    the lead time, and in how many hours."""
    rate, level = state.rate_m_h, state.usable_m
    if rate is None or level is None or rate <= 0 or not state.rising:
        return None
    if rate < settings.forecast_min_rise_m_h and state.forecast_key is None:
        return None
    lead_h = settings.forecast_lead_h
    now_level = _alert_level(stages, index)
    best = None
    for stage in stages[index + 1 :]:
        if stage.alert_level is None or stage.alert_level <= now_level:
            continue
        hours = hours_to(level, rate, stage.level_m)
        if hours is None or hours > lead_h:
            break
        if hours > 0:  # a stage a reading has reached but not confirmed is `unverified`, not forecast
            best = (stage, hours)
    if best is None and state.forecast_key is not None:
        # hysteresis: a forecast already out stays while the water still rises towards
        # its stage within a longer horizon, so a trend hovering at the lead time does
        # not send residents a forecast, an all-clear and a forecast again
        held = index_of(stages, state.forecast_key)
        if held > index and _alert_level(stages, held) > now_level:
            hours = hours_to(level, rate, stages[held].level_m)
            if hours is not None and 0 < hours <= lead_h * settings.forecast_hold_factor:
                best = (stages[held], hours)
    return best


def _names(stage: Stage) -> dict[str, str]:
    return {"stage_ja": stage.name_ja, "stage_en": stage.name_en}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
