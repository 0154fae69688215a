from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelters.counts import (
    CountEvent,
    Kind,
    bucketed,
    count_event,
    fold,
    from_last_set,
    status_event,
    step,
    timeline,
)
from shelters.errors import InvalidEvent

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)

events = st.lists(
    st.builds(
        CountEvent,
        id=st.uuids(),
        kind=st.sampled_from(list(Kind)),
        value=st.integers(-5, 50),
        recorded_at=st.integers(0, 3600).map(lambda s: NOW - timedelta(seconds=s)),
    ).filter(lambda e: (e.kind is Kind.set and e.value >= 0) or (e.kind is Kind.delta and e.value != 0)),
    max_size=40,
)


@given(events, st.randoms())
def test_arrival_order_does_not_matter(items, random):
    shuffled = list(items)
    random.shuffle(shuffled)
    assert fold(items) == fold(shuffled)


@given(events)
def test_the_latest_set_and_what_follows_decide_the_count(items):
    assert fold(from_last_set(items)) == fold(items)


@given(events)
def test_the_count_is_never_negative(items):
    assert all(count >= 0 for _, count in timeline(items))


@given(st.lists(st.integers(1, 5), max_size=30))
def test_increments_from_several_tablets_all_count(increments):
    items = [
        CountEvent(uuid.uuid4(), Kind.delta, n, NOW - timedelta(seconds=i)) for i, n in enumerate(increments)
    ]
    assert fold(items) == sum(increments)


def test_step_table():
    assert step(5, Kind.delta, 1) == 6
    assert step(0, Kind.delta, -1) == 0
    assert step(7, Kind.set, 3) == 3


@pytest.mark.parametrize(
    ("kind", "value", "words"),
    [
        ("set", -1, "cannot be negative"),
        ("set", 10**6, "not plausible"),
        ("delta", 0, "non-zero"),
        ("delta", 5000, "non-zero"),
        ("add", 1, "kind must be"),
        ("set", True, "whole number"),
        ("set", 2.5, "whole number"),
    ],
)
def test_bad_count_events(kind, value, words):
    with pytest.raises(InvalidEvent, match=words):
        count_event(id=uuid.uuid4(), kind=kind, value=value, recorded_at=NOW, now=NOW)


def test_times_and_ids_are_checked():
    with pytest.raises(InvalidEvent, match="time zone"):
        count_event(id=uuid.uuid4(), kind="delta", value=1, recorded_at=NOW.replace(tzinfo=None), now=NOW)
    with pytest.raises(InvalidEvent, match="ahead"):
        count_event(id=uuid.uuid4(), kind="delta", value=1, recorded_at=NOW + timedelta(hours=1), now=NOW)
    with pytest.raises(InvalidEvent, match="7 days"):
        count_event(id=uuid.uuid4(), kind="delta", value=1, recorded_at=NOW - timedelta(days=8), now=NOW)
    with pytest.raises(InvalidEvent, match="UUID"):
        count_event(id="tap-1", kind="delta", value=1, recorded_at=NOW, now=NOW)
    slightly_ahead = count_event(
        id=str(uuid.uuid4()), kind="delta", value=1, recorded_at=NOW + timedelta(minutes=2), now=NOW
    )
    assert slightly_ahead.recorded_at == NOW
    with pytest.raises(InvalidEvent, match="preparing, open or closed"):
        status_event(id=uuid.uuid4(), status="full", recorded_at=NOW, now=NOW)


def test_buckets_give_the_count_at_the_end_and_the_peak():
    start = NOW - timedelta(hours=1)
    items = [
        CountEvent(uuid.uuid4(), Kind.set, 10, start - timedelta(minutes=5)),  # before the window
        CountEvent(uuid.uuid4(), Kind.delta, 5, start + timedelta(minutes=10)),
        CountEvent(uuid.uuid4(), Kind.delta, -8, start + timedelta(minutes=20)),
        CountEvent(uuid.uuid4(), Kind.delta, 1, start + timedelta(minutes=40)),
    ]
    buckets = bucketed(timeline(items), since=start, until=NOW, bucket=timedelta(minutes=30))
    assert [(b["count"], b["peak"]) for b in buckets] == [(7, 15), (8, 8)]
    assert bucketed([], since=start, until=NOW, bucket=timedelta(minutes=30))[0]["count"] == 0
    with pytest.raises(ValueError):
        bucketed([], since=start, until=NOW, bucket=timedelta(0))
