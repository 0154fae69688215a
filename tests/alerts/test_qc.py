"""Quality control (QARTOD water-level tests): which readings are flagged, and which
need a further reading before they count."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts import qc
from alerts.model import Sample
from alerts.rules import DEFAULT, RuleSettings
from kawamori.model import QC_QUALITY, Quality
from tests.alerts.factories import T0, series

S, R, F, U = Quality.SPIKE, Quality.RATE, Quality.FLAT_LINE, Quality.SUSPECT_RANGE
TOP = 6.0  # the highest stage: suspect above 6 + 3 m


def check(samples, settings=DEFAULT, top=TOP):
    times = [s.time.timestamp() for s in samples]
    flags, pending = qc.check(samples, times, top_m=top, settings=settings)
    return [Quality(f) for f in flags], pending


CASES = [
    # levels every 10 min, {index: flags}, {index: pending}
    ("steady", [1.0, 1.01, 1.0, 1.02, 1.01], {}, {0: "lone"}),
    ("real-rise", [1.0, 1.2, 1.4, 1.6, 1.8], {}, {0: "lone"}),
    ("spike-up", [1.0, 1.0, 3.0, 1.0, 1.0], {2: S | R}, {0: "lone", 2: "rate"}),
    ("spike-down", [2.0, 2.0, 0.5, 2.0, 2.0], {2: S | R}, {0: "lone", 2: "rate"}),
    ("small-wobble-is-no-spike", [1.0, 1.0, 1.3, 1.0, 1.0], {}, {0: "lone"}),
    ("spike-at-newest-not-yet-known", [1.0, 1.0, 3.0], {2: R}, {0: "lone", 2: "rate"}),
    ("rate-too-fast-up", [1.0, 1.0, 2.5, 2.6], {2: R}, {0: "lone", 2: "rate"}),
    ("rate-too-fast-down", [3.0, 3.0, 2.0, 1.9], {2: R}, {0: "lone", 2: "rate"}),
    ("plausible-jump", [1.0, 1.0, 1.5, 1.55], {}, {0: "lone", 2: "jump"}),
    ("after-a-spike-compare-with-the-good-one", [1.0, 1.0, 5.0, 1.1], {2: S | R}, {0: "lone", 2: "rate"}),
    ("suspect-range", [1.0, 9.5, 1.0], {1: U}, {0: "lone"}),
    ("just-below-suspect", [8.9, 8.95, 8.9], {}, {0: "lone"}),
    ("flat-line", [2.0] * 8, {5: F, 6: F, 7: F}, {0: "lone"}),
    ("flat-line-within-tolerance", [2.0, 2.0005, 2.0, 2.0005, 2.0, 2.0005, 2.0], {5: F, 6: F}, {0: "lone"}),
    ("not-flat-enough", [2.0, 2.0, 2.0, 2.0, 2.0, 2.01, 2.0], {}, {0: "lone"}),
    ("stuck-high", [12.0] * 7, {i: U for i in range(5)} | {5: U | F, 6: U | F}, {}),
    ("not-finite", [1.0, math.nan, math.inf, -math.inf, 1.0], {1: U, 2: U, 3: U}, {0: "lone"}),
]


@pytest.mark.parametrize(
    ("levels", "expected_flags", "expected_pending"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_qc_table(levels, expected_flags, expected_pending):
    flags, pending = check(series(levels))
    assert {i: f for i, f in enumerate(flags) if f} == expected_flags
    assert {i: p for i, p in enumerate(pending) if p} == expected_pending


def test_a_gap_breaks_comparisons():
    samples = series([1.0, 1.0]) + series([3.0, 3.0], start=T0 + DEFAULT.window * 2)
    flags, pending = check(samples)
    assert not any(flags)
    assert pending == ["lone", None, "lone", None]


def test_readings_disqualified_by_ingest_are_not_compared():
    samples = series([1.0, 1.0, 1.0, 1.0])
    samples[1] = replace(samples[1], level_m=8.0, quality=int(Quality.SENSOR_ERROR))
    flags, _ = check(samples)
    assert flags == [0, Quality.SENSOR_ERROR, 0, 0]


@pytest.mark.parametrize(
    "bits", [Quality.CLOCK_SKEW, Quality.CLOCK_UNSET, QC_QUALITY], ids=["skew", "unset", "qc"]
)
def test_other_stored_bits_do_not_change_the_checks(bits):
    plain = series([1.0, 1.0, 3.0, 1.0, 1.0] + [2.0] * 7)
    stored = [replace(s, quality=int(bits)) for s in plain]
    assert check(stored) == check(plain)


def test_without_stages_there_is_no_suspect_range():
    flags, _ = check(series([1.0, 30.0, 30.0]), top=None)
    assert Quality.SUSPECT_RANGE not in flags[1]


def test_names_of_failed_tests():
    assert qc.test_names(int(Quality.FLAT_LINE | Quality.SUSPECT_RANGE)) == ["flat_line", "suspect_range"]
    assert qc.test_names(int(Quality.CLOCK_SKEW)) == []


levels = st.floats(allow_nan=True, allow_infinity=True, width=64)
steps = st.floats(min_value=0.0, max_value=120.0)


@st.composite
def samples(draw, values=levels, max_size=40):
    gaps = draw(st.lists(steps, min_size=1, max_size=max_size))
    values = draw(st.lists(values, min_size=len(gaps), max_size=len(gaps)))
    qualities = draw(st.lists(st.integers(0, 511), min_size=len(gaps), max_size=len(gaps)))
    out, minutes = [], 0.0
    for gap, level, quality in zip(gaps, values, qualities, strict=True):
        minutes += gap
        out.append(Sample(T0 + timedelta(minutes=minutes), level, quality))
    return out


settings_strategy = st.builds(
    RuleSettings,
    spike_m=st.floats(0.01, 5),
    max_rise_m_h=st.floats(0.1, 50),
    flat_line_count=st.integers(3, 10),
    gap_min=st.floats(1, 600),
)


@given(samples(), settings_strategy, st.none() | st.floats(-100, 100))
def test_qc_never_raises_and_only_sets_its_own_bits(data, settings, top):
    flags, pending = check(data, settings, top)
    assert len(flags) == len(pending) == len(data)
    allowed = QC_QUALITY | Quality(qc.DISQUALIFYING)
    for flag, sample in zip(flags, data, strict=True):
        assert flag & ~allowed == 0
        assert flag & qc.DISQUALIFYING == sample.quality & qc.DISQUALIFYING


@given(samples(values=st.floats(0, 0.5), max_size=30), st.floats(0, 5))
def test_a_monotone_rise_is_never_a_spike(data, base):
    total, rising = base, []
    for sample in data:
        total += sample.level_m
        rising.append(replace(sample, level_m=total, quality=0))
    flags, _ = check(rising, top=None)
    assert not any(f & Quality.SPIKE for f in flags)


@given(samples(values=st.floats(-5, 20)))
def test_a_readings_flags_do_not_depend_on_later_readings_except_its_spike(data):
    flags, pending = check(data)
    for i in range(len(data)):
        prefix_flags, prefix_pending = check(data[: i + 1])
        assert prefix_flags[i] | Quality.SPIKE == flags[i] | Quality.SPIKE
        assert prefix_pending[i] == pending[i] or flags[i - 1] & Quality.SPIKE
