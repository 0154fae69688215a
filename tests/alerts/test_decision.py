"""Area decisions (alerts.decision): one issued level per area that only a person or
the written policy changes, and one proposal per area that follows the evidence."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from alerts import decision
from alerts.errors import Conflict, NotAllowed
from alerts.lifecycle import Action
from alerts.model import Alert, AlertState, Condition, Kind, MsgType, Proposal, Status
from alerts.policy import ApprovalPolicy
from kawamori.model import Role
from tests.alerts.alert_factories import STAGES, T0, actor, sensor, stage

POLICY = ApprovalPolicy()
AREA = "area-fujishima"
OP, OP2, APPROVER, APPROVER2 = (
    actor(1, Role.operator),
    actor(2, Role.operator),
    actor(3, Role.approver),
    actor(4, Role.approver),
)


def forecast(level: int, station: str = "fujishima-tomizawa", **details) -> Condition:
    return Condition(
        station_id=station,
        kind=Kind.forecast,
        alert_level=level,
        stage_key=STAGES[level],
        details={"eta": "2026-07-01T05:00:00+00:00", "hours": 1.5, "level_m": 14.2, **details},
    )


def unverified(level: int, *, plausible: bool, station: str = "fujishima-tomizawa") -> Condition:
    return Condition(
        station_id=station,
        kind=Kind.unverified,
        alert_level=level,
        stage_key=STAGES[level],
        details={"reason": "lone", "plausible": plausible, "level_m": 15.0},
    )


def offline(station: str = "fujishima-tomizawa", **details) -> Condition:
    return Condition(station_id=station, kind=Kind.offline, details={"critical": True, **details})


def obs(level: int, station: str = "fujishima-tomizawa", **kw) -> Condition:
    return stage(level, station, **kw)


class Area:
    """One area driven through decide/approve/decline, keeping what a store would."""

    def __init__(self, status: Status = Status.actual, policy: ApprovalPolicy = POLICY) -> None:
        self.alert: Alert | None = None
        self.status, self.policy = status, policy
        self.now = T0
        self.messages: list[tuple[int, MsgType, int | None, AlertState]] = []
        self.by_alert: dict[int, list[tuple[MsgType, AlertState, bool]]] = {}
        self.closed: set[int] = set()
        self.actions: list[Action] = []
        self.next_id = 1

    def _take(self, t):
        after = t.after if t.after is not None else (t.lifted if t.lifted is not None else self.alert)
        if after is not None and after.id is None:
            after = replace(after, id=self.next_id)
            self.next_id += 1
        self.actions += [e.action for e in t.audit]
        if t.message is not None:
            self.messages.append((after.version, t.message, after.alert_level, after.state))
            self.by_alert.setdefault(after.id, []).append((t.message, after.state, after.public))
        if after is not None and not after.open:
            self.closed.add(after.id)
        if t.lifted is not None and t.after is None:
            after = t.lifted
        self.alert = after
        return t

    @property
    def live(self) -> Alert | None:
        a = self.alert
        return a if a is not None and (a.open or a.declined) else None

    def see(self, *conditions: Condition, minutes: float = 1):
        self.now += timedelta(minutes=minutes)
        a = self.alert
        last_down = a.ended_at if a is not None and a.state is AlertState.resolved else None
        return self._take(
            decision.decide(
                self.live,
                conditions,
                area_id=AREA,
                status=self.status,
                policy=self.policy,
                now=self.now,
                last_down=last_down,
            )
        )

    def approve(self, who=OP, revision=None):
        return self._take(
            decision.approve(self.alert, who, policy=self.policy, now=self.now, revision=revision)
        )

    def decline(self, who=OP, reason="checked on site"):
        return self._take(decision.decline(self.alert, who, policy=self.policy, now=self.now, reason=reason))

    @property
    def issued(self) -> int:
        a = self.alert
        return (a.alert_level or 0) if a is not None and a.state is AlertState.active else 0


# -- the hand-over that went wrong in the demo ------------------------------------------------------


def test_an_approved_forecast_stays_issued_when_the_river_crosses_danger():
    area = Area()
    area.see(forecast(4))
    assert area.alert.state is AlertState.pending and area.alert.proposal is Proposal.raise_
    assert area.alert.proposal_reason == "forecast"
    area.approve()
    assert area.issued == 4 and area.messages[-1][1] is MsgType.alert
    for condition in ([obs(2), forecast(4)], [obs(4)], [obs(4), forecast(5)], [obs(4)]):
        area.see(*condition)
        assert area.issued == 4
    assert area.alert.proposal is None  # the level-5 forecast came and went: proposed, withdrawn
    assert area.actions[-2:] == [Action.proposed, Action.proposal_withdrawn]
    # one Alert message only: nothing public changed
    assert [m[1] for m in area.messages] == [MsgType.alert]


def test_level_4_is_never_lowered_by_the_engine():
    area = Area()
    area.see(obs(4))
    area.approve()
    area.see(obs(2))
    assert area.issued == 4
    assert (area.alert.proposal, area.alert.pending_level) == (Proposal.lower, 2)
    area.see()  # the water has gone: the proposal becomes a lift, still not done
    assert area.issued == 4 and area.alert.proposal is Proposal.lift
    area.approve()
    assert area.alert.state is AlertState.resolved
    assert area.messages[-1][1:] == (MsgType.update, 4, AlertState.resolved)


def test_level_2_information_goes_out_and_ends_by_policy():
    area = Area()
    area.see(obs(2))
    assert area.issued == 2 and area.actions == [Action.opened, Action.issued]
    went_up = area.now
    area.see()  # the evidence went at once: the level stays 6 h after it went up
    assert decision.lower_due(area.alert) == went_up + POLICY.flap_hold
    area.see(minutes=6 * 60 - 2)
    assert area.issued == 2 and Action.lifted not in area.actions
    area.see(minutes=1)
    assert area.alert.state is AlertState.resolved and Action.lifted in area.actions
    assert [m[1] for m in area.messages] == [MsgType.alert, MsgType.update]


def test_a_level_the_policy_issued_changes_at_most_once_within_the_flap_hold():
    """A forecast that comes and goes over a plateau: up, down and up again within a
    few hours is two reversals in one window. The policy's own levels stay at least
    the flap hold after they went up; staff's levels are theirs to lower (proposed)."""
    area = Area()
    area.see(forecast(2, hold_s=3600))
    up = area.now
    area.see(minutes=10)
    area.see(minutes=4 * 60)  # the stations' dwell is long over, the flap hold is not
    assert area.issued == 2
    area.see(minutes=6 * 60 - 4 * 60 - 11)
    assert area.issued == 2 and area.now == up + timedelta(hours=6) - timedelta(minutes=1)
    area.see(minutes=1)
    assert area.alert.state is AlertState.resolved
    free = Area(policy=POLICY.model_copy(update={"flap_hold": timedelta(0)}))
    free.see(forecast(2, hold_s=3600))
    free.see(minutes=10)
    free.see(minutes=60)
    assert free.alert.state is AlertState.resolved  # a municipality may turn it off


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 2]),  # the observed level (the policy's own levels)
            st.sampled_from([0, 1, 2]),  # the forecast level
            st.sampled_from([0, 60, 1800, 3 * 3600]),  # the forecasting station's dwell
            st.sampled_from([1, 10, 60, 4 * 60, 6 * 60]),
        ),
        max_size=30,
    )
)
def test_the_policy_never_lowers_its_own_level_within_the_flap_hold_of_raising_it(steps):
    area = Area()
    changes = []  # (time, level) of every public change
    for observed, predicted, hold_s, minutes in steps:
        conditions = [obs(observed)] if observed else []
        if predicted:
            conditions.append(forecast(predicted, "fujishima-fujikawa", hold_s=hold_s))
        before = area.issued
        area.see(*conditions, minutes=minutes)
        if area.issued != before:
            changes.append((area.now, area.issued))
    up = None
    previous = 0
    for when, level in changes:
        if level > previous:
            up = when
        else:
            assert when - up >= POLICY.flap_hold, changes
        previous = level


