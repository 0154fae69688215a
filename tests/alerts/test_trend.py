"""Trend: the Theil–Sen rate of rise and the projected time to a level."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from alerts.trend import hours_to, theil_sen

H = 3600.0


@pytest.mark.parametrize(
    ("times_h", "levels", "rate"),
    [
        pytest.param([0, 1, 2], [1.0, 1.5, 2.0], 0.5, id="steady-rise"),
        pytest.param([0, 1, 2, 3], [2.0, 1.8, 1.6, 1.4], -0.2, id="fall"),
        pytest.param([0, 0.5, 1], [1.0, 1.0, 1.0], 0.0, id="flat"),
        pytest.param([0, 1, 2, 3, 4], [1.0, 1.1, 9.0, 1.3, 1.4], 0.1, id="one-wild-reading-ignored"),
        pytest.param([0, 1], [1.0, 3.0], 2.0, id="two-points"),
        pytest.param([0, 0, 1], [1.0, 2.0, 3.0], 1.5, id="same-time-pairs-skipped"),
    ],
)
def test_theil_sen(times_h, levels, rate):
    assert theil_sen([t * H for t in times_h], levels) == pytest.approx(rate)


@pytest.mark.parametrize(
    ("times", "levels"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([0.0], [1.0], id="one"),
        pytest.param([5.0, 5.0], [1, 2], id="same-time"),
    ],
)
def test_no_rate_without_two_distinct_times(times, levels):
    assert theil_sen(times, levels) is None


@pytest.mark.parametrize(
    ("level", "rate", "target", "hours"),
    [
        pytest.param(3.0, 0.5, 4.0, 2.0, id="two-hours"),
        pytest.param(4.2, 0.5, 4.0, 0.0, id="already-there"),
        pytest.param(3.0, 0.0, 4.0, None, id="not-rising"),
        pytest.param(3.0, -0.3, 4.0, None, id="falling"),
        pytest.param(3.0, None, 4.0, None, id="no-rate"),
    ],
)
def test_hours_to(level, rate, target, hours):
    assert hours_to(level, rate, target) == (None if hours is None else pytest.approx(hours))


offsets = st.lists(st.floats(0.01, 2.0), min_size=2, max_size=20)


@given(offsets, st.floats(-3, 3), st.floats(-10, 10))
def test_a_straight_line_gives_its_slope(gaps, slope, intercept):
    times = [sum(gaps[: i + 1]) * H for i in range(len(gaps))]
    levels = [intercept + slope * t / H for t in times]
    assert theil_sen(times, levels) == pytest.approx(slope, abs=1e-6)


@given(st.lists(st.floats(0.01, 2.0), min_size=5, max_size=20), st.floats(-3, 3), st.data())
def test_one_outlier_does_not_move_the_rate(gaps, slope, data):
    times = [sum(gaps[: i + 1]) * H for i in range(len(gaps))]
    levels = [1.0 + slope * t / H for t in times]
    bad = data.draw(st.integers(0, len(levels) - 1))
    outlier = data.draw(st.floats(-50, 50))
    assume(abs(outlier - levels[bad]) > 1e-3)
    levels[bad] = outlier
    assert theil_sen(times, levels) == pytest.approx(slope, abs=1e-6)
