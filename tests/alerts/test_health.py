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
