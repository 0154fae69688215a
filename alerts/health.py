"""Station health and cadence: how often does the gauge report, and is it still reporting?

Every gauge has its own **cadence**: a crisis-management gauge may report hourly, a
low-cost gauge every 10 minutes, most gauges every few minutes at high water. The
evaluator learns it from the station's own history (:func:`learn`: the median of the
last few spacings, silences left out) and scales every duration of the rules to it
(:func:`cadence`), so one rule set fits them all: each duration setting is a floor,
and a slower gauge gets the number of its readings the rule needs.

Which mode a gauge is in (fast at high water) is read from the spacing of its two
newest readings. It is offline once it has been silent for ``offline_multiple``
intervals (and at least ``offline_min_wait_min``). After high water, a silence longer
than :attr:`Cadence.no_data_after` means the station's stage no longer counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from math import ceil

from alerts.rules import RuleSettings

KEEP = 5  # spacings remembered; their median is the cadence
SILENCE_MULTIPLE = 4  # a spacing over this many intervals (and over max_interval_min) is a silence


@dataclass(frozen=True, slots=True)
class Cadence:
    """The rules' durations (seconds) for one station's reporting interval."""

    interval: float  # the learned interval (0: not known yet), capped at max_interval_min
    confirm_window: float
    gap: float
    trend_window: float
    flat_line_min_duration: float
    flat_line_count: int
    dwell: float
    offline_after: float
    no_data_after: float


def typical(intervals: tuple[float, ...]) -> float | None:
    """The station's typical reporting interval (s): the median of its recent spacings."""
    if not intervals:
        return None
    ordered = sorted(intervals)
    return ordered[len(ordered) // 2]


def learn(intervals: tuple[float, ...], spacing: float, settings: RuleSettings) -> tuple[float, ...]:
    """The remembered spacings after a new one; a silence (much longer than usual, and
    than the longest interval the rules scale to) is not a cadence and is left out."""
    if not spacing > 0:
        return intervals
    usual = typical(intervals) or settings.seconds.slow_interval
    if spacing > max(SILENCE_MULTIPLE * usual, settings.seconds.max_interval):
        return intervals
    return (*intervals[-(KEEP - 1) :], spacing)


def learn_all(
    intervals: tuple[float, ...],
    previous: float | None,
    times: Sequence[float],
    start: int,
    settings: RuleSettings,
) -> tuple[float, ...]:
    """The remembered spacings after the readings at ``times[start:]`` (POSIX seconds;
    the one before them at ``previous``, if any): :func:`learn` of each spacing in turn,
    without sorting the spacings again while their median cannot have changed."""
    seconds = settings.seconds
    slow, longest = seconds.slow_interval, seconds.max_interval
    if start >= len(times):
        return intervals
    if previous is None:
        previous, start = times[start], start + 1
    kept = list(intervals)
    full = len(kept) == KEEP
    limit = max(SILENCE_MULTIPLE * (typical(intervals) or slow), longest)
    changed = False
    for t in islice(times, start, None):
        spacing = t - previous
        previous = t
        if spacing > 0 and not spacing > limit:
            changed = True
            if full and kept[0] == spacing:
                # the oldest spacing makes way for an equal one: the median stays
                del kept[0]
                kept.append(spacing)
            else:
                kept = kept[-(KEEP - 1) :]
                kept.append(spacing)
                full = len(kept) == KEEP
                ordered = sorted(kept)
                limit = max(SILENCE_MULTIPLE * (ordered[len(ordered) // 2] or slow), longest)
    return tuple(kept) if changed else intervals


def cadence(settings: RuleSettings, interval: float | None) -> Cadence:
    """The durations for a station reporting every ``interval`` seconds (``None``: not
    known yet, the settings as they are). Never shorter than the settings, and never
    longer for a station that reports more often (monotone in ``interval``)."""
    key = -1 if interval is None else round(min(interval, settings.seconds.max_interval))
    cache = settings.cadences
    found = cache.get(key)
    if found is None:
        found = cache[key] = _cadence(settings, max(key, 0))
    return found


def _cadence(settings: RuleSettings, k: float) -> Cadence:
    s = settings.seconds
    flat_duration = max(s.flat_line_min_duration, 3 * k)
    flat_count = settings.flat_line_count
    if k > 0:
        flat_count = max(3, min(flat_count, ceil(flat_duration / k - 1e-9) + 1))
    # offline, at the latest, when a silence at high water becomes no data: the area's
    # staff are asked before its evidence has been missing that long
    offline = max(
        s.offline_min_wait, min(settings.offline_multiple * (k or s.slow_interval), s.no_data_after)
    )
    return Cadence(
        interval=k,
        confirm_window=max(s.confirm_window, (settings.confirm_count + 0.5) * k),
        gap=max(s.gap, 3 * k),
        trend_window=max(s.trend_window, (settings.trend_min_points + 1) * k),
        flat_line_min_duration=flat_duration,
        flat_line_count=flat_count,
        dwell=max(s.dwell, 3 * k),
        offline_after=offline,
        no_data_after=max(s.no_data_after, offline),
    )


def fast_mode(previous: float | None, newest: float, settings: RuleSettings) -> bool:
    """Whether two consecutive reading times (POSIX seconds) show the fast mode."""
    if previous is None:
        return False
    return newest - previous <= 1.5 * settings.seconds.fast_interval


def offline_after(fast: bool, settings: RuleSettings, interval: float | None = None) -> float:
    """Seconds of silence after which the station is offline: ``offline_multiple``
    times its learned interval, or the configured one while it is not known yet."""
    seconds = settings.seconds
    if interval:
        return cadence(settings, interval).offline_after
    expected = seconds.fast_interval if fast else seconds.slow_interval
    return max(settings.offline_multiple * expected, seconds.offline_min_wait)


def offline(
    last_time: datetime | None,
    fast: bool,
    *,
    now: datetime,
    settings: RuleSettings,
    interval: float | None = None,
) -> bool:
    """Whether a station whose newest reading is at ``last_time`` is offline at ``now``.
    A station that never reported is offline."""
    if last_time is None:
        return True
    return (now - last_time).total_seconds() > offline_after(fast, settings, interval)
