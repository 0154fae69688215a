"""The alert lifecycle of staff notices (unverified, sensor, offline) as pure decisions:
no I/O, ``now`` passed in. What residents are told is decided per area by
:mod:`alerts.decision`, which shares this module's transitions and audit entries.

:func:`reconcile` turns what is stored about a fingerprint (its open alert, or the
closed alert that staff rejected or cancelled and that still suppresses it) and what
is true now (a :class:`Condition`, or ``None``) into a :class:`Transition`. The staff
actions :func:`approve`, :func:`reject`, :func:`cancel` and :func:`acknowledge` do the
same for a person's decision, raising :mod:`alerts.errors` when role, policy or state
forbid it. :mod:`alerts.store` writes transitions; nothing here touches a database.

States::

    (condition) ──► pending ──approve──► active ──condition gone──► resolved (all-clear)
                      │  └─reject / condition gone──► withdrawn (nothing public)
                      └─────────cancel──────────────► cancelled
    active ──level rises, automatic──► active (Update)
    active ──level rises, needs approval──► active + pending_level ──approve──► active (Update)
    active ──level falls──► active (Update);  active ──cancel──► cancelled (Cancel)

Rules that keep it calm and safe:

* re-applying an identical condition changes nothing (no flapping); the figures in
  ``details`` are refreshed only together with a meaningful change;
* an escalation that needs no approval goes out at once, even while another one
  waits; a de-escalation never needs approval;
* an Exercise or Test alert follows the same lifecycle, but is never ``public``;
* a rejected or cancelled alert does not come back for the same condition: it comes
  back only after the condition ended, or at a higher level.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from alerts.audit_texts import say
from alerts.errors import Conflict, NotAllowed
from alerts.model import Alert, AlertState, Approval, Condition, MsgType, Status
from alerts.policy import ApprovalPolicy
from kawamori.model import Actor, Role


class Action(StrEnum):
    """What an audit entry records."""

    opened = "opened"  # a new alert: pending or straight to active
    activated = "activated"  # a pending alert went public (approved, or no longer needing approval)
    changed = "changed"  # level or stage changed while pending, or stage at the same level
    escalation_requested = "escalation_requested"
    escalated = "escalated"
    escalation_withdrawn = "escalation_withdrawn"  # the level fell back before approval
    deescalated = "deescalated"
    stale = "stale"  # the station went offline: the alert is kept, marked stale
    fresh = "fresh"  # the station is back
    resolved = "resolved"
    superseded = "superseded"  # (history) merged into its area's issuance by migration 0010
    withdrawn = "withdrawn"
    approved = "approved"
    rejected = "rejected"
    cancelled = "cancelled"
    acknowledged = "acknowledged"
    reminded = "reminded"
    unsuppressed = "unsuppressed"  # a rejected/cancelled condition ended or rose above
    # area decisions (alerts.decision)
    proposed = "proposed"  # the engine proposes a level (raise, lower, lift, verify) to staff
    proposal_changed = "proposal_changed"  # the proposal's level or kind changed: asked again
    proposal_withdrawn = "proposal_withdrawn"  # its evidence went away before anyone acted
    issued = "issued"  # a level went public for the first time in this issuance
    raised = "raised"
    lowered = "lowered"
    lifted = "lifted"  # 解除: the issuance ended with an all-clear
    declined = "declined"  # staff said no to a proposal (kept the level as it is)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    action: Action
    from_state: AlertState | None
    to_state: AlertState
    reason: str = ""
    actor_id: int | None = None  # None: the evaluator
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of one decision about one fingerprint.

    ``after`` is the alert to store (``id`` None: insert a new one); ``audit`` is
    logged against it; ``message`` is the outbox message of ``after.version`` (only for
    alerts that announce); ``approval`` is a new approval to record; ``remind``: staff
    should be (re)notified that an approval is awaited; ``lifted``: the suppressing
    closed alert with its suppression cleared (logged as ``unsuppressed``)."""

    before: Alert | None
    after: Alert | None
    audit: tuple[AuditEntry, ...] = ()
    message: MsgType | None = None
    note: str = ""
    approval: Approval | None = None
    remind: bool = False
    lifted: Alert | None = None

    @property
    def changed(self) -> bool:
        return self.lifted is not None or (self.after is not None and self.after != self.before)


def _lvl(level: int | None) -> int:
    return level or 0