def test_a_level_comes_down_only_after_its_evidence_stayed_below_for_the_hold():
    """A gauge hovering at a threshold, or a forecast that comes and goes, must not
    issue, lift and issue again: the hold is the longest dwell of the stations behind
    the level (3 readings of an hourly gauge), counted from when the evidence fell."""
    area = Area(policy=POLICY.model_copy(update={"flap_hold": timedelta(0)}))  # the dwell alone
    area.see(forecast(2, hold_s=3 * 3600))
    assert area.issued == 2
    area.see(minutes=60)  # the forecast went: the level stays, and says since when
    fell = area.now
    assert area.issued == 2 and area.alert.details["below_since"] == fell.isoformat()
    assert area.alert.details["hold_s"] == 3 * 3600  # remembered: no condition carries it now
    assert decision.lower_due(area.alert) == fell + timedelta(hours=3)
    area.see(forecast(2, hold_s=3 * 3600), minutes=60)  # back within the hold: nothing changed
    assert area.issued == 2 and "below_since" not in area.alert.details
    assert [m[1] for m in area.messages] == [MsgType.alert]
    area.see(minutes=60)
    area.see(minutes=179)
    assert area.issued == 2 and area.alert.proposal is None
    area.see(minutes=1)  # three hours below
    assert area.alert.state is AlertState.resolved
    assert [m[1] for m in area.messages] == [MsgType.alert, MsgType.update]


