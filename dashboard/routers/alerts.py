"""The alert console and its API: staff list, inspect, approve, reject, cancel and
acknowledge alerts. Thin views over :mod:`alerts.actions`, which enforces roles and the
approval policy; here a signed-in session is required (401), every POST needs the
session's CSRF token (403), and the lifecycle's errors become 404 / 403 / 409.

``GET /api/alerts/events`` streams server-sent events naming the alert that changed;
the page then fetches it again (and polls as a fallback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from alerts import actions, audit_texts
from alerts.errors import Conflict, NotAllowed, NotFound
from alerts.model import AlertState, Kind
from alerts.policy import ApprovalPolicy
from dashboard import queries
from dashboard.deps import SESSION_COOKIE, BigintId, Conn, CurrentActor, Now, Operator, Policy, StaffSession
from dashboard.pages import language, secure_headers, templates
from kawamori import staff
from kawamori.model import Actor, Role

router = APIRouter(tags=["alert console"])
KEEPALIVE_S = 15.0
SESSION_CHECK_S = 60.0


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    reason: str = Field(default="", max_length=500, description="why (required to reject or cancel)")
    revision: int | None = Field(
        default=None,
        ge=0,
        description="the proposal's revision as shown to the person; if it has changed since, the answer "
        "is 409 and the person must look again",
    )


class ApprovalPublic(BaseModel):
    level: int
    revision: int = Field(description="the proposal revision it was given for (an area's issuance)")
    display_name: str
    approved_at: datetime
    mine: bool


class AreaPublic(BaseModel):
    id: str
    name_ja: str
    name_en: str


class Permissions(BaseModel):
    approve: bool
    reject: bool
    cancel: bool
    acknowledge: bool


class AlertPublic(BaseModel):
    id: int
    station_id: str
    station_name_ja: str
    station_name_en: str
    river_ja: str
    river_en: str
    kind: str = Field(
        description="area: an area's issuance (発令); unverified, sensor, offline: staff notices"
    )
    area_id: str | None = Field(description="the area of an issuance")
    proposal: str | None = Field(description="the open proposal: raise, lower, lift or verify")
    proposal_reason: str | None = Field(
        description="why: observed, forecast, unverified, sensor_fault, no_data"
    )
    revision: int = Field(description="the proposal's revision: send it back when approving or declining")
    status: str = Field(description="Actual, Exercise (訓練) or Test (テスト); only Actual reaches residents")
    state: str
    public: bool
    alert_level: int | None
    pending_level: int | None
    awaiting_level: int | None = Field(description="the level waiting for approval, if any")
    approvals_needed: int = Field(description="how many more approvals it needs")
    approvals_total: int = Field(description="how many approvals the awaited level needs in all")
    role_needed: str | None
    approvals: list[ApprovalPublic]
    areas: list[AreaPublic]
    stale: bool
    details: dict[str, Any]
    opened_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    can: Permissions = Field(description="what the signed-in person may do (the server checks again)")


class AuditPublic(BaseModel):
    at: datetime
    actor: str | None = Field(description="who; null: the system (the evaluator)")
    action: str
    from_state: str | None
    to_state: str
    reason: str
    reason_ja: str = Field(
        description="the reason in Japanese: the engine's from its catalogue, a person's as written"
    )
    reason_en: str = Field(description="the reason in English")
    details: dict[str, Any]


class AlertDetailPublic(BaseModel):
    alert: AlertPublic
    audit: list[AuditPublic]


def _public(view: actions.AlertView, actor: Actor, names: queries.AlertNames, policy: ApprovalPolicy) -> dict:
    alert = view.alert
    awaiting = view.awaiting_level
    open_ = alert.state in (AlertState.pending, AlertState.active)
    if alert.kind is Kind.area:
        counted = [a for a in alert.approvals if a.revision == alert.revision and a.level == awaiting]
    else:
        counted = [a for a in alert.approvals if awaiting is not None and a.level >= awaiting]
    mine = any(a.user_id == actor.id for a in counted)
    approve_role = view.role_needed
    top_level = max(alert.alert_level or 0, alert.pending_level or 0, alert.suppressed_level or 0)
    river = names.rivers.get(alert.station_id, ("", ""))
    return {
        "id": view.id,
        "station_id": alert.station_id,
        "station_name_ja": view.station_name_ja,
        "station_name_en": view.station_name_en,
        "river_ja": river[0],
        "river_en": river[1],
        "kind": str(alert.kind),
        "area_id": alert.area_id,
        "proposal": None if alert.proposal is None else str(alert.proposal),
        "proposal_reason": alert.proposal_reason,
        "revision": alert.revision,
        "status": str(alert.status),
        "state": str(alert.state),
        "public": alert.public,
        "alert_level": alert.alert_level,
        "pending_level": alert.pending_level,
        "awaiting_level": awaiting,
        "approvals_needed": view.approvals_needed,
        "approvals_total": view.approvals_needed + len({a.user_id for a in counted}),
        "role_needed": str(view.role_needed) if view.role_needed else None,
        "approvals": [
            {
                "level": a.level,
                "revision": given.revision,
                "display_name": a.display_name,
                "approved_at": a.approved_at,
                "mine": a.user_id == actor.id,
            }
            for a, given in zip(view.approvals, alert.approvals, strict=True)
        ],
        "areas": [
            {
                "id": area,
                "name_ja": names.areas.get(area, (area, area))[0],
                "name_en": names.areas.get(area, (area, area))[1],
            }
            for area in alert.areas
        ],
        "stale": alert.stale,
        "details": alert.details,
        "opened_at": alert.opened_at,
        "updated_at": alert.updated_at,
        "ended_at": alert.ended_at,
        "acknowledged_by": names.users.get(alert.acknowledged_by) if alert.acknowledged_by else None,
        "acknowledged_at": alert.acknowledged_at,
        "can": {
            "approve": view.awaiting_approval
            and approve_role is not None
            and actor.role.at_least(approve_role)
            and not mine,
            "reject": view.awaiting_approval
            and approve_role is not None
            and actor.role.at_least(approve_role),
            "cancel": open_ and actor.role.at_least(policy.role_needed(top_level)),
            "acknowledge": open_ and alert.acknowledged_by is None and actor.role.at_least(Role.operator),
        },
    }


def _publics(conn, views: list[actions.AlertView], actor: Actor, policy: ApprovalPolicy) -> list[dict]:
    names = queries.alert_names(conn, views=[v.alert for v in views])
    return [_public(v, actor, names, policy) for v in views]


def _reasons(reason: str, details: dict[str, Any], *, by_person: bool) -> dict[str, str]:
    """An audit reason in both languages: the engine names its text by a code in the
    one catalogue (``alerts.audit_texts``); what a person wrote stays as written."""
    code = details.get("code")
    if code not in audit_texts.codes() or (by_person and reason.strip()):
        return {"reason_ja": reason, "reason_en": reason}
    params = details.get("params")
    return {f"reason_{lang}": audit_texts.render(code, params, lang) for lang in ("ja", "en")}


def _sent(request: Request, body: Reason) -> dict[str, Any]:
    """The installation's one CAP sender and approval policy, and the revision the
    person saw."""
    return {
        "sender": request.app.state.cap_sender,
        "policy": request.app.state.policy,
        "revision": body.revision,
    }


def _act(action, conn, alert_id: int, **kwargs) -> actions.AlertView:
    try:
        return action(conn, alert_id=alert_id, **kwargs)
    except NotFound as error:
        raise HTTPException(404, str(error)) from None
    except NotAllowed as error:
        raise HTTPException(403, str(error)) from None
    except Conflict as error:
        raise HTTPException(409, str(error)) from None


@router.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
def console_page(request: Request, conn: Conn, now: Now, lang: str | None = None) -> Response:
    try:
        session = staff.current_session(conn, token=request.cookies.get(SESSION_COOKIE), now=now)
    except staff.NotSignedIn:
        target = "/alerts" + (f"?lang={lang}" if lang in ("ja", "en") else "")
        return RedirectResponse(f"/staff/login?next={target}", status_code=303)
    return templates.TemplateResponse(
        request,
        "alerts.html",
        {"lang": language(request, lang), "session": session, "actor": session.actor},
        headers=secure_headers(),
    )


@router.get(
    "/api/alerts",
    response_model=list[AlertPublic],
    summary="Awaiting approval first, then open, then history",
)
def list_alerts(
    conn: Conn,
    actor: CurrentActor,
    policy: Policy,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict]:
    views = actions.list_alerts(conn, open_only=open_only, limit=limit, policy=policy)
    return _publics(conn, views, actor, policy)


@router.get("/api/alerts/events", summary="Server-sent events: the id of each alert that changes")
async def alert_events(request: Request, session: StaffSession) -> StreamingResponse:
    feed = request.app.state.alert_feed
    pool = request.app.state.pool
    token = request.cookies.get(SESSION_COOKIE)

    def still_signed_in() -> bool:
        try:
            with pool.connection(timeout=5) as conn:
                staff.current_session(conn, token=token, now=request.app.state.clock())
        except staff.NotSignedIn:
            return False
        except Exception:
            return True  # the database is busy: keep the stream, the next check decides
        return True

    async def stream() -> AsyncIterator[str]:
        queue = feed.subscribe()
        loop = asyncio.get_running_loop()
        checked = loop.time()
        try:
            yield "retry: 3000\nevent: hello\ndata: {}\n\n"
            while True:
                try:
                    payload = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                else:
                    if payload == "resync":  # (re)connected or fell behind: fetch everything
                        yield "event: resync\ndata: {}\n\n"
                    else:
                        yield f"event: alert\ndata: {json.dumps({'id': payload})}\n\n"
                if loop.time() - checked > SESSION_CHECK_S:
                    checked = loop.time()
                    if not await run_in_threadpool(still_signed_in):
                        yield "event: signed-out\ndata: {}\n\n"
                        return
        finally:
            feed.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/api/alerts/{alert_id}", response_model=AlertDetailPublic, summary="One alert with its audit trail"
)
def get_alert(alert_id: BigintId, conn: Conn, actor: CurrentActor, policy: Policy) -> dict:
    detail = _act(actions.get_alert, conn, alert_id, policy=policy)
    return {
        "alert": _publics(conn, [detail.view], actor, policy)[0],
        "audit": [
            {
                "at": e.at,
                "actor": e.actor_name,
                "action": e.action,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "reason": e.reason,
                **_reasons(e.reason, e.details, by_person=e.actor_id is not None),
                "details": e.details,
            }
            for e in detail.audit
        ],
    }


@router.post(
    "/api/alerts/{alert_id}/approve",
    response_model=AlertPublic,
    summary="Approve the level awaiting approval (level 3–4: an operator; level 5: two different approvers)",
)
def approve(
    alert_id: BigintId, body: Reason, conn: Conn, now: Now, actor: Operator, request: Request, policy: Policy
) -> dict:
    view = _act(
        actions.approve, conn, alert_id, actor=actor, now=now, reason=body.reason, **_sent(request, body)
    )
    return _publics(conn, [view], actor, policy)[0]


@router.post(
    "/api/alerts/{alert_id}/reject",
    response_model=AlertPublic,
    summary="Refuse what awaits approval; nothing is sent to residents (reason required)",
)
def reject(
    alert_id: BigintId, body: Reason, conn: Conn, now: Now, actor: Operator, request: Request, policy: Policy
) -> dict:
    view = _act(
        actions.reject, conn, alert_id, actor=actor, now=now, reason=body.reason, **_sent(request, body)
    )
    return _publics(conn, [view], actor, policy)[0]


@router.post(
    "/api/alerts/{alert_id}/cancel",
    response_model=AlertPublic,
    summary="Retract an alert; residents get a cancellation if it had been sent (reason required)",
)
def cancel(
    alert_id: BigintId, body: Reason, conn: Conn, now: Now, actor: Operator, request: Request, policy: Policy
) -> dict:
    view = _act(
        actions.cancel,
        conn,
        alert_id,
        actor=actor,
        now=now,
        reason=body.reason,
        sender=request.app.state.cap_sender,
        policy=policy,
    )
    return _publics(conn, [view], actor, policy)[0]


@router.post(
    "/api/alerts/{alert_id}/acknowledge",
    response_model=AlertPublic,
    summary="Record that you have seen the alert",
)
def acknowledge(
    alert_id: BigintId,
    conn: Conn,
    now: Now,
    actor: Operator,
    request: Request,
    policy: Policy,
    body: Reason | None = None,
) -> dict:
    view = _act(
        actions.acknowledge,
        conn,
        alert_id,
        actor=actor,
        now=now,
        sender=request.app.state.cap_sender,
        policy=policy,
    )
    return _publics(conn, [view], actor, policy)[0]
