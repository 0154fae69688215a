"""The pure lifecycle: tables of cases, then a hypothesis state machine over random
condition sequences and staff actions checking the invariants of issue #5."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from alerts import lifecycle
from alerts.errors import AlertError, Conflict, NotAllowed
from alerts.lifecycle import Action, Transition, reconcile
from alerts.model import Alert, AlertState, Condition, Kind, MsgType, Status
from alerts.policy import ApprovalPolicy
from kawamori.model import Role
from tests.alerts.alert_factories import T0, actor, sensor, stage

POLICY = ApprovalPolicy()
OP, OP2, AP, AP2, VIEWER = (
    actor(1, Role.operator),
    actor(2, Role.operator),
    actor(3, Role.approver),
    actor(4, Role.admin),
    actor(5, Role.viewer),
)


def step(alert: Alert | None, condition: Condition | None, now=T0, status=Status.actual) -> Transition:
    t = reconcile(alert, condition, status=status, policy=POLICY, now=now)
    if t.after is not None and t.after.id is None:
        t = replace(t, after=replace(t.after, id=1))
    return t


@pytest.mark.parametrize(
    ("level", "state", "message"),
    [
        (1, AlertState.active, MsgType.alert),
        (2, AlertState.active, MsgType.alert),
        (3, AlertState.pending, None),
        (4, AlertState.pending, None),
        (5, AlertState.pending, None),
    ],
)
def test_a_new_condition_opens_an_alert(level, state, message):
    t = step(None, stage(level))
    assert (t.after.state, t.message, t.after.version) == (state, message, 1 if message else 0)
    assert t.remind == (state is AlertState.pending)
    assert [e.action for e in t.audit] == [Action.opened]


def test_staff_only_kinds_go_active_without_any_message():
    t = step(None, sensor())
    assert (t.after.state, t.message, t.after.public, t.after.version) == (AlertState.active, None, False, 0)
    assert step(t.after, None).message is None


def test_nothing_changes_when_nothing_changed():
    for condition in (stage(2), stage(4), sensor(), stage(2, stale=True)):
        t = step(None, condition)
        again = step(t.after, condition, now=T0 + timedelta(seconds=30))
        assert not again.changed and again.audit == ()
    # figures moving within the same stage do not cause writes either
    t = step(None, stage(2))
    assert not step(t.after, stage(2, level_m=7.3), now=T0 + timedelta(minutes=1)).changed
    assert not step(None, None).changed


@pytest.mark.parametrize(
    ("start", "then", "alert_level", "pending_level", "message", "action"),
    [
        (2, 1, 1, None, MsgType.update, Action.deescalated),
        (1, 2, 2, None, MsgType.update, Action.escalated),  # automatic: at once
        (2, 4, 2, 4, None, Action.escalation_requested),  # needs approval: stays at 2
        (2, 5, 2, 5, None, Action.escalation_requested),
    ],
)
def test_level_changes_of_an_active_alert(start, then, alert_level, pending_level, message, action):
    opened = step(None, stage(start)).after
    t = step(opened, stage(then), now=T0 + timedelta(minutes=1))
    assert (t.after.alert_level, t.after.pending_level, t.message) == (alert_level, pending_level, message)
    assert t.after.state is AlertState.active
    assert t.audit[-1].action is action


def test_an_automatic_escalation_is_not_held_back_by_a_pending_one():
    policy = ApprovalPolicy(approval_from_level=5)  # 3 and 4 automatic, 5 needs approval
    a = reconcile(None, stage(2), status=Status.actual, policy=policy, now=T0).after
    a = replace(a, id=1)
    a = reconcile(a, stage(5), status=Status.actual, policy=policy, now=T0).after
    assert (a.alert_level, a.pending_level) == (2, 5)
    t = reconcile(a, stage(4), status=Status.actual, policy=policy, now=T0)
    assert (t.after.alert_level, t.after.pending_level, t.message) == (4, None, MsgType.update)


def test_ending():
    active = step(None, stage(2)).after
    t = step(active, None, now=T0 + timedelta(hours=1))
    assert (t.after.state, t.message, t.after.version, t.after.ended_at) == (
        AlertState.resolved,
        MsgType.update,
        2,
        T0 + timedelta(hours=1),
    )
    pending = step(None, stage(4)).after
    t = step(pending, None)
    assert (t.after.state, t.message) == (AlertState.withdrawn, None)
    # resolved then raised again: a new alert
    assert step(t.after, stage(2)).after.opened_at == T0
    assert reconcile(t.after, stage(2), status=Status.actual, policy=POLICY, now=T0).after.id is None


def test_stale_is_marked_and_kept():
    active = step(None, stage(4)).after
    active = lifecycle.approve(active, OP, policy=POLICY, now=T0).after
    t = step(active, stage(4, stale=True))
    assert (t.after.state, t.after.stale, t.message) == (AlertState.active, True, None)
    assert [e.action for e in t.audit] == [Action.stale]
    back = step(t.after, stage(4))
    assert [e.action for e in back.audit] == [Action.fresh] and not back.after.stale


def test_pending_reminders():
    pending = step(None, stage(4)).after
    assert not step(pending, stage(4), now=T0 + timedelta(minutes=4)).changed
    t = step(pending, stage(4), now=T0 + timedelta(minutes=5))
    assert t.remind and [e.action for e in t.audit] == [Action.reminded]
    assert t.after.notified_at == T0 + timedelta(minutes=5)
    assert not lifecycle.remind(step(None, stage(2)).after, policy=POLICY, now=T0 + timedelta(days=1)).changed


def test_pending_that_falls_to_an_automatic_level_goes_out():
    pending = step(None, stage(4)).after
    t = step(pending, stage(2))
    assert (t.after.state, t.after.alert_level, t.message, t.after.version) == (
        AlertState.active,
        2,
        MsgType.alert,
        1,
    )


@pytest.mark.parametrize(
    ("action", "who", "error"),
    [
        (lifecycle.approve, VIEWER, NotAllowed),
        (lifecycle.approve, OP, NotAllowed),  # level 5 needs an approver
        (lifecycle.reject, OP, NotAllowed),
        (lifecycle.cancel, OP, NotAllowed),  # level 5 needs an approver to cancel too
        (lifecycle.cancel, VIEWER, NotAllowed),
        (lifecycle.acknowledge, VIEWER, NotAllowed),
    ],
)
def test_roles(action, who, error):
    pending = step(None, stage(5)).after
    kwargs = {} if action in (lifecycle.approve, lifecycle.acknowledge) else {"reason": "x"}
    with pytest.raises(error):
        action(pending, who, policy=POLICY, now=T0, **kwargs)


def test_staff_actions_on_ended_or_settled_alerts_conflict():
    active = step(None, stage(2)).after
    with pytest.raises(Conflict):
        lifecycle.approve(active, OP, policy=POLICY, now=T0)
    with pytest.raises(Conflict):
        lifecycle.reject(active, OP, policy=POLICY, now=T0, reason="x")
    ended = step(active, None).after
    for action in (lifecycle.cancel, lifecycle.reject):
        with pytest.raises(Conflict):
            action(ended, OP, policy=POLICY, now=T0, reason="x")


def test_cancelling_a_pending_alert_sends_nothing():
    pending = step(None, stage(4)).after
    t = lifecycle.cancel(pending, OP, policy=POLICY, now=T0, reason="wrong gauge")
    assert (t.after.state, t.message, t.after.suppressed_level) == (AlertState.cancelled, None, 4)


def test_a_rejected_escalation_is_not_asked_again_until_the_level_rises_further():
    active = step(None, stage(2)).after
    requested = step(active, stage(4)).after
    rejected = lifecycle.reject(requested, OP, policy=POLICY, now=T0, reason="local rain only").after
    assert (rejected.pending_level, rejected.suppressed_level) == (None, 4)
    assert not step(rejected, stage(4)).changed
    higher = step(rejected, stage(5)).after
    assert (higher.pending_level, higher.suppressed_level) == (5, None)
    assert step(rejected, stage(2)).after.suppressed_level is None  # back down: may ask again


# -- the state machine ------------------------------------------------------------------------------

LEVELS = st.sampled_from([None, 1, 2, 3, 4, 5])
STAFF = st.sampled_from([OP, OP2, AP, AP2, VIEWER])


class Lifecycle(RuleBasedStateMachine):
    """One station's stage alert (plus a staff-only sensor alert) driven by random
    conditions, time passing and staff actions, stored in memory like alerts.store."""

    @initialize(status=st.sampled_from(list(Status)))
    def start(self, status):
        self.status = status
        self.now = T0
        self.live: dict[str, Alert] = {}  # fingerprint -> open or suppressing alert
        self.alerts: dict[int, Alert] = {}  # every alert ever, latest version
        self.messages: dict[int, list[tuple[MsgType, Alert]]] = {}
        self.conditions: dict[str, Condition] = {}
        self.next_id = 1

    def _store(self, t: Transition) -> None:
        if not t.changed:
            return
        if t.lifted is not None:
            self.alerts[t.lifted.id] = t.lifted
            self.live.pop(t.lifted.fingerprint, None)
        if t.after is None:
            return
        after = t.after
        if after.id is None:
            after = replace(after, id=self.next_id)
            self.next_id += 1
        before = self.alerts.get(after.id)
        if t.message is not None:
            assert after.announces
            assert after.version == (before.version if before else 0) + 1
            self.messages.setdefault(after.id, []).append((t.message, after))
        else:
            assert after.version == (before.version if before else 0)
        assert t.audit, "every change is audited"
        for entry in t.audit:
            event(f"{entry.action} ({self.status})")
        self.alerts[after.id] = after
        if after.open or after.suppressed_level is not None:
            self.live[after.fingerprint] = after
        else:
            self.live.pop(after.fingerprint, None)

    def _reconcile(self) -> list[Transition]:
        out = []
        for fingerprint in {*self.live, *self.conditions}:
            condition = self.conditions.get(fingerprint)
            t = reconcile(
                self.live.get(fingerprint), condition, status=self.status, policy=POLICY, now=self.now
            )
            self._store(t)
            out.append(t)
        return out

    @rule(level=LEVELS, stale=st.booleans())
    def river(self, level, stale):
        condition = stage(level, stale=stale) if level is not None else None
        if condition is None:
            self.conditions.pop("kyoden-jumonji:stage", None)
        else:
            self.conditions[condition.fingerprint] = condition
        self._reconcile()
        # re-applying the same conditions at the same moment changes nothing
        assert not any(t.changed for t in self._reconcile())
        self._escalation_not_delayed()

    @rule(faulty=st.booleans())
    def sensor_fault(self, faulty):
        if faulty:
            self.conditions[sensor().fingerprint] = sensor()
        else:
            self.conditions.pop(sensor().fingerprint, None)
        self._reconcile()

    @rule(minutes=st.integers(1, 20))
    def time_passes(self, minutes):
        self.now += timedelta(minutes=minutes)
        for t in self._reconcile():
            # with unchanged conditions, only reminders happen
            assert {e.action for e in t.audit} <= {Action.reminded}

    def _staff(self, action, who, **kwargs):
        alert = self.live.get("kyoden-jumonji:stage")
        if alert is None:
            return
        try:
            t = action(alert, who, policy=POLICY, now=self.now, **kwargs)
        except AlertError:
            return
        self._store(t)
        if t.changed:
            assert all(e.actor_id == who.id for e in t.audit)

    @rule(who=STAFF)
    def approve(self, who):
        self._staff(lifecycle.approve, who)

    @rule(level=st.integers(3, 5), first=STAFF, second=STAFF)
    def flood_and_approval(self, level, first, second):
        self.river(level, stale=False)
        self._staff(lifecycle.approve, first)
        self._staff(lifecycle.approve, second)
        self._escalation_not_delayed()

    @rule(who=STAFF)
    def reject(self, who):
        self._staff(lifecycle.reject, who, reason="not confirmed")

    @rule(who=STAFF)
    def cancel(self, who):
        self._staff(lifecycle.cancel, who, reason="mistake")

    @rule(who=STAFF)
    def acknowledge(self, who):
        self._staff(lifecycle.acknowledge, who)

    def _escalation_not_delayed(self):
        condition = self.conditions.get("kyoden-jumonji:stage")
        alert = self.live.get("kyoden-jumonji:stage")
        if condition is None or alert is None:
            return
        if not alert.open:  # staff rejected or cancelled this level
            assert (condition.alert_level or 0) <= alert.suppressed_level
            return
        if POLICY.approved(alert.kind, condition.alert_level, alert.approvals):
            assert alert.state is AlertState.active
            assert alert.alert_level == condition.alert_level

    @invariant()
    def never_public_unless_actual(self):
        for alert in getattr(self, "alerts", {}).values():
            assert alert.public == (alert.announces and alert.status is Status.actual)
            assert not (alert.status is not Status.actual and alert.public)

    @invariant()
    def active_levels_are_approved(self):
        for alert in getattr(self, "alerts", {}).values():
            if alert.state is AlertState.active:
                assert POLICY.approved(alert.kind, alert.alert_level, alert.approvals)
            level5 = {a.user_id for a in alert.approvals if a.level >= 5}
            if alert.state is AlertState.active and alert.kind is Kind.stage and alert.alert_level == 5:
                assert len(level5) >= 2
            for approval in alert.approvals:
                approver = {a.id: a for a in (OP, OP2, AP, AP2, VIEWER)}[approval.user_id]
                assert approver.role.at_least(POLICY.role_needed(approval.level))

    @invariant()
    def one_live_alert_per_fingerprint(self):
        for fingerprint, alert in getattr(self, "live", {}).items():
            assert alert.fingerprint == fingerprint
            others = [a for a in self.alerts.values() if a.fingerprint == fingerprint and a.open]
            assert len(others) <= 1

    @invariant()
    def messages_tell_a_coherent_story(self):
        for alert_id, messages in getattr(self, "messages", {}).items():
            kinds = [m for m, _ in messages]
            assert kinds[0] is MsgType.alert and MsgType.alert not in kinds[1:]
            assert [a.version for _, a in messages] == list(range(1, len(messages) + 1))
            assert MsgType.cancel not in kinds[:-1]
            assert self.alerts[alert_id].state is not AlertState.withdrawn

    def teardown(self):
        if not hasattr(self, "alerts"):
            return
        # every condition ends: every alert that went out ends with an all-clear or a retraction
        self.conditions.clear()
        self.now += timedelta(hours=1)
        self._reconcile()
        assert not any(a.open for a in self.alerts.values())
        for alert in self.alerts.values():
            if alert.version:
                assert alert.state in (AlertState.resolved, AlertState.cancelled)
                last, final = self.messages[alert.id][-1]
                assert last is (MsgType.cancel if alert.state is AlertState.cancelled else MsgType.update)
                assert final.ended_at is not None
            else:
                assert alert.state in (AlertState.withdrawn, AlertState.cancelled) or not alert.announces


Lifecycle.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestLifecycle = Lifecycle.TestCase