def test_the_hold_delays_a_lowering_proposal_but_never_lost_evidence():
    area = Area()
    area.see(forecast(4, hold_s=1800))
    area.approve()
    area.see(obs(2), minutes=10)  # the forecast went: level 2 is what the water shows
    assert area.issued == 4 and area.alert.proposal is None  # not yet asked to lower
    area.see(obs(2), minutes=29)
    assert area.alert.proposal is None
    area.see(obs(2), minutes=1)
    assert (area.alert.proposal, area.alert.pending_level) == (Proposal.lower, 2)
    area.see(obs(2), minutes=5)  # still below: the proposal stays as it is
    assert area.alert.proposal is Proposal.lower and "below_since" in area.alert.details
    area.approve()
    assert area.issued == 2 and "below_since" not in area.alert.details
    # a confirmed stage has its hysteresis in the evaluator already: no second hold
    observed = Area()
    observed.see(obs(4))
    observed.approve()
    observed.see(obs(2))
    assert observed.alert.proposal is Proposal.lower


def test_a_slower_gauge_at_a_lower_level_does_not_move_a_lowering_already_due():
    area = Area()
    area.see(forecast(4, hold_s=600))
    area.approve()
    area.see(obs(2))
    area.see(obs(2), minutes=10)
    assert area.alert.proposal is Proposal.lower
    revision = area.alert.revision
    area.see(obs(2), forecast(1, "b", hold_s=3 * 3600))  # an hourly gauge forecasting level 1
    assert area.alert.proposal is Proposal.lower and area.alert.revision == revision


def test_lost_evidence_keeps_asking_until_the_gauge_reads_sound_or_staff_decide():
    area = Area()
    area.see(forecast(4, hold_s=3 * 3600))
    area.approve()
    for _ in range(3):  # stuck: the evaluator gives only the sensor condition
        area.see(sensor("fujishima-tomizawa"), minutes=1)
        assert (area.alert.proposal, area.alert.proposal_reason) == (Proposal.verify, "sensor_fault")
    assert area.issued == 4


def test_a_held_level_ended_by_staff_keeps_no_hold():
    area = Area()
    area.see(forecast(4, hold_s=600))
    area.approve()
    area.see(obs(2), minutes=1)
    assert "lower_at" in area.alert.details
    area.see(obs(2), minutes=10)
    area.decline(APPROVER)  # staff keep level 4: no "may come down from" a past time
    area.see(obs(2), minutes=20)
    assert area.issued == 4 and "lower_at" not in area.alert.details
    cancelled = Area()
    cancelled.see(forecast(4, hold_s=600))
    cancelled.approve()
    cancelled.see(obs(2), minutes=1)
    cancel = decision.cancel(cancelled.alert, APPROVER, policy=POLICY, now=cancelled.now, reason="誤報")
    cancelled._take(cancel)
    assert cancelled.alert.state is AlertState.cancelled and "lower_at" not in cancelled.alert.details


