"""Judging a produced timeline against expectations (simulator/check.py), on
hand-made outcomes: no stack needed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from simulator.check import check, timeline
from simulator.runner import (
    AlertChange,
    AuditRecord,
    HealthChange,
    Ledger,
    OutboxMessage,
    Outcome,
    StaffDone,
    StageChange,
)
from simulator.scenario import StaffStep, load_scenario

FLASH = load_scenario("scenarios/flash-flood-small-river.yaml")
T0 = FLASH.time.start
STATION = "kurose-kurose"


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def outcome(expectations: list[dict], **parts) -> Outcome:
    scenario = FLASH.model_validate({**FLASH.model_dump(), "expectations": expectations})
    result = Outcome(scenario, **parts)
    if result.ledger is None:
        result.ledger = Ledger(1, 1, Counter({("kw-kurose-01", 0): 1}), (), (), ())
    return result


def alert(minutes, state, level, pending=None, public=True, kind="area") -> AlertChange:
    return AlertChange(
        at(minutes), 1, STATION, kind, "Actual", state, public, level, pending, False, ("area-kurose",)
    )


RISE = [
    StageChange(at(60), at(61), STATION, None, "observation"),
    StageChange(at(70), at(71), STATION, "observation", "danger"),  # caution skipped
    StageChange(at(140), at(141), STATION, "danger", None),
]


@pytest.mark.parametrize(
    ("expectation", "ok"),
    [
        (
            {"kind": "enters_stage", "station": STATION, "stage": "caution", "between": ["01:05", "01:15"]},
            True,
        ),
        (
            {"kind": "enters_stage", "station": STATION, "stage": "danger", "between": ["01:11", "01:20"]},
            False,
        ),
        (
            {"kind": "leaves_stage", "station": STATION, "stage": "caution", "between": ["02:15", "02:25"]},
            True,
        ),
        ({"kind": "stays_below", "station": STATION, "stage": "danger"}, False),
    ],
)
def test_stages_are_judged_on_the_confirmed_stage(expectation, ok):
    (verdict,) = check(outcome([expectation], stages=RISE))
    assert verdict.ok is ok, verdict


def test_pending_approval_is_a_pending_alert_or_an_escalation_awaiting_approval():
    wanted = {"kind": "alert", "area": "area-kurose", "level": 4, "state": "pending_approval", "by": "01:30"}
    escalation = [alert(65, "active", 2), alert(85, "active", 2, pending=4)]
    assert check(outcome([wanted], alerts=escalation))[0].ok
    late = [alert(95, "pending", 4)]
    verdict = check(outcome([wanted], alerts=late))[0]
    assert not verdict.ok and verdict.produced.startswith("01:35")
    active = {"kind": "alert", "station": STATION, "level": 2, "state": "active", "by": "01:10"}
    assert check(outcome([active], alerts=escalation))[0].ok
    assert not check(outcome([active], alerts=[alert(65, "pending", 2)]))[0].ok


def test_a_withdrawn_draft_sent_nothing_but_a_public_message_fails():
    wanted = [{"kind": "no_public_alert", "area": "area-kurose"}]
    drafts = [alert(65, "pending", 4), alert(90, "withdrawn", 4)]
    assert check(outcome(wanted, alerts=drafts))[0].ok
    sent = [OutboxMessage(at(66), 1, STATION, ("area-kurose",), "Alert", "Actual", True)]
    assert not check(outcome(wanted, alerts=drafts, outbox=sent))[0].ok


def test_a_drill_reaches_no_public_channel():
    wanted = [{"kind": "no_public_channel"}]
    drill = [alert(65, "pending", 4, public=False), alert(80, "active", 4, public=False)]
    staff = [OutboxMessage(at(80), 1, STATION, ("area-kurose",), "Alert", "Exercise", False)]
    assert check(outcome(wanted, alerts=drill, outbox=staff))[0].ok
    assert not check(outcome(wanted, alerts=[alert(65, "pending", 4)]))[0].ok  # an alert meant for residents


def test_stale_and_exactly_once():
    stale = {"kind": "stale", "station": STATION, "by": "01:00"}
    assert check(outcome([stale], health=[HealthChange(at(59), STATION, True)]))[0].ok
    assert not check(outcome([stale], health=[HealthChange(at(61), STATION, True)]))[0].ok
    twice = Ledger(2, 3, Counter({("b", 0): 2, ("b", 1): 1}), (), (), ())
    missing = Ledger(2, 2, Counter({("b", 0): 1}), (("b", 1),), (), ())
    for ledger in (twice, missing):
        assert not check(outcome([{"kind": "exactly_once"}], ledger=ledger))[0].ok


def test_the_timeline_is_in_time_order():
    events = timeline(outcome([], stages=RISE, alerts=[alert(71, "active", 2, pending=4)]))
    assert [offset for offset, _ in events] == sorted(offset for offset, _ in events)
    assert any("level 4 awaiting approval" in text for _, text in events)


def audit(minutes, action, level=None, actor=None, area="area-kurose") -> AuditRecord:
    details = {} if level is None else {"level": level}
    return AuditRecord(at(minutes), 1, area, "Actual", action, actor, details)


HANDOVER = [
    audit(30, "opened"),
    audit(30, "issued", 2),  # the written policy
    audit(40, "proposed", 4),
    audit(45, "approved", 4, "tanaka"),
    audit(45, "raised", 4, "tanaka"),
    audit(200, "lowered", 2, "tanaka"),
    audit(260, "lifted", 2),  # below level 3: the policy lifts it
]


@pytest.mark.parametrize(
    ("expectation", "ok", "produced"),
    [
        ({"kind": "issued_level", "area": "area-kurose", "never_below": 4, "between": ["00:45", "03:19"]},
         True, "4 throughout"),
        ({"kind": "issued_level", "area": "area-kurose", "never_below": 4, "between": ["00:50", "03:30"]},
         False, "2–4; 2 at 03:20 by staff (tanaka)"),
        ({"kind": "issued_level", "area": "area-kurose", "never_above": 2, "between": ["00:00", "00:44"]},
         True, "0–2"),
        ({"kind": "issued_level", "area": "area-kurose", "never_above": 0, "between": ["04:20", "05:00"]},
         True, "0 throughout"),
        ({"kind": "issued", "area": "area-kurose", "level": 4, "by": "00:45", "decided": "staff"},
         True, "00:45, by staff (tanaka)"),
        ({"kind": "issued", "area": "area-kurose", "level": 2, "by": "01:00", "decided": "staff"},
         False, "00:30, by policy"),
        ({"kind": "issued", "area": "area-kurose", "level": 0, "by": "05:00", "decided": "policy"},
         True, "04:20, by policy"),
        ({"kind": "issued", "area": "area-kurose", "level": 5, "by": "05:00"}, False, "never"),
    ],
)  # fmt: skip
def test_issued_levels_are_read_from_the_audit_trail(expectation, ok, produced):
    [verdict] = check(outcome([expectation], audit=HANDOVER))
    assert (verdict.ok, verdict.produced) == (ok, produced)


def test_a_staff_step_that_could_not_be_done_fails_with_the_reason():
    step = StaffStep(at=timedelta(hours=1), action="approve", area="area-kurose", proposal="lift")
    done = StaffStep(at=timedelta(minutes=40), action="approve", area="area-kurose")
    verdicts = check(
        outcome(
            [],
            staff=[
                StaffDone(done, at(41), 1, "approved by duty-officer: active, level 4"),
                StaffDone(step, None, None, "the open proposal is lower to 2"),
            ],
        )
    )
    assert [(v.ok, v.expected, v.produced) for v in verdicts] == [
        (True, "from 00:40", "00:41: approved by duty-officer: active, level 4"),
        (False, "from 01:00", "the open proposal is lower to 2"),
    ]
    assert verdicts[1].what == "staff: duty-officer approves area-kurose (lift)"
