"""What staff do with alerts: list and inspect them, approve, reject, cancel and
acknowledge. Keyword-only service functions taking a connection; the HTTP layer
(the staff console) stays thin and only maps :mod:`alerts.errors` to responses.

Roles and the approval policy are enforced here, server-side, whatever the console
shows. Each action runs in one transaction that locks the alert (``SELECT … FOR
UPDATE``), so two people approving at the same moment are serialised: the second sees
the first's approval. Every action is audit-logged with the actor, and any message it
causes is written to the outbox in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from alerts import decision, lifecycle, store
from alerts.errors import Conflict, NotFound
from alerts.model import Alert, AlertState, Kind
from alerts.policy import ApprovalPolicy
from kawamori.model import Actor, Role

DEFAULT_POLICY = ApprovalPolicy()


@dataclass(frozen=True, slots=True)
class ApprovalView:
    level: int
    user_id: int
    display_name: str
    approved_at: datetime


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as staff see it. ``awaiting_level``: the level (of the alert, or of its
    escalation) waiting for approval; ``approvals_needed``: how many more approvals
    it needs, from people with at least ``role_needed``."""

    alert: Alert
    station_name_ja: str
    station_name_en: str
    approvals: tuple[ApprovalView, ...]
    awaiting_level: int | None
    approvals_needed: int
    role_needed: Role | None

    @property
    def id(self) -> int:
        assert self.alert.id is not None
        return self.alert.id

    @property
    def awaiting_approval(self) -> bool:
        return self.awaiting_level is not None and self.approvals_needed > 0


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str | None  # None: the evaluator (the system)
    action: str
    from_state: str | None
    to_state: str
    reason: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AlertDetail:
    view: AlertView
    audit: tuple[AuditView, ...]


_VIEW = f"""
    SELECT q.*, s.name_ja, s.name_en,
           (SELECT coalesce(jsonb_agg(u.display_name ORDER BY p.approved_at, p.user_id), '[]')
            FROM alert_approvals p JOIN staff_users u ON u.id = p.user_id WHERE p.alert_id = q.id)
    FROM ({store.SELECT_ALERTS}) q JOIN stations s ON s.id = q.station_id"""
_WIDTH = len(store._COLUMNS) + 1


def _view(row: tuple, policy: ApprovalPolicy) -> AlertView:
    alert = store.alert_from_row(row[:_WIDTH])
    name_ja, name_en, names = row[_WIDTH:]
    approvals = tuple(
        ApprovalView(a.level, a.user_id, name, a.approved_at)
        for a, name in zip(alert.approvals, names, strict=True)
    )
    level = alert.awaiting_level
    if level is None:
        needed, role = 0, None
    elif alert.kind is Kind.area and alert.proposal is not None:
        issued = (alert.alert_level or 0) if alert.state is AlertState.active else 0
        needed = policy.proposal_left(alert.proposal, level, issued, alert.revision, alert.approvals)
        role = policy.proposal_role(alert.proposal, level, issued)
    else:
        needed = policy.still_needed(alert.kind, level, alert.approvals)
        role = policy.role_needed(level)
    return AlertView(
        alert=alert,
        station_name_ja=name_ja,
        station_name_en=name_en,
        approvals=approvals,
        awaiting_level=level if needed else None,
        approvals_needed=needed,
        role_needed=role if needed else None,
    )


def list_alerts(
    conn: psycopg.Connection,
    *,
    open_only: bool = False,
    limit: int = 200,
    policy: ApprovalPolicy = DEFAULT_POLICY,
) -> list[AlertView]:
    """Alerts awaiting approval first, then the other open ones (each group highest
    level first, then oldest first), then recent history (newest first)."""
    rows = conn.execute(
        f"""{_VIEW}
            WHERE q.state IN ('pending', 'active') OR NOT %(open_only)s
            ORDER BY CASE WHEN q.state = 'pending' OR q.pending_level IS NOT NULL THEN 0
                          WHEN q.state = 'active' THEN 1 ELSE 2 END,
                     CASE WHEN q.state IN ('pending', 'active') THEN NULL ELSE q.updated_at END
                         DESC NULLS FIRST,
                     q.alert_level DESC NULLS LAST, q.opened_at, q.id
            LIMIT %(limit)s""",
        {"open_only": open_only, "limit": limit},
    ).fetchall()
    return [_view(row, policy) for row in rows]