def _message(alert: Alert, msg_type: MsgType) -> tuple[Alert, MsgType | None]:
    """Count a message in the alert's version, if its kind announces."""
    if not alert.announces:
        return alert, None
    return replace(alert, version=alert.version + 1), msg_type


def reminder_due(alert: Alert, *, policy: ApprovalPolicy, now: datetime) -> bool:
    if alert.awaiting_level is None:
        return False
    return alert.notified_at is None or now - alert.notified_at >= policy.remind_every


def remind(alert: Alert, *, policy: ApprovalPolicy, now: datetime) -> Transition:
    """Re-notify staff of an approval still awaited, if one is due."""
    if not reminder_due(alert, policy=policy, now=now):
        return Transition(alert, alert)
    after = replace(alert, notified_at=now)
    entry = AuditEntry(
        Action.reminded,
        alert.state,
        alert.state,
        f"level {alert.awaiting_level} still awaits approval",
        details={"level": alert.awaiting_level, **say("reminded", level=alert.awaiting_level)[1]},
    )
    return Transition(alert, after, (entry,), remind=True)


def reconcile(
    alert: Alert | None,
    condition: Condition | None,
    *,
    status: Status,
    policy: ApprovalPolicy,
    now: datetime,
) -> Transition:
    """Bring one fingerprint's alert in line with what is true now.

    ``alert`` is its open alert, or a closed one that still suppresses it, or ``None``;
    ``status`` is the station's (Actual, or Exercise/Test during a drill) and applies to
    a new alert only."""
    if alert is not None and condition is not None and alert.fingerprint != condition.fingerprint:
        raise ValueError(f"{condition.fingerprint} does not belong to alert {alert.fingerprint}")
    if alert is not None and not alert.open:
        return _suppressed(alert, condition, status=status, policy=policy, now=now)
    if alert is None:
        if condition is None:
            return Transition(None, None)
        return _open(condition, status=status, policy=policy, now=now)
    if condition is None:
        return _end(alert, now)
    if alert.state is AlertState.pending:
        return _pending(alert, condition, policy=policy, now=now)
    return _active(alert, condition, policy=policy, now=now)


def _suppressed(
    alert: Alert, condition: Condition | None, *, status: Status, policy: ApprovalPolicy, now: datetime
) -> Transition:
    if alert.suppressed_level is None:  # an ordinary closed alert: forget it
        return reconcile(None, condition, status=status, policy=policy, now=now)
    if condition is not None and _lvl(condition.alert_level) <= alert.suppressed_level:
        return Transition(alert, alert)  # staff said no to this; do not ask again
    lifted = replace(alert, suppressed_level=None)
    opened = reconcile(None, condition, status=status, policy=policy, now=now)
    return replace(opened, before=alert, lifted=lifted)


def _open(condition: Condition, *, status: Status, policy: ApprovalPolicy, now: datetime) -> Transition:
    level = condition.alert_level
    alert = Alert(
        id=None,
        fingerprint=condition.fingerprint,
        station_id=condition.station_id,
        kind=condition.kind,
        status=status,
        state=AlertState.active,
        public=condition.public and status is Status.actual,
        alert_level=level,
        stage_key=condition.stage_key,
        opened_at=now,
        updated_at=now,
        stale=condition.stale,
        details=dict(condition.details),
    )
    facts = {"level": level, "stage": condition.stage_key, "status": str(status), "stale": condition.stale}
    if policy.approved(alert.kind, level, ()):
        alert, message = _message(alert, MsgType.alert)
        entry = AuditEntry(
            Action.opened,
            None,
            AlertState.active,
            _auto(alert, level),
            details={**facts, **_auto_code(alert, level)},
        )
        return Transition(None, alert, (entry,), message)
    alert = replace(alert, state=AlertState.pending, notified_at=now)
    details = {**facts, **_needs_code(policy, alert)}
    entry = AuditEntry(Action.opened, None, AlertState.pending, _needs(policy, alert), details=details)
    return Transition(None, alert, (entry,), remind=True)


def _auto(alert: Alert, level: int | None) -> str:
    if not alert.announces:
        return "for staff only: no approval needed"
    return "no approval needed" if level is None else f"level {level} goes out without approval"


def _auto_code(alert: Alert, level: int | None) -> dict[str, Any]:
    if not alert.announces:
        return say("staff_only")[1]
    return say("no_approval_needed")[1] if level is None else say("auto_level", level=level)[1]