def test_a_level_back_soon_after_it_came_down_is_held_for_the_flap_hold():
    """A river hovering around a threshold for hours: the first lift comes 6 h after
    the level went up, but a level issued again within the policy's flap hold (6 h) of
    coming down is held that long below — one reversal, not one every hour."""
    area = Area()
    area.see(forecast(2, hold_s=3600))
    area.see(minutes=10)
    area.see(minutes=6 * 60 - 10)
    assert area.alert.state is AlertState.resolved  # the first time: 6 h after it went up
    lifted_at = area.now
    area.see(forecast(2, hold_s=3600), minutes=60)  # back an hour later: a new issuance
    assert area.issued == 2 and area.alert.details["came_down_at"] == lifted_at.isoformat()
    area.see(minutes=10)
    fell = area.now
    assert decision.lower_due(area.alert) == fell + timedelta(hours=6)
    area.see(minutes=6 * 60 - 1)
    assert area.issued == 2
    area.see(minutes=1)
    assert area.alert.state is AlertState.resolved
    # a level that comes back after the flap hold is held only until 6 h after it went up
    area.see(forecast(2, hold_s=3600), minutes=6 * 60 + 1)
    area.see(minutes=1)
    area.see(minutes=6 * 60 - 2)
    assert area.issued == 2
    area.see(minutes=1)
    assert area.alert.state is AlertState.resolved
    # the same within one issuance: a level lowered and raised again is held longer
    area = Area()
    area.see(obs(2), obs(1, "b"))
    area.see(obs(1, "b"), minutes=10)
    area.see(obs(1, "b"), minutes=6 * 60 - 11)
    assert area.issued == 2  # a confirmed stage left, but the level went up under 6 h ago
    area.see(obs(1, "b"), minutes=1)
    assert area.issued == 1
    area.see(obs(2), obs(1, "b"), minutes=30)
    assert area.issued == 2
    area.see(obs(1, "b"), minutes=10)
    area.see(obs(1, "b"), minutes=6 * 60 - 1)
    assert area.issued == 2  # held 6 h below: it came back 30 min after coming down
    area.see(obs(1, "b"), minutes=1)
    assert area.issued == 1


def test_one_proposal_per_area_updated_in_place():
    area = Area()
    area.see(obs(2, "a"), forecast(4, "b"), forecast(3, "c"))
    alert = area.alert
    assert area.issued == 2 and (alert.proposal, alert.pending_level) == (Proposal.raise_, 4)
    rev = alert.revision
    area.see(obs(2, "a"), forecast(4, "b", eta="2026-07-01T04:40:00+00:00"), forecast(3, "c"))
    assert area.alert.revision == rev  # same proposal: no new request, live figures
    assert area.alert.details["evidence"][0]["eta"] == "2026-07-01T04:40:00+00:00"
    area.see(obs(2, "a"), obs(4, "b"))
    assert area.alert.revision == rev and area.alert.proposal_reason == "observed"
    area.see(obs(2, "a"), obs(5, "b"))
    assert area.alert.revision == rev + 1 and area.alert.pending_level == 5


def test_a_proposal_whose_evidence_goes_away_is_withdrawn():
    area = Area()
    area.see(forecast(4))
    area.see()
    assert area.alert.state is AlertState.withdrawn and area.messages == []
    area = Area()
    area.see(obs(2), forecast(4))
    area.see(obs(2))
    assert area.alert.proposal is None and area.actions[-1] is Action.proposal_withdrawn
    assert area.issued == 2


def test_a_stale_browser_cannot_approve_a_changed_proposal():
    area = Area()
    area.see(forecast(3))
    seen = area.alert.revision
    area.see(forecast(4))
    with pytest.raises(Conflict, match="changed since you saw it"):
        area.approve(revision=seen)
    area.approve(revision=area.alert.revision)
    assert area.issued == 4


def test_approving_a_withdrawn_proposal_is_a_conflict():
    area = Area()
    area.see(forecast(4))
    stale = area.alert
    area.see()
    with pytest.raises(Conflict, match="no open proposal"):
        decision.approve(area.alert, OP, policy=POLICY, now=area.now)
    assert stale.proposal is Proposal.raise_


def test_level_5_needs_two_different_approvers():
    area = Area()
    area.see(obs(5))
    with pytest.raises(NotAllowed, match="approver"):
        area.approve(OP)
    area.approve(APPROVER)
    assert area.issued == 0 and area.alert.state is AlertState.pending
    with pytest.raises(NotAllowed, match="already approved"):
        area.approve(APPROVER)
    area.approve(APPROVER2)
    assert area.issued == 5