def _get_view(conn: psycopg.Connection, alert_id: int, policy: ApprovalPolicy) -> AlertView:
    row = conn.execute(f"{_VIEW} WHERE q.id = %s", (alert_id,)).fetchone()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return _view(row, policy)


def get_alert(
    conn: psycopg.Connection, *, alert_id: int, policy: ApprovalPolicy = DEFAULT_POLICY
) -> AlertDetail:
    """One alert with its whole audit trail, oldest first."""
    view = _get_view(conn, alert_id, policy)
    rows = conn.execute(
        """SELECT a.id, a.at, a.actor_id, u.display_name, a.action, a.from_state, a.to_state,
                  a.reason, a.details
           FROM alert_audit a LEFT JOIN staff_users u ON u.id = a.actor_id
           WHERE a.alert_id = %s ORDER BY a.id""",
        (alert_id,),
    ).fetchall()
    return AlertDetail(view=view, audit=tuple(AuditView(*row) for row in rows))


def _act(conn, alert_id: int, decide, now: datetime, policy: ApprovalPolicy, sender: str) -> AlertView:
    try:
        with conn.transaction():
            store.act(conn, alert_id=alert_id, decide=decide, now=now, sender=sender)
            return _get_view(conn, alert_id, policy)
    except psycopg.errors.UniqueViolation:  # the same person, from two sessions at once
        raise Conflict("this was just decided in another session; look again") from None


def approve(
    conn: psycopg.Connection,
    *,
    alert_id: int,
    actor: Actor,
    now: datetime,
    reason: str = "",
    revision: int | None = None,
    policy: ApprovalPolicy = DEFAULT_POLICY,
    sender: str = store.DEFAULT_SENDER,
) -> AlertView:
    """Approve what awaits approval. An area's proposal (of ``revision``, the one the
    person saw) takes effect in this transaction once the approvals the policy needs
    are complete; the highest level needs two people."""

    def decide(alert: Alert) -> lifecycle.Transition:
        if alert.kind is Kind.area:
            return decision.approve(alert, actor, policy=policy, now=now, revision=revision, reason=reason)
        return lifecycle.approve(alert, actor, policy=policy, now=now, reason=reason)

    return _act(conn, alert_id, decide, now, policy, sender)


def reject(
    conn: psycopg.Connection,
    *,
    alert_id: int,
    actor: Actor,
    now: datetime,
    reason: str,
    revision: int | None = None,
    policy: ApprovalPolicy = DEFAULT_POLICY,
    sender: str = store.DEFAULT_SENDER,
) -> AlertView:
    """Refuse what awaits approval (a reason is required): an area's proposal is
    declined and the issued level stays as it is (a first proposal ends with nothing
    public); the same proposal is not made again until the evidence moves."""

    def decide(alert: Alert) -> lifecycle.Transition:
        if alert.kind is Kind.area:
            return decision.decline(alert, actor, policy=policy, now=now, reason=reason, revision=revision)
        return lifecycle.reject(alert, actor, policy=policy, now=now, reason=reason)

    return _act(conn, alert_id, decide, now, policy, sender)


def cancel(
    conn: psycopg.Connection,
    *,
    alert_id: int,
    actor: Actor,
    now: datetime,
    reason: str,
    policy: ApprovalPolicy = DEFAULT_POLICY,
    sender: str = store.DEFAULT_SENDER,
) -> AlertView:
    """Retract a mistaken alert (a reason is required); if it had been sent, residents
    receive a Cancel message."""

    def decide(alert: Alert) -> lifecycle.Transition:
        if alert.kind is Kind.area:
            return decision.cancel(alert, actor, policy=policy, now=now, reason=reason)
        return lifecycle.cancel(alert, actor, policy=policy, now=now, reason=reason)

    return _act(conn, alert_id, decide, now, policy, sender)


def acknowledge(
    conn: psycopg.Connection,
    *,
    alert_id: int,
    actor: Actor,
    now: datetime,
    policy: ApprovalPolicy = DEFAULT_POLICY,
    sender: str = store.DEFAULT_SENDER,
) -> AlertView:
    """Record that someone has seen the alert (idempotent)."""

    def decide(alert: Alert) -> lifecycle.Transition:
        return lifecycle.acknowledge(alert, actor, policy=policy, now=now)

    return _act(conn, alert_id, decide, now, policy, sender)


__all__ = [
    "AlertDetail",
    "AlertView",
    "ApprovalView",
    "AuditView",
    "acknowledge",
    "approve",
    "cancel",
    "get_alert",
    "list_alerts",
    "reject",
]
