"""Confirmed stages: immediate escalation, exit only below a margin after a dwell."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.stages import Step, index_of, lower_median, reached, step
from tests.alerts.factories import JP_STAGES, at

MARGIN, DWELL = 0.1, timedelta(minutes=30)
NONE, STANDBY, CAUTION, JUDGEMENT, DANGER, FLOODING = -1, 0, 1, 2, 3, 4


BELOW = Step(NONE, None, None)


def run(levels_every_10_min, start=BELOW):
    current, trail = start, []
    for i, level in enumerate(levels_every_10_min):
        current = step(JP_STAGES, current, level, at(10 * i), exit_margin_m=MARGIN, dwell=DWELL)
        trail.append(current.index)
    return current, trail


@pytest.mark.parametrize(
    ("levels", "median"),
    [
        pytest.param([3.0], 3.0, id="one"),
        pytest.param([3.0, 5.0], 3.0, id="two-take-the-lower"),
        pytest.param([5.0, 3.0, 4.0], 4.0, id="three"),
        pytest.param([9.0, 1.0, 1.1, 1.2], 1.1, id="four"),
    ],
)
def test_lower_median(levels, median):
    assert lower_median(levels) == median


@pytest.mark.parametrize(
    ("level", "index"),
    [(1.0, NONE), (2.0, STANDBY), (3.5, CAUTION), (5.0, DANGER), (7.0, FLOODING), (float("nan"), NONE)],
    ids=["below", "at-standby", "caution", "at-danger", "above-all", "nan"],
)
def test_reached(level, index):
    assert reached(JP_STAGES, level) == index


def test_index_of_an_unknown_or_missing_key():
    assert index_of(JP_STAGES, None) == -1
    assert index_of(JP_STAGES, "gone") == -1
    assert index_of(JP_STAGES, "danger") == DANGER


@pytest.mark.parametrize(
    ("levels", "trail"),
    [
        pytest.param([1.0, 2.5, 3.2], [NONE, STANDBY, CAUTION], id="enter-one-by-one"),
        pytest.param([1.0, 5.4], [NONE, DANGER], id="escalate-several-at-once"),
        pytest.param([3.2, 2.95, 2.92, 2.95, 2.99, 2.91], [CAUTION] * 6, id="within-margin-stays"),
        pytest.param(
            [3.2, 2.8, 2.8, 2.8, 2.8], [CAUTION, CAUTION, CAUTION, CAUTION, STANDBY], id="exit-after-dwell"
        ),
        pytest.param(
            [3.2, 2.8, 2.8, 2.95, 2.8, 2.8, 2.8], [CAUTION] * 7, id="back-above-margin-restarts-dwell"
        ),
        pytest.param([3.2, 2.8, 2.8, 2.95, 2.8, 2.8, 2.8, 2.8], [CAUTION] * 7 + [STANDBY], id="then-exits"),
        pytest.param([5.2, 1.0, 1.0, 1.0, 1.0], [DANGER] * 4 + [NONE], id="drop-several-at-once"),
        pytest.param(
            [5.2, 3.95, 3.95, 3.95, 3.95], [DANGER] * 4 + [JUDGEMENT], id="drop-to-the-stage-within-margin"
        ),
        pytest.param([3.2, 2.8, 2.8, 5.1], [CAUTION, CAUTION, CAUTION, DANGER], id="escalation-ends-a-dwell"),
    ],
)
def test_stage_steps(levels, trail):
    assert run(levels)[1] == trail


def test_escalation_records_when_and_clears_the_dwell():
    current, _ = run([3.2, 2.8, 2.8])
    assert current.below_since == at(10)
    current = step(JP_STAGES, current, 4.2, at(30), exit_margin_m=MARGIN, dwell=DWELL)
    assert current == Step(JUDGEMENT, at(30), None)


def test_zero_dwell_exits_at_the_first_confirmed_level_below_the_margin():
    current = step(
        JP_STAGES, Step(CAUTION, at(0), None), 2.8, at(10), exit_margin_m=MARGIN, dwell=timedelta(0)
    )
    assert current.index == STANDBY


levels = st.lists(st.floats(1.5, 6.5), min_size=1, max_size=80)
hovering = st.lists(st.floats(2.7, 3.3), min_size=1, max_size=120)


@given(hovering, st.lists(st.integers(1, 20), min_size=120, max_size=120))
def test_a_level_hovering_at_a_threshold_enters_at_most_once_per_dwell(levels, gaps_min):
    current, minutes, entries = Step(NONE, None, None), 0, []
    for level, gap in zip(levels, gaps_min, strict=False):
        minutes += gap
        before = current.index
        current = step(JP_STAGES, current, level, at(minutes), exit_margin_m=MARGIN, dwell=DWELL)
        if before < CAUTION <= current.index:
            entries.append(minutes)
    assert all(b - a >= DWELL.total_seconds() / 60 for a, b in pairwise(entries))


@given(levels, st.lists(st.integers(1, 20), min_size=80, max_size=80))
def test_escalation_is_never_delayed(levels, gaps_min):
    current, minutes = Step(NONE, None, None), 0
    for level, gap in zip(levels, gaps_min, strict=False):
        minutes += gap
        current = step(JP_STAGES, current, level, at(minutes), exit_margin_m=MARGIN, dwell=DWELL)
        assert current.index >= reached(JP_STAGES, level)


@given(levels, st.lists(st.integers(1, 20), min_size=80, max_size=80))
def test_a_stage_is_left_only_below_its_margin_after_the_dwell(levels, gaps_min):
    current, minutes, history = Step(NONE, None, None), 0, []
    for level, gap in zip(levels, gaps_min, strict=False):
        minutes += gap
        after = step(JP_STAGES, current, level, at(minutes), exit_margin_m=MARGIN, dwell=DWELL)
        history.append((minutes, level))
        if after.index < current.index:
            threshold = JP_STAGES[current.index].level_m - MARGIN
            assert level < threshold
            assert current.below_since is not None
            assert at(minutes) - current.below_since >= DWELL
            since = (current.below_since - at(0)).total_seconds() / 60
            assert all(lv < threshold for m, lv in history if m >= since)
        current = after