def test_evidence_lost_asks_staff_to_verify():
    area = Area()
    area.see(obs(4))
    area.approve()
    area.see(obs(4), sensor("fujishima-tomizawa"))  # a stage confirmed from sound readings counts
    assert area.alert.proposal is None and area.alert.details["evidence"][0]["suspect"]
    area.see(sensor("fujishima-tomizawa"))  # the fault took the stage away
    assert area.issued == 4
    assert (area.alert.proposal, area.alert.proposal_reason) == (Proposal.verify, "sensor_fault")
    assert area.alert.stale
    area.see(obs(4, stale=True), offline(no_data=True))
    assert area.alert.proposal_reason == "no_data" and area.issued == 4
    area.decline(reason="the river is still high on the camera")
    assert area.issued == 4 and area.alert.proposal is None
    area.see(obs(4, stale=True), offline(no_data=True))
    assert area.alert.proposal is None  # declined: not asked again for the same thing
    area.see(obs(4))
    area.see(offline(no_data=True))
    assert area.alert.proposal is Proposal.verify
    area.approve()
    assert area.alert.state is AlertState.resolved


def test_a_proposal_whose_gauge_falls_silent_is_kept_not_dropped():
    area = Area()
    area.see(obs(4))
    area.see(obs(4, stale=True), offline(no_data=True))
    assert area.alert.state is AlertState.pending and area.alert.pending_level == 4
    assert area.alert.proposal_reason == "no_data" and area.alert.stale


def test_an_offline_gauge_at_normal_water_is_not_lost_evidence():
    area = Area()
    area.see(obs(4, "a"))
    area.approve()
    area.see(obs(4, "a"), Condition(station_id="b", kind=Kind.offline, details={"critical": False}))
    assert area.alert.proposal is None


def test_a_plausible_single_reading_is_proposed_never_issued():
    area = Area()
    area.see(unverified(4, plausible=True))
    assert (area.alert.proposal, area.alert.pending_level, area.alert.proposal_reason) == (
        Proposal.raise_,
        4,
        "unverified",
    )
    area.see()  # the next reading takes it back
    assert area.alert.state is AlertState.withdrawn and area.messages == []
    area = Area()
    area.see(unverified(4, plausible=False))
    assert area.alert is None
    area = Area(policy=ApprovalPolicy(approval_from_level=6))  # even when nothing needs approval
    area.see(unverified(4, plausible=True))
    assert area.issued == 0 and area.alert.proposal is Proposal.raise_


def test_a_single_reading_at_an_information_level_waits_for_confirmation():
    # approved at once, the policy lifted it at the next reading: 478 reversals in the
    # replay of the shared data (bench/README.md "Replay")
    area = Area()
    area.see(unverified(2, plausible=True))
    assert area.alert is None
    area.see(obs(2))
    assert area.issued == 2


def test_a_single_reading_taken_back_by_a_forecast_is_a_new_proposal():
    area = Area()
    area.see(unverified(4, plausible=True))
    seen = area.alert.revision
    area.see(forecast(4))  # the reading fell back below; the trend still projects danger
    assert area.alert.proposal is Proposal.raise_ and area.alert.proposal_reason == "forecast"
    assert area.alert.revision > seen  # an approval of the single reading does not carry over


def test_a_level_issued_on_an_unconfirmed_reading_stands_while_the_reading_does():
    area = Area()
    area.see(unverified(4, plausible=True))
    area.approve()
    assert area.issued == 4
    area.see(unverified(4, plausible=True))
    assert area.alert.proposal is None  # not asked to lift what was just issued
    area.see(obs(4))
    assert area.alert.proposal is None
    area.see()  # taken back: lifting is proposed, never done by itself
    assert area.issued == 4 and area.alert.proposal is Proposal.lift


def test_declined_raise_is_not_asked_again_until_higher():
    area = Area()
    area.see(obs(4))
    area.decline(reason="gauge under repair")
    assert area.alert.state is AlertState.withdrawn
    area.see(obs(4))
    assert area.alert.state is AlertState.withdrawn
    area.see(obs(5))
    assert area.alert.state is AlertState.pending and area.alert.pending_level == 5


def test_drills_are_never_public():
    area = Area(status=Status.exercise)
    area.see(obs(4))
    area.approve()
    assert area.issued == 4 and not area.alert.public
    assert area.alert.fingerprint == f"area:{AREA}:Exercise"


def test_cancel_retracts_and_suppresses():
    area = Area()
    area.see(obs(4))
    area.approve()
    t = area._take(decision.cancel(area.alert, OP, policy=POLICY, now=area.now, reason="wrong gauge"))
    assert t.message is MsgType.cancel and area.alert.state is AlertState.cancelled
    area.see(obs(4))
    assert area.alert.state is AlertState.cancelled


