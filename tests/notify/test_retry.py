"""The pure retry decisions (:mod:`notify.retry`): a table of cases, then properties
over any attempt, delay, ``Retry-After`` and deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notify.channels.base import Outcome
from notify.retry import Backoff, Decision, State, backoff, decide

NOW = datetime(2026, 9, 1, 5, 6, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("attempt", "rand", "retry_after", "deadline_s", "expected_s"),
    [
        (1, 1.0, None, 100, 2),  # the first retry waits up to base
        (2, 1.0, None, 100, 4),  # … doubling each attempt
        (4, 1.0, None, 100, 16),
        (4, 0.0, None, 100, 0),  # full jitter: as soon as now
        (4, 0.5, None, 100, 8),
        (30, 1.0, None, 3600, 300),  # capped
        (1, 0.5, 30, 100, 30),  # never sooner than the peer's Retry-After
        (6, 1.0, 5, 100, 64),  # … which is a floor, not the delay
        (7, 1.0, None, 100, None),  # 128 s > the deadline: given up
        (1, 0.0, 101, 100, None),  # Retry-After beyond the deadline
        (2, 1.0, None, 4, 4),  # exactly at the deadline is still in time
        (0, 1.0, None, 100, 2),  # attempt 0 (never claimed) waits like the first
    ],
)
def test_backoff_table(attempt, rand, retry_after, deadline_s, expected_s):
    when = backoff(
        attempt, now=NOW, deadline=NOW + deadline_s * S, retry_after=retry_after, rand=lambda: rand
    )
    assert when == (None if expected_s is None else NOW + expected_s * S)


@pytest.mark.parametrize(
    ("outcome", "attempt", "deadline_s", "expected"),
    [
        (Outcome.delivered, 1, 100, Decision(State.delivered, done=NOW)),
        (Outcome.gone, 3, 100, Decision(State.gone, done=NOW)),
        (Outcome.failed, 1, 100, Decision(State.failed, done=NOW)),  # a 4xx is final at once
        (Outcome.failed, 1, -1, Decision(State.failed, done=NOW)),
        (Outcome.retry, 1, 100, Decision(State.queued, next=NOW + 2 * S)),
        (Outcome.retry, 3, 100, Decision(State.queued, next=NOW + 8 * S)),
        (Outcome.retry, 7, 100, Decision(State.expired, done=NOW)),
        (Outcome.retry, 1, -1, Decision(State.expired, done=NOW)),  # past the deadline already
        (Outcome.delivered, 1, -1, Decision(State.delivered, done=NOW)),  # a late success still counts
    ],
)
def test_decide_table(outcome, attempt, deadline_s, expected):
    decision = decide(outcome, attempt=attempt, deadline=NOW + deadline_s * S, now=NOW, rand=lambda: 1.0)
    assert decision == expected


attempts = st.integers(min_value=0, max_value=200)
fractions = st.floats(min_value=0.0, max_value=1.0)
seconds = st.floats(min_value=0.0, max_value=10_000.0, allow_nan=False)
delays = st.builds(
    Backoff,
    base_s=st.floats(min_value=0.001, max_value=60.0),
    cap_s=st.floats(min_value=0.001, max_value=3600.0),
)


@given(attempts, fractions, st.none() | seconds, seconds, delays)
def test_a_retry_is_never_past_the_deadline_nor_sooner_than_retry_after(attempt, r, retry_after, left, d):
    deadline = NOW + timedelta(seconds=left)
    decision = decide(
        Outcome.retry, attempt=attempt, deadline=deadline, now=NOW, retry_after=retry_after, delays=d,
        rand=lambda: r,
    )  # fmt: skip
    if decision.state is State.queued:
        assert decision.next is not None and decision.done is None
        assert NOW <= decision.next <= deadline
        if retry_after is not None:
            assert decision.next >= NOW + timedelta(seconds=retry_after)
    else:
        assert decision == Decision(State.expired, done=NOW)


@given(attempts, fractions, delays)
def test_without_retry_after_the_delay_is_full_jitter_within_the_cap(attempt, r, d):
    far = NOW + timedelta(days=365)
    when = backoff(attempt, now=NOW, deadline=far, base_s=d.base_s, cap_s=d.cap_s, rand=lambda: r)
    assert when is not None  # the deadline is far away: never given up
    delay = (when - NOW).total_seconds()
    ceiling = min(d.cap_s, d.base_s * 2 ** max(0, attempt - 1))
    assert 0 <= delay <= d.cap_s + 1e-6  # timedelta keeps microseconds
    assert delay == pytest.approx(r * ceiling, abs=1e-6)


@given(st.integers(min_value=1, max_value=60), delays)
def test_the_ceiling_never_shrinks_from_one_attempt_to_the_next(attempt, d):
    far = NOW + timedelta(days=365)

    def ceiling(n: int) -> datetime | None:
        return backoff(n, now=NOW, deadline=far, base_s=d.base_s, cap_s=d.cap_s, rand=lambda: 1.0)

    assert ceiling(attempt) <= ceiling(attempt + 1)


@given(attempts, fractions, st.none() | seconds, seconds)
def test_a_retry_given_up_is_one_that_would_have_come_after_the_deadline(attempt, r, retry_after, left):
    deadline = NOW + timedelta(seconds=left)
    late = NOW + timedelta(days=365)
    kw = {"now": NOW, "retry_after": retry_after, "rand": lambda: r}
    when = backoff(attempt, deadline=late, **kw)
    assert backoff(attempt, deadline=deadline, **kw) == (when if when <= deadline else None)


@given(st.sampled_from([Outcome.delivered, Outcome.gone, Outcome.failed]), attempts, seconds)
def test_final_outcomes_end_the_delivery_now_whatever_the_deadline(outcome, attempt, left):
    decision = decide(outcome, attempt=attempt, deadline=NOW + timedelta(seconds=left - 5000), now=NOW)
    assert decision == Decision(State(str(outcome)), done=NOW)
