"""The injectable clocks (simulator/clock.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.clock import AcceleratedClock, Clock, ManualClock, RealClock

T0 = datetime(2025, 9, 20, 12, 0, tzinfo=UTC)


class FakeReal:
    """A real monotonic clock and sleep that the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def accelerated(factor: float) -> tuple[AcceleratedClock, FakeReal]:
    real = FakeReal()
    return AcceleratedClock(T0, factor, real_monotonic=real.monotonic, real_sleep=real.sleep), real


@pytest.mark.parametrize(
    ("factor", "real_seconds", "simulated"),
    [(1, 10, timedelta(seconds=10)), (60, 60, timedelta(hours=1)), (360, 120, timedelta(hours=12))],
)
def test_accelerated_time_runs_factor_times_faster(factor, real_seconds, simulated):
    clock, real = accelerated(factor)
    assert clock.now() == T0
    real.t += real_seconds
    assert clock.now() == T0 + simulated
    assert clock.monotonic() == simulated.total_seconds()


def test_sleeping_simulated_seconds_sleeps_real_seconds_divided_by_the_factor():
    clock, real = accelerated(120)
    clock.sleep(600)
    assert real.slept == [5.0]
    assert clock.now() == T0 + timedelta(minutes=10)


def test_changing_the_factor_does_not_jump():
    clock, real = accelerated(10)
    real.t += 6
    clock.set_factor(100)
    assert clock.now() == T0 + timedelta(seconds=60)
    real.t += 1
    assert clock.now() == T0 + timedelta(seconds=160)
    with pytest.raises(ValueError, match="positive"):
        clock.set_factor(0)


@given(st.lists(st.floats(min_value=-5, max_value=5), min_size=1, max_size=30))
def test_accelerated_time_never_goes_back_even_if_the_real_clock_does(moves):
    clock, real = accelerated(50)
    seen = [clock.monotonic()]
    for move in moves:
        real.t += move
        seen.append(clock.monotonic())
    assert seen == sorted(seen)


def test_a_clock_needs_an_aware_start_and_a_positive_factor():
    with pytest.raises(ValueError, match="timezone"):
        AcceleratedClock(datetime(2025, 1, 1), 10)
    with pytest.raises(ValueError, match="positive"):
        AcceleratedClock(T0, 0)


def test_now_is_utc_whatever_the_start_zone():
    jst = timezone(timedelta(hours=9))
    clock = ManualClock(datetime(2025, 9, 20, 21, 0, tzinfo=jst))
    assert clock.now() == T0 and clock.now().tzinfo == UTC


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(T0)
    clock.sleep(90)
    clock.advance(30)
    assert clock.now() == T0 + timedelta(minutes=2)
    assert clock.monotonic() == 120
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_the_real_clock_is_the_wall_clock():
    clock: Clock = RealClock()
    before = datetime.now(UTC)
    assert before <= clock.now() <= datetime.now(UTC)
    assert clock.monotonic() <= clock.monotonic()


def test_the_accelerated_clock_is_thread_safe_and_monotonic_per_reader():
    clock = AcceleratedClock(T0, 1000)
    failures = []

    def read() -> None:
        last = clock.now()
        for _ in range(2000):
            now = clock.now()
            if now < last:
                failures.append((last, now))
            last = now

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for _ in range(200):
        clock.set_factor(1000 + len(failures))
    for thread in threads:
        thread.join()
    assert failures == []
    assert clock.now() > T0