def test_the_policy_can_only_be_made_stricter_about_lowering():
    with pytest.raises(ValueError):
        ApprovalPolicy(staff_lowers_from=4)
    area = Area(policy=ApprovalPolicy(staff_lowers_from=2))
    area.see(obs(2))
    area.see()
    assert area.issued == 2 and area.alert.proposal is Proposal.lift


# -- properties -------------------------------------------------------------------------------------

LEVELS = st.sampled_from([0, 2, 3, 4, 5])


def _conditions(observed: int, predicted: int, fault: bool, silent: bool, single: int, plausible: bool):
    out = []
    if observed:
        out.append(obs(observed, "a", stale=silent))
    if predicted:
        out.append(forecast(predicted, "a"))
    if fault:
        out.append(sensor("a"))
    if silent:
        out.append(offline("a", no_data=True))
    if single:
        out.append(unverified(single, plausible=plausible, station="b"))
    return out


class AreaMachine(RuleBasedStateMachine):
    """Random evidence and staff actions: an issued level ≥ 3 never drops without a
    staff action; every public issuance ends with an all-clear or a cancel; drills
    are never public; one proposal at a time, with a level."""

    def __init__(self) -> None:
        super().__init__()
        self.area = Area()
        self.drill = Area(status=Status.exercise)

    @rule(
        observed=LEVELS,
        predicted=LEVELS,
        fault=st.booleans(),
        silent=st.booleans(),
        single=LEVELS,
        plausible=st.booleans(),
        minutes=st.sampled_from([1, 10, 60]),
    )
    def evidence(self, observed, predicted, fault, silent, single, plausible, minutes):
        conditions = _conditions(observed, predicted, fault, silent, single, plausible)
        for area in (self.area, self.drill):
            level = area.issued
            area.see(*conditions, minutes=minutes)
            if level >= 3:
                assert area.issued >= level, "the engine lowered an evacuation level by itself"

    @precondition(lambda self: self.area.alert is not None and self.area.alert.proposal is not None)
    @rule(who=st.sampled_from([OP, OP2, APPROVER, APPROVER2]))
    def approve(self, who):
        with contextlib.suppress(NotAllowed):
            self.area.approve(who, revision=self.area.alert.revision)

    @precondition(lambda self: self.area.alert is not None and self.area.alert.proposal is not None)
    @rule()
    def decline(self):
        self.area.decline(APPROVER)

    @invariant()
    def drills_never_public(self):
        assert not any(public for sent in self.drill.by_alert.values() for _, _, public in sent)

    @invariant()
    def one_proposal_with_a_level(self):
        a = self.area.alert
        if a is not None and a.open:
            assert (a.proposal is None) == (a.pending_level is None)
            assert a.state is AlertState.active or a.proposal is not None

    @invariant()
    def every_public_issuance_ends_with_all_clear_or_cancel(self):
        for area in (self.area, self.drill):
            for alert_id in area.closed:
                sent = area.by_alert.get(alert_id)
                if sent:
                    msg_type, state, _ = sent[-1]
                    assert msg_type is MsgType.cancel or state is AlertState.resolved


TestAreaMachine = AreaMachine.TestCase
TestAreaMachine.settings = hsettings(max_examples=200, stateful_step_count=30, deadline=None)


def test_an_issuance_lives_from_its_first_level_to_its_lift():
    area = Area()
    steps = ([obs(2)], [obs(4)], "approve", [obs(2)], "approve", [], "6 h", [obs(4)], "approve", [])
    for step in steps:
        if step == "approve":
            area.approve(APPROVER)
        elif step == "6 h":
            area.see(minutes=6 * 60)  # the level 2 staff left comes down 6 h after it went up
        else:
            area.see(*step)
    # the level came back a minute after it came down: the lift waits for the flap hold
    assert area.alert.proposal is None
    area.see(minutes=6 * 60)
    area.approve(APPROVER)
    # the first issuance: 2 by policy, 4 and back to 2 by staff, lifted by policy below 3;
    # the second: 4 by staff, lifted by staff
    assert area.alert.state is AlertState.resolved and area.alert.id == 2
    assert [(m[1], m[2], m[3]) for m in area.messages] == [
        (MsgType.alert, 2, AlertState.active),
        (MsgType.update, 4, AlertState.active),
        (MsgType.update, 2, AlertState.active),
        (MsgType.update, 2, AlertState.resolved),
        (MsgType.alert, 4, AlertState.active),
        (MsgType.update, 4, AlertState.resolved),
    ]
