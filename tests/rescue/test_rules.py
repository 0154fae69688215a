"""The pure rules of check-ins and rescue requests: triage steps, admission of a busy
source, phone numbers, the city's extent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rescue.errors import BadTransition, InvalidReport, OutsideCity
from rescue.rules import (
    OPEN,
    STAFF_STEPS,
    Admission,
    Extent,
    Limits,
    State,
    admit,
    check_contact,
    check_place,
    normalise_phone,
    step,
)


@pytest.mark.parametrize(
    ("current", "target", "team", "expected"),
    [
        (State.received, State.confirmed, None, None),
        (State.received, State.assigned, "消防1班", "消防1班"),
        (State.confirmed, State.assigned, "  team A  ", "team A"),
        (State.assigned, State.resolved, None, None),
        (State.assigned, State.confirmed, None, None),  # the team is released
        (State.cancelled, State.received, None, None),  # reopened
        (State.resolved, State.received, None, None),
    ],
)
def test_allowed_steps(current, target, team, expected):
    assert step(current, target, team=team) == expected


@pytest.mark.parametrize(
    ("current", "target", "team"),
    [
        (State.received, State.assigned, None),  # a team is needed
        (State.received, State.assigned, "   "),
        (State.resolved, State.assigned, "x"),
        (State.cancelled, State.resolved, None),
        (State.received, State.received, None),
    ],
)
def test_refused_steps(current, target, team):
    with pytest.raises(BadTransition):
        step(current, target, team=team)


@given(st.sampled_from(list(State)), st.sampled_from(list(State)), st.text(max_size=80))
def test_every_step_is_allowed_or_refused_never_anything_else(current, target, team):
    try:
        got = step(current, target, team=team)
    except BadTransition:
        assert target not in STAFF_STEPS[current] or (target is State.assigned and not team.strip())
    else:
        assert target in STAFF_STEPS[current]
        assert (got is not None) == (target is State.assigned)
        assert got is None or 0 < len(got) <= 64


def test_every_closed_request_can_be_reopened_and_every_open_one_closed():
    for state in State:
        if state not in OPEN:
            assert State.received in STAFF_STEPS[state]
        else:
            assert {State.resolved, State.cancelled} <= STAFF_STEPS[state]


@given(st.integers(min_value=0, max_value=10_000))
def test_admission_is_monotone_and_never_refuses_the_first_few(recent):
    limits = Limits()
    got = admit(recent, limits=limits)
    order = [Admission.accept, Admission.flag, Admission.refuse]
    assert order.index(got) <= order.index(admit(recent + 1, limits=limits))
    if recent < limits.flagged:
        assert got is not Admission.refuse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("090-1234-5678", "09012345678"),
        ("０９０－１２３４－５６７８", "09012345678"),
        ("+81 90 1234 5678", "+819012345678"),
        ("(0235) 25-2111", "0235252111"),
        ("", None),
        (None, None),
    ],
)
def test_phone_numbers(text, expected):
    assert normalise_phone(text) == expected


@pytest.mark.parametrize("text", ["call me", "12", "090-1234-5678-9999-0000", "http://x"])
def test_not_phone_numbers(text):
    with pytest.raises(InvalidReport) as error:
        normalise_phone(text)
    assert error.value.code == "bad_phone"


def test_place_and_contact():
    city = Extent.around([(38.73, 139.85), (38.82, 139.975)])
    assert check_place((38.75, 139.94), None, extent=city) == (38.75, 139.94)
    assert check_place(None, "鶴岡市京田1-1", extent=city) is None
    with pytest.raises(OutsideCity):
        check_place((35.68, 139.76), None, extent=city)
    with pytest.raises(InvalidReport) as error:
        check_place(None, "", extent=city)
    assert error.value.code == "no_place"
    check_contact("09012345678", None)
    check_contact(None, "U1234")
    with pytest.raises(InvalidReport) as error:
        check_contact(None, None)
    assert error.value.code == "no_contact"
