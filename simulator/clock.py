"""Clocks for the services' one injectable source of ``now`` (the :class:`Clock`
protocol of :mod:`kawamori.clock`), so accelerated time runs the same code as real
time (staleness, hysteresis and trend rules see simulated seconds).

- :class:`RealClock` — the wall clock (UTC) and the process's monotonic clock (the
  services' default, from :mod:`kawamori.clock`).
- :class:`AcceleratedClock` — ``start`` plus ``factor`` × the real time elapsed since
  it was made; sleeping ``s`` simulated seconds sleeps ``s / factor`` real ones.
- :class:`ManualClock` — time moves only when told (tests); sleeping advances it.

All are thread-safe, and ``now()``/``monotonic()`` never go backwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kawamori.clock import Clock, RealClock

__all__ = ["AcceleratedClock", "Clock", "ManualClock", "RealClock"]


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("a clock's start must be timezone-aware")
    return when.astimezone(UTC)


class AcceleratedClock:
    """Simulated time running ``factor`` times faster than real time from ``start``.

    ``set_factor`` changes the speed from now on without a jump. ``real_monotonic``
    and ``real_sleep`` are injectable for tests."""

    def __init__(
        self,
        start: datetime,
        factor: float,
        *,
        real_monotonic: Callable[[], float] = time.monotonic,
        real_sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not factor > 0:
            raise ValueError(f"acceleration factor must be positive, not {factor}")
        self._lock = threading.Lock()
        self._real = real_monotonic
        self._real_sleep = real_sleep
        self._start = _aware(start)
        self._factor = float(factor)
        self._origin_real = real_monotonic()
        self._origin_sim = 0.0  # simulated seconds since start at _origin_real
        self._last = 0.0

    @property
    def factor(self) -> float:
        return self._factor

    def _elapsed(self) -> float:
        with self._lock:
            elapsed = self._origin_sim + (self._real() - self._origin_real) * self._factor
            self._last = max(self._last, elapsed)
            return self._last

    def monotonic(self) -> float:
        return self._elapsed()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed())

    def sleep(self, seconds: float) -> None:
        self._real_sleep(max(seconds, 0.0) / self._factor)

    def set_factor(self, factor: float) -> None:
        if not factor > 0:
            raise ValueError(f"acceleration factor must be positive, not {factor}")
        with self._lock:
            real = self._real()
            self._origin_sim += (real - self._origin_real) * self._factor
            self._origin_real = real
            self._factor = float(factor)


class ManualClock:
    """Time stands still until :meth:`advance` or :meth:`sleep` moves it."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._start = _aware(start)
        self._elapsed = 0.0

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        with self._lock:
            self._elapsed += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