def _needs_code(policy: ApprovalPolicy, alert: Alert) -> dict[str, Any]:
    level = alert.awaiting_level
    needed = policy.approvals_needed(alert.kind, level)
    return say("needs_approval", level=level, needed=needed, role=str(policy.role_needed(level)))[1]


def _needs(policy: ApprovalPolicy, alert: Alert) -> str:
    level = alert.awaiting_level
    n = policy.approvals_needed(alert.kind, level)
    who = policy.role_needed(level)
    people = "one person" if n == 1 else f"{n} different people"
    return f"level {level} needs approval by {people} with role {who} or above"


def _closed(alert: Alert, state: AlertState, now: datetime, **changes: Any) -> Alert:
    """The alert ended in ``state``: nothing awaits approval or is suppressed any more
    (unless ``changes`` say otherwise)."""
    ended = {"pending_level": None, "pending_stage": None, "suppressed_level": None, **changes}
    return replace(alert, state=state, ended_at=now, updated_at=now, **ended)


def _end(alert: Alert, now: datetime) -> Transition:
    if alert.state is AlertState.pending:
        after = _closed(alert, AlertState.withdrawn, now)
        reason = "the condition ended before approval; nothing was public"
        entry = AuditEntry(
            Action.withdrawn, alert.state, after.state, reason, details=say("ended_before_approval")[1]
        )
        return Transition(alert, after, (entry,))
    after, message = _message(_closed(alert, AlertState.resolved, now), MsgType.update)
    entry = AuditEntry(
        Action.resolved,
        alert.state,
        after.state,
        "the condition has ended: all clear",
        details=say("condition_ended")[1],
    )
    return Transition(alert, after, (entry,), message)


def _staleness(alert: Alert, condition: Condition) -> tuple[Alert, tuple[AuditEntry, ...]]:
    if condition.stale == alert.stale:
        return alert, ()
    if condition.stale:
        entry = AuditEntry(
            Action.stale,
            alert.state,
            alert.state,
            "the station is offline; alert kept",
            details=say("station_offline")[1],
        )
    else:
        entry = AuditEntry(
            Action.fresh,
            alert.state,
            alert.state,
            "the station reports again",
            details=say("station_back")[1],
        )
    return replace(alert, stale=condition.stale), (entry,)


def _finish(before: Alert, after: Alert, condition: Condition, entries, now: datetime, **kw) -> Transition:
    if not entries:
        return Transition(before, before)
    after = replace(after, updated_at=now, details=dict(condition.details))
    return Transition(before, after, tuple(entries), **kw)


def _pending(alert: Alert, condition: Condition, *, policy: ApprovalPolicy, now: datetime) -> Transition:
    after, entries = _staleness(alert, condition)
    entries = list(entries)
    level, stage = condition.alert_level, condition.stage_key
    facts = {"level": level, "stage": stage}
    if policy.approved(alert.kind, level, alert.approvals):
        after = replace(after, state=AlertState.active, alert_level=level, stage_key=stage, notified_at=None)
        after, message = _message(after, MsgType.alert)
        why = "the approvals given cover this level" if policy.approvals_needed(alert.kind, level) else ""
        entries.append(
            AuditEntry(
                Action.activated,
                alert.state,
                after.state,
                why or _auto(alert, level),
                details={**facts, **(say("staff_approved")[1] if why else _auto_code(alert, level))},
            )
        )
        return _finish(alert, after, condition, entries, now, message=message)
    if (level, stage) != (alert.alert_level, alert.stage_key):
        after = replace(
            after,
            alert_level=level,
            stage_key=stage,
            notified_at=now,
            acknowledged_by=None,
            acknowledged_at=None,
        )
        entries.append(
            AuditEntry(
                Action.changed,
                alert.state,
                alert.state,
                _needs(policy, after),
                details={**facts, **_needs_code(policy, after)},
            )
        )
        return _finish(alert, after, condition, entries, now, remind=True)
    if reminder_due(after, policy=policy, now=now):
        reminded = remind(after, policy=policy, now=now)
        return _finish(alert, reminded.after, condition, entries + list(reminded.audit), now, remind=True)
    return _finish(alert, after, condition, entries, now)


