"""Station health: fast or slow reporting mode, and when a silent station is offline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts import health
from alerts.rules import DEFAULT, RuleSettings
from tests.alerts.factories import T0, at


@pytest.mark.parametrize(
    ("spacing_min", "fast"),
    [(2, True), (3, True), (3.5, False), (10, False)],
    ids=["2-min", "3-min", "3.5-min", "10-min"],
)
def test_fast_mode_is_read_from_the_newest_spacing(spacing_min, fast):
    assert health.fast_mode(0.0, spacing_min * 60, DEFAULT) is fast


def test_a_single_reading_means_slow_mode():
    assert health.fast_mode(None, 100.0, DEFAULT) is False


@pytest.mark.parametrize(
    ("silent_min", "fast", "settings", "offline"),
    [
        pytest.param(29, False, DEFAULT, False, id="slow-29-min"),
        pytest.param(31, False, DEFAULT, True, id="slow-31-min"),
        pytest.param(14, True, DEFAULT, False, id="fast-never-before-the-minimum-wait"),
        pytest.param(16, True, DEFAULT, True, id="fast-16-min"),
        pytest.param(7, True, RuleSettings(offline_min_wait_min=0), True, id="fast-without-minimum"),
        pytest.param(5, True, RuleSettings(offline_min_wait_min=0), False, id="fast-5-min"),
        pytest.param(
            23 * 60, False, RuleSettings(slow_interval_min=1440, offline_multiple=1), False, id="crisis-gauge"
        ),
        pytest.param(
            25 * 60,
            False,
            RuleSettings(slow_interval_min=1440, offline_multiple=1),
            True,
            id="crisis-gauge-silent",
        ),
    ],
)
def test_offline_after_a_multiple_of_the_expected_interval(silent_min, fast, settings, offline):
    assert health.offline(T0, fast, now=at(silent_min), settings=settings) is offline


def test_a_station_that_never_reported_is_offline():
    assert health.offline(None, False, now=T0, settings=DEFAULT)


def test_offline_after_is_at_least_the_minimum_wait():
    assert health.offline_after(True, DEFAULT) == timedelta(minutes=15).total_seconds()
    assert health.offline_after(False, DEFAULT) == timedelta(minutes=30).total_seconds()


# -- cadence -------------------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from alerts.model import Sample, StationState  # noqa: E402


@given(st.floats(1, 6 * 3600), st.floats(1, 6 * 3600))
def test_a_gauge_that_reports_faster_never_gets_slower_decisions(a, b):
    fast, slow = sorted((a, b))
    quick, late = health.cadence(DEFAULT, fast), health.cadence(DEFAULT, slow)
    for name in ("confirm_window", "gap", "trend_window", "dwell", "offline_after", "no_data_after"):
        assert getattr(quick, name) <= getattr(late, name), name
    # a flat line is told after count readings and the duration, whichever is later
    told = lambda c: max(c.flat_line_min_duration, (c.flat_line_count - 1) * c.interval)  # noqa: E731
    assert told(quick) <= told(late)


@pytest.mark.parametrize(
    ("interval_min", "confirm_min", "flat_count", "offline_min"), [(10, 60, 6, 30), (60, 210, 4, 180)]
)
def test_one_rule_set_scales_to_hourly_and_ten_minute_gauges(
    interval_min, confirm_min, flat_count, offline_min
):
    pace = health.cadence(DEFAULT, interval_min * 60)
    assert pace.confirm_window == confirm_min * 60
    assert pace.flat_line_count == flat_count
    assert pace.offline_after == offline_min * 60


def test_the_cadence_is_learned_and_silences_are_left_out():
    intervals: tuple[float, ...] = ()
    for spacing in (3600, 3700, 3500, 40 * 3600, 3600):
        intervals = health.learn(intervals, spacing, DEFAULT)
    assert health.typical(intervals) == 3600 and 40 * 3600 not in intervals


@given(st.sampled_from([120, 600, 1800, 3600]), st.sampled_from([120, 600, 1800, 3600]))
def test_a_faster_gauge_is_offline_no_later(a, b):
    from alerts.evaluate import evaluate
    from tests.alerts.factories import series, station

    def offline_at(every_s: float) -> float:
        samples = series([1.0 + 0.01 * i for i in range(8)], every_min=every_s / 60)
        state = StationState()
        for i in range(len(samples)):
            state = evaluate(station(), samples[: i + 1], state, now=samples[i].time, settings=DEFAULT).state
        silent = 0.0
        while not evaluate(
            station(), samples, state, now=samples[-1].time + timedelta(seconds=silent), settings=DEFAULT
        ).state.offline:
            silent += 60
        return silent

    fast, slow = sorted((a, b))
    assert offline_at(fast) <= offline_at(slow)
    assert isinstance(Sample, type)
