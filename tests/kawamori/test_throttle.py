from datetime import UTC, datetime, timedelta

import pytest

from kawamori.throttle import Rule

T0 = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failures", "after_s", "wait_s"),
    [
        (0, 0, 0),
        (4, 0, 0),  # the free tries
        (5, 0, 30),
        (5, 29, 1),
        (5, 30, 0),
        (6, 0, 60),  # doubling with each failure...
        (8, 0, 240),
        (30, 0, 900),  # ...up to the cap
        (30, 900, 0),
    ],
)
def test_delays_grow_with_each_failure_and_end_by_themselves(failures, after_s, wait_s):
    rule = Rule(free=5)
    assert rule.wait(failures, T0, now=T0 + timedelta(seconds=after_s)) == wait_s


def test_no_failure_no_wait():
    assert Rule(free=0).wait(0, None, now=T0) == 0