def _active(alert: Alert, condition: Condition, *, policy: ApprovalPolicy, now: datetime) -> Transition:
    after, entries = _staleness(alert, condition)
    entries = list(entries)
    current, new = _lvl(alert.alert_level), _lvl(condition.alert_level)
    level, stage = condition.alert_level, condition.stage_key
    facts = {"from_level": alert.alert_level, "level": level, "stage": stage}
    settled = {"pending_level": None, "pending_stage": None, "suppressed_level": None}
    if new > current and policy.approved(alert.kind, level, alert.approvals):
        after = replace(
            after,
            alert_level=level,
            stage_key=stage,
            notified_at=None,
            acknowledged_by=None,
            acknowledged_at=None,
            **settled,
        )
        after, message = _message(after, MsgType.update)
        why = _auto(alert, level)
        details = {**facts, **_auto_code(alert, level)}
        entries.append(AuditEntry(Action.escalated, alert.state, after.state, why, details=details))
        return _finish(alert, after, condition, entries, now, message=message)
    if new > current:
        if alert.suppressed_level is not None and new <= alert.suppressed_level:
            return _finish(alert, after, condition, entries, now)  # staff rejected this escalation
        if (alert.pending_level, alert.pending_stage) != (level, stage):
            after = replace(
                after, pending_level=level, pending_stage=stage, notified_at=now, suppressed_level=None
            )
            reason = _needs(policy, after)
            entries.append(
                AuditEntry(
                    Action.escalation_requested,
                    alert.state,
                    after.state,
                    reason,
                    details={**facts, **_needs_code(policy, after)},
                )
            )
            return _finish(alert, after, condition, entries, now, remind=True)
        if reminder_due(after, policy=policy, now=now):
            reminded = remind(after, policy=policy, now=now)
            return _finish(alert, reminded.after, condition, entries + list(reminded.audit), now, remind=True)
        return _finish(alert, after, condition, entries, now)
    if new < current:
        after = replace(after, alert_level=level, stage_key=stage, notified_at=None, **settled)
        after, message = _message(after, MsgType.update)
        entries.append(
            AuditEntry(
                Action.deescalated,
                alert.state,
                after.state,
                "the level fell",
                details={**facts, **say("level_fell")[1]},
            )
        )
        return _finish(alert, after, condition, entries, now, message=message)
    # the same level as approved
    message = None
    if alert.pending_level is not None or alert.suppressed_level is not None:
        after = replace(after, notified_at=None, **settled)
        if alert.pending_level is not None:
            reason = f"the level fell back to {level} before escalation to {alert.pending_level} was approved"
            entries.append(
                AuditEntry(
                    Action.escalation_withdrawn,
                    alert.state,
                    after.state,
                    reason,
                    details={
                        **facts,
                        **say("escalation_withdrawn", level=level, pending=alert.pending_level)[1],
                    },
                )
            )
        else:
            reason = f"the level is back at {level}: a rejected escalation may be asked again"
            details = {**facts, **say("level_back", level=level)[1]}
            entries.append(AuditEntry(Action.unsuppressed, alert.state, after.state, reason, details=details))
    if stage != alert.stage_key:
        after, message = _message(replace(after, stage_key=stage), MsgType.update)
        entries.append(
            AuditEntry(
                Action.changed,
                alert.state,
                after.state,
                "the stage changed",
                details={**facts, **say("stage_changed")[1]},
            )
        )
    return _finish(alert, after, condition, entries, now, message=message)


# -- staff actions ----------------------------------------------------------------------------------


def _require(actor: Actor, role: Role, what: str) -> None:
    if not actor.role.at_least(role):
        raise NotAllowed(f"{what} needs role {role} or above; {actor.username} is {actor.role}")


def _open_or_conflict(alert: Alert, what: str) -> None:
    if not alert.open:
        raise Conflict(f"alert {alert.id} is {alert.state}; it cannot be {what}")


def _reason(reason: str, what: str) -> str:
    if not reason.strip():
        raise NotAllowed(f"a reason is required to {what} an alert")
    return reason.strip()


