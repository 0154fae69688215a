"""Faults as transformations of a station's stream (simulator/faults.py): tables for
each fault, hypothesis for the invariants the later CI check relies on."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import faults
from simulator.faults import (
    BATTERY_CUTOFF_V,
    BrownOut,
    ClockSkew,
    Drift,
    Dropout,
    Duplicate,
    Outage,
    OutOfOrder,
    Replace,
    Spike,
    Stuck,
    deliver,
    measure,
    run,
)

T0 = datetime(2025, 9, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stream(n: int = 60, device: str = "kw-1"):
    """One reading a minute, the true level rising 1 cm a minute from 1 m."""
    return measure(device, [at(i) for i in range(n)], [1.0 + i / 100 for i in range(n)])


def reported(s: faults.Stream) -> list[float]:
    return [round(r.level_m, 6) for r in s.readings]


def test_a_healthy_stream_reports_the_truth_with_seq_from_zero():
    s = run(stream(5), [])
    assert [r.seq for r in s.readings] == [0, 1, 2, 3, 4]
    assert [d.at for d in s.deliveries] == [at(i) + timedelta(seconds=1) for i in range(5)]
    assert reported(s) == [1.0, 1.01, 1.02, 1.03, 1.04]
    assert s.notes == ()


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Spike(at(2), 4.0), [1.0, 1.01, 5.02, 1.03, 1.04, 1.05]),
        (Spike(at(2), -0.5, count=2), [1.0, 1.01, 0.52, 0.53, 1.04, 1.05]),
        (Stuck(at(2)), [1.0, 1.01, 1.02, 1.02, 1.02, 1.02]),
        (Stuck(at(1), at(3)), [1.0, 1.01, 1.01, 1.03, 1.04, 1.05]),
        (Drift(at(1), 0.6), [1.0, 1.01, 1.03, 1.05, 1.07, 1.09]),  # 1 cm a minute
        (Drift(at(1), 0.6, end=at(3)), [1.0, 1.01, 1.03, 1.05, 1.06, 1.07]),
    ],
)
def test_sensor_faults_change_what_is_reported_not_the_truth(fault, expected):
    s = run(stream(6), [fault])
    assert reported(s) == expected
    assert [r.true_level_m for r in s.readings] == [r.true_level_m for r in stream(6).readings]
    assert len(s.notes) == 1


def test_dropout_loses_readings_leaving_a_seq_gap():
    s = run(stream(10), [Dropout(at(3), at(6))])
    assert [r.seq for r in s.readings] == [0, 1, 2, 6, 7, 8, 9]
    assert s.notes[0].kind == "dropout" and s.notes[0].until == at(6)


def test_brown_out_drains_the_battery_then_stops_the_readings():
    fault = BrownOut(at(10), volts_per_hour=6.0)  # 0.1 V a minute from 3.9 V
    s = run(stream(30), [fault])
    assert s.readings[-1].true_time == at(16)  # 3.3 V at minute 16
    assert s.readings[10].battery_v == pytest.approx(3.9)
    assert s.readings[14].battery_v == pytest.approx(3.5)
    assert min(r.battery_v for r in s.readings) >= BATTERY_CUTOFF_V
    assert [(n.kind, n.time) for n in s.notes] == [("low_battery", at(14)), ("brown_out", at(16))]


def test_clock_skew_moves_the_stamps_only():
    s = run(stream(5), [ClockSkew(at(2), timedelta(seconds=-90))])
    assert [r.time - r.true_time for r in s.readings] == [timedelta(0)] * 2 + [timedelta(seconds=-90)] * 3
    assert [d.at for d in s.deliveries] == [at(i) + timedelta(seconds=1) for i in range(5)]


def test_a_replaced_device_restarts_its_seq_and_is_healthy():
    s = run(stream(10), [Replace(at(4), "kw-2", gap=2 * MINUTE), BrownOut(at(0), volts_per_hour=60)])
    ids = [(r.device_id, r.seq) for r in s.readings]
    assert ids == [("kw-1", 0)] + [("kw-2", i) for i in range(4)]  # old board died at minute 0.6
    assert {n.kind for n in s.notes} == {"replaced", "low_battery", "brown_out"}


def test_duplicates_arrive_later_and_twice():
    s = run(stream(10), [Duplicate(at(0), at(10), every=3, delay=timedelta(seconds=20))])
    counts = Counter(d.reading.seq for d in s.deliveries)
    assert [seq for seq, n in sorted(counts.items()) if n == 2] == [0, 3, 6, 9]
    assert [d.at for d in s.deliveries] == sorted(d.at for d in s.deliveries)


def test_out_of_order_swaps_pairs():
    s = run(stream(6), [OutOfOrder(at(1), at(5))])
    assert [d.reading.seq for d in s.deliveries] == [0, 2, 1, 4, 3, 5]


def test_an_outage_holds_readings_and_flushes_them_in_a_burst_with_their_stamps():
    s = run(stream(20), [Outage(at(5), at(12))])
    flushed = [d for d in s.deliveries if d.at >= at(12) and d.reading.true_time < at(12)]
    assert [d.reading.seq for d in flushed] == [5, 6, 7, 8, 9, 10, 11]
    assert flushed[-1].at - flushed[0].at == 6 * faults.BURST_SPACING
    assert all(d.reading.time == d.reading.true_time for d in flushed)
    assert not [d for d in s.deliveries if at(5) <= d.at < at(12)]


def test_an_outage_longer_than_the_buffer_drops_the_oldest():
    s = run(stream(20), [Outage(at(5), at(12), capacity=3)])
    assert [r.seq for r in s.readings] == [0, 1, 2, 3, 4, 9, 10, 11, *range(12, 20)]
    assert "buffer_overflow" in {n.kind for n in s.notes}


# -- invariants ------------------------------------------------------------------------------

minutes = st.integers(min_value=0, max_value=90)


@st.composite
def a_fault(draw):
    start = draw(minutes)
    end = start + draw(st.integers(min_value=1, max_value=60))
    kind = draw(
        st.sampled_from(
            ["spike", "stuck", "drift", "dropout", "brown", "skew", "replace", "duplicate", "order", "outage"]
        )
    )
    return {
        "spike": lambda: Spike(at(start), draw(st.floats(-5, 5)), draw(st.integers(1, 3))),
        "stuck": lambda: Stuck(at(start), at(end)),
        "drift": lambda: Drift(at(start), draw(st.floats(-1, 1))),
        "dropout": lambda: Dropout(at(start), at(end)),
        "brown": lambda: BrownOut(at(start), draw(st.floats(0.1, 10))),
        "skew": lambda: ClockSkew(at(start), timedelta(seconds=draw(st.integers(-600, 600)))),
        "replace": lambda: Replace(at(start), f"kw-new-{start}", timedelta(minutes=draw(st.integers(0, 20)))),
        "duplicate": lambda: Duplicate(at(start), at(end), draw(st.integers(1, 5))),
        "order": lambda: OutOfOrder(at(start), at(end)),
        "outage": lambda: Outage(at(start), at(end)),
    }[kind]()


@settings(max_examples=200, deadline=None)
@given(st.lists(a_fault(), max_size=6))
def test_faults_never_reorder_or_change_the_truth(chosen):
    original = stream(100)
    truth = [(r.true_time, r.true_level_m) for r in original.readings]
    s = run(original, chosen)
    kept = [(r.true_time, r.true_level_m) for r in s.readings]
    assert kept == sorted(kept)
    assert set(kept) <= set(truth)
    by_device = Counter((r.device_id, r.seq) for r in s.readings)
    assert set(by_device.values()) <= {1}  # (device, seq) identifies a reading


@settings(max_examples=200, deadline=None)
@given(st.lists(a_fault(), max_size=6).map(lambda fs: [f for f in fs if not isinstance(f, Duplicate)]))
def test_without_duplicates_every_sent_reading_arrives_exactly_once(chosen):
    s = run(stream(100), chosen)
    assert Counter(d.reading for d in s.deliveries) == Counter(s.readings)


@settings(max_examples=200, deadline=None)
@given(st.lists(a_fault(), max_size=6))
def test_every_sent_reading_arrives_at_least_once_and_after_it_was_measured(chosen):
    s = run(stream(100), chosen)
    assert {d.reading for d in s.deliveries} == set(s.readings)
    assert all(d.at > d.reading.true_time for d in s.deliveries)
    assert [d.at for d in s.deliveries] == sorted(d.at for d in s.deliveries)


def test_delivery_uses_the_latency():
    s = deliver(stream(2), timedelta(seconds=7))
    assert [d.at - d.reading.true_time for d in s.deliveries] == [timedelta(seconds=7)] * 2
