"""Station health: is the gauge still reporting?

Gauges report every ``slow_interval_min`` in normal times and every
``fast_interval_min`` at high water. Which mode a gauge is in is read from the
spacing of its two newest readings. It is offline once it has been silent for
``offline_multiple`` expected intervals (and at least ``offline_min_wait_min``).
"""

from __future__ import annotations

from datetime import datetime

from alerts.rules import RuleSettings


def fast_mode(previous: float | None, newest: float, settings: RuleSettings) -> bool:
    """Whether two consecutive reading times (POSIX seconds) show the fast mode."""
    if previous is None:
        return False
    return newest - previous <= 1.5 * settings.seconds.fast_interval


def offline_after(fast: bool, settings: RuleSettings) -> float:
    """Seconds of silence after which the station is offline."""
    seconds = settings.seconds
    interval = seconds.fast_interval if fast else seconds.slow_interval
    return max(settings.offline_multiple * interval, seconds.offline_min_wait)


def offline(last_time: datetime | None, fast: bool, *, now: datetime, settings: RuleSettings) -> bool:
    """Whether a station whose newest reading is at ``last_time`` is offline at ``now``.
    A station that never reported is offline."""
    if last_time is None:
        return True
    return (now - last_time).total_seconds() > offline_after(fast, settings)