def approve(
    alert: Alert, actor: Actor, *, policy: ApprovalPolicy, now: datetime, reason: str = ""
) -> Transition:
    """Record ``actor``'s approval of the level awaiting approval; when the approvals
    needed are complete, the alert (or its escalation) goes out."""
    _open_or_conflict(alert, "approved")
    level = alert.awaiting_level
    needed = policy.approvals_needed(alert.kind, level)
    if level is None or needed == 0:
        raise Conflict(f"alert {alert.id} has nothing awaiting approval")
    _require(actor, policy.role_needed(level), f"approving level {level}")
    if any(a.user_id == actor.id and a.level >= level for a in alert.approvals):
        raise NotAllowed(f"{actor.username} has already approved level {level}; a second person must")
    approval = Approval(level=level, user_id=actor.id, approved_at=now)
    approvals = (*alert.approvals, approval)
    left = policy.still_needed(alert.kind, level, approvals)
    facts = {"level": level, "approvals": needed - left, "needed": needed}
    approved = {**facts, **say("staff_approved")[1]}
    entries = [AuditEntry(Action.approved, alert.state, alert.state, reason.strip(), actor.id, approved)]
    after = replace(alert, approvals=approvals, updated_at=now)
    message = None
    if left == 0 and alert.state is AlertState.pending:
        after = replace(after, state=AlertState.active, notified_at=None)
        after, message = _message(after, MsgType.alert)
        entries.append(AuditEntry(Action.activated, alert.state, after.state, "approved", actor.id, approved))
    elif left == 0:
        after = replace(
            after,
            alert_level=alert.pending_level,
            stage_key=alert.pending_stage,
            pending_level=None,
            pending_stage=None,
            suppressed_level=None,
            notified_at=None,
            acknowledged_by=None,
            acknowledged_at=None,
        )
        after, message = _message(after, MsgType.update)
        entries.append(
            AuditEntry(
                Action.escalated,
                alert.state,
                after.state,
                "approved",
                actor.id,
                {**approved, "from_level": alert.alert_level},
            )
        )
    return Transition(alert, after, tuple(entries), message, approval=approval, remind=left > 0)


def reject(alert: Alert, actor: Actor, *, policy: ApprovalPolicy, now: datetime, reason: str) -> Transition:
    """Refuse what awaits approval: a pending alert is withdrawn (nothing public), a
    pending escalation is dropped (the alert stays at its level). The same condition
    does not ask again until it ends or rises above the rejected level."""
    _open_or_conflict(alert, "rejected")
    level = alert.awaiting_level
    if level is None:
        raise Conflict(f"alert {alert.id} has nothing awaiting approval")
    _require(actor, policy.role_needed(level), f"rejecting level {level}")
    why = _reason(reason, "reject")
    facts = {"level": level, **say("staff_rejected")[1]}
    if alert.state is AlertState.pending:
        after = _closed(alert, AlertState.withdrawn, now, suppressed_level=level, notified_at=None)
    else:
        after = replace(
            alert,
            pending_level=None,
            pending_stage=None,
            suppressed_level=level,
            updated_at=now,
            notified_at=None,
        )
    return Transition(
        alert, after, (AuditEntry(Action.rejected, alert.state, after.state, why, actor.id, facts),)
    )


def cancel(alert: Alert, actor: Actor, *, policy: ApprovalPolicy, now: datetime, reason: str) -> Transition:
    """Retract a mistaken alert (needs the role that may approve its level). If it had
    been sent, a Cancel message goes out that references every earlier version; the
    same condition does not raise it again until it ends or rises above."""
    _open_or_conflict(alert, "cancelled")
    level = max(_lvl(alert.alert_level), _lvl(alert.pending_level), _lvl(alert.suppressed_level))
    _require(actor, policy.role_needed(level), f"cancelling a level {level} alert")
    why = _reason(reason, "cancel")
    after = _closed(alert, AlertState.cancelled, now, suppressed_level=level, notified_at=None)
    message = None
    if alert.version >= 1:
        after, message = _message(after, MsgType.cancel)
    details = {"level": level, **say("staff_cancelled")[1]}
    entry = AuditEntry(Action.cancelled, alert.state, after.state, why, actor.id, details)
    return Transition(alert, after, (entry,), message, note=why)


def acknowledge(alert: Alert, actor: Actor, *, policy: ApprovalPolicy, now: datetime) -> Transition:
    """Record that a staff member has seen the alert (idempotent)."""
    _open_or_conflict(alert, "acknowledged")
    _require(actor, Role.operator, "acknowledging an alert")
    if alert.acknowledged_by is not None:
        return Transition(alert, alert)
    after = replace(alert, acknowledged_by=actor.id, acknowledged_at=now, updated_at=now)
    return Transition(
        alert,
        after,
        (
            AuditEntry(
                Action.acknowledged, alert.state, alert.state, "", actor.id, say("staff_acknowledged")[1]
            ),
        ),
    )
