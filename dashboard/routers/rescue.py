"""The HTTP side of check-ins and rescue requests, mounted in the dashboard.

Residents (no login): the page ``/r/safety`` (ja / en / やさしい日本語; three taps), and
``/api/checkins`` and ``/api/rescue-requests`` — every id is chosen by the page, so a
report queued offline and sent twice is stored once; the resident keeps a status token
to see, cancel or delete their request. Staff with the rescue permission: the triage page
``/rescue`` and its API (queue, state changes, audit); every staff member: the counts.

Errors are ``{"detail": sentence, "code": stable code}`` (the pages translate the code).
Nothing here logs a place, an address, a phone number, a note or a token.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from dashboard.deps import SESSION_COOKIE, Conn, CurrentActor, Now
from dashboard.openapi import errors
from dashboard.pages import language, secure_headers, templates
from dashboard.routers.residents import config_of, key_of, render_page, resident_language
from kawamori import staff
from rescue import store
from rescue.errors import (
    BadTransition,
    Contradiction,
    InvalidReport,
    NotPermitted,
    RescueError,
    TooMany,
    UnknownRequest,
)
from rescue.rules import NEEDS, State

log = structlog.get_logger("rescue")
router = APIRouter(tags=["rescue"])
PURGE_EVERY = timedelta(hours=1)
STATUSES = {
    InvalidReport: 422,
    Contradiction: 409,
    TooMany: 429,
    UnknownRequest: 404,
    BadTransition: 409,
    NotPermitted: 403,
}


def refused(error: RescueError) -> JSONResponse:
    status = next(code for kind, code in STATUSES.items() if isinstance(error, kind))
    log.info("rescue.refused", code=error.code, status=status)
    return JSONResponse({"detail": str(error), "code": error.code}, status_code=status)


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


Household = Annotated[
    str,
    Field(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the page's random household id (kept in the browser): repeats of a household merge",
    ),
]


class CheckInCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="chosen by the page; a repeat stores nothing")
    household: Household
    status: Literal["shelter", "safe"]
    shelter_id: str | None = Field(default=None, max_length=64)
    household_size: int = Field(default=1, ge=1, le=30)
    point: PointIn | None = Field(default=None, description="used only to find the area; never stored")
    language: Literal["ja", "en", "ja-easy"] = "ja"
    reported_at: AwareDatetime | None = Field(
        default=None, description="when the resident tapped (offline queue): ISO 8601 with its time zone"
    )

    @field_validator("reported_at", mode="before")
    @classmethod
    def _written_time(cls, value):
        # JSON gives a string; a bare number would be taken as seconds since 1970
        if value is not None and not isinstance(value, str | datetime):
            raise ValueError("an ISO 8601 time with its time zone, e.g. 2026-09-01T14:05:00+09:00")
        return value


class CheckInDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household: Household


class RescueCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="chosen by the page; a repeat stores nothing")
    household: Household
    people: int = Field(default=1, ge=1, le=100)
    needs: list[Literal[NEEDS]] = Field(default_factory=list, max_length=len(NEEDS))  # type: ignore[valid-type]
    point: PointIn | None = Field(default=None, description="where help is needed (a map tap or GPS)")
    address: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40, description="so rescuers can call back")
    note: str | None = Field(default=None, max_length=1000)
    language: Literal["ja", "en", "ja-easy"] = "ja"


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=100)


class RescueTaken(BaseModel):
    token: str = Field(description="keep it: it shows, cancels or deletes the request")
    state: str
    merged: bool = Field(description="joined the household's open request")
    flagged: bool


class RescueStatus(BaseModel):
    state: str
    team_assigned: bool
    updated_at: datetime


class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: State
    team: str | None = Field(default=None, max_length=64)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _map(request: Request, conn) -> dict:
    """What a page's map needs: the basemap the settings chose, and the city's extent
    (its alert areas and shelters) to open on."""
    extent = store.extent_of(conn)
    return {
        "basemap": request.app.state.basemap.page(),
        "zone": getattr(request.app.state.zone, "key", "Asia/Tokyo"),  # an IANA name, for the browser
        "extent": None
        if extent is None
        else {
            "south": extent.min_lat,
            "west": extent.min_lon,
            "north": extent.max_lat,
            "east": extent.max_lon,
        },
    }


# --- residents ---------------------------------------------------------------------------------------


@router.get("/r/safety", response_class=HTMLResponse, include_in_schema=False)
def safety_page(
    request: Request, conn: Conn, lang: str | None = None, kind: str | None = None
) -> HTMLResponse:
    """The check-in and rescue page: what happened (safe / at a shelter / help), how many
    people, send. Works without an account; queues offline."""
    chosen = resident_language(request, lang)
    shelters = conn.execute("SELECT id, name_ja, name_en FROM shelters ORDER BY name_ja").fetchall()
    response = render_page(
        request,
        "resident_safety.html",
        chosen,
        {
            "kind": kind if kind in {"safe", "shelter", "help"} else None,
            "shelters": [{"id": s[0], "name": s[2] if chosen == "en" else s[1]} for s in shelters],
            "needs": NEEDS,
            "enabled": config_of(request).key is not None,
            "retention_days": config_of(request).rescue_retention_days,
            "links": {code: f"/r/safety?lang={code}" for code in ("ja", "ja-easy", "en")},
            **_map(request, conn),
        },
    )
    response.headers["Content-Security-Policy"] = secure_headers(
        service_worker=True, referrer="no-referrer", images=request.app.state.basemap.image_origin
    )["Content-Security-Policy"]
    return response


@router.post(
    "/api/checkins",
    status_code=201,
    responses=errors(409, 503),
    summary="A household's safety check-in: at a shelter, or safe (a repeat stores nothing)",
    description="409 while the household has an open rescue request (cancel it first); 422 for an unknown "
    "shelter or a place outside the city. The place only chooses the area and is not stored.",
)
def create_check_in(body: CheckInCreate, request: Request, conn: Conn, now: Now) -> Response:
    key = key_of(request)
    try:
        result = store.check_in(
            conn,
            key=key,
            report_id=body.id,
            household=body.household,
            status=body.status,
            household_size=body.household_size,
            shelter_id=body.shelter_id,
            point=(body.point.lat, body.point.lon) if body.point else None,
            language=body.language,
            reported_at=body.reported_at or now,
            now=now,
        )
    except RescueError as error:
        return refused(error)
    log.info("rescue.checked_in", status=body.status, result=result)
    return JSONResponse({"result": result}, status_code=201)


@router.delete(
    "/api/checkins", status_code=204, responses=errors(503), summary="Delete a household's check-in"
)
def delete_check_in(body: CheckInDelete, request: Request, conn: Conn) -> Response:
    store.forget_check_in(conn, key=key_of(request), household=body.household)
    return Response(status_code=204)


@router.post(
    "/api/rescue-requests",
    status_code=201,
    response_model=RescueTaken,
    responses=errors(429, 503),
    summary="Ask for rescue: place, people, needs, a phone number (merged with the household's open request)",
    description="422 without a place or a contact, or for a place outside the city; 429 only when one "
    "source sent far too many requests within the hour (before that, requests are taken and flagged for "
    "staff). A household with an open request is never refused: its repeat is merged.",
)
def create_rescue_request(body: RescueCreate, request: Request, conn: Conn, now: Now) -> Response:
    key = key_of(request)
    _purge_now_and_then(request, conn, now)
    try:
        taken = store.request_rescue(
            conn,
            key=key,
            request_id=body.id,
            household=body.household,
            people=body.people,
            needs=list(body.needs),
            point=(body.point.lat, body.point.lon) if body.point else None,
            address=body.address,
            phone=body.phone,
            line_user=None,
            note=body.note,
            client=_client(request),
            language=body.language,
            now=now,
        )
    except RescueError as error:
        return refused(error)
    log.info("rescue.requested", merged=taken.merged, flagged=taken.flagged)
    return JSONResponse(
        {"token": taken.token, "state": taken.state, "merged": taken.merged, "flagged": taken.flagged},
        status_code=201,
    )


@router.post(
    "/api/rescue-requests/status",
    response_model=RescueStatus,
    responses=errors(404),
    summary="The state of one's own rescue request (by its token)",
)
def rescue_status(body: TokenIn, conn: Conn) -> Response:
    try:
        return JSONResponse(_jsonable(store.status_of(conn, token=body.token)))
    except RescueError as error:
        return refused(error)


@router.post(
    "/api/rescue-requests/cancel",
    response_model=RescueStatus,
    responses=errors(404),
    summary="Cancel one's own rescue request: help is no longer needed",
)
def cancel_rescue(body: TokenIn, conn: Conn, now: Now) -> Response:
    try:
        status = store.cancel(conn, token=body.token, now=now)
    except RescueError as error:
        return refused(error)
    log.info("rescue.cancelled_by_resident")
    return JSONResponse(_jsonable(status))


@router.post(
    "/api/rescue-requests/forget",
    status_code=204,
    responses=errors(404),
    summary="Delete one's own rescue request and everything sealed in it",
)
def forget_rescue(body: TokenIn, conn: Conn) -> Response:
    try:
        store.forget(conn, token=body.token)
    except RescueError as error:
        return refused(error)
    log.info("rescue.deleted_on_request")
    return Response(status_code=204)


def _purge_now_and_then(request: Request, conn, now: datetime) -> None:
    """The retention purge, at most once an hour per dashboard process."""
    last = getattr(request.app.state, "rescue_purged_at", None)
    if last is not None and now - last < PURGE_EVERY:
        return
    request.app.state.rescue_purged_at = now
    checkins, requests = store.purge(
        conn, now=now, retention=timedelta(days=config_of(request).rescue_retention_days)
    )
    log.info("rescue.purged", checkins=checkins, requests=requests)


def _jsonable(row: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


# --- staff -------------------------------------------------------------------------------------------


@router.get("/rescue", response_class=HTMLResponse, include_in_schema=False)
def triage_page(request: Request, conn: Conn, now: Now, lang: str | None = None) -> Response:
    try:
        session = staff.current_session(conn, token=request.cookies.get(SESSION_COOKIE), now=now)
    except staff.NotSignedIn:
        target = "/rescue" + (f"?lang={lang}" if lang in ("ja", "en") else "")
        return RedirectResponse(f"/staff/login?next={target}", status_code=303)
    chosen = language(request, lang)
    allowed = store.permitted(conn, user_id=session.actor.id)
    return templates.TemplateResponse(
        request,
        "rescue.html",
        {"lang": chosen, "session": session, "allowed": allowed, **_map(request, conn)},
        status_code=200 if allowed else 403,
        # the tile server the settings chose; Leaflet's own styles
        headers=secure_headers(images=request.app.state.basemap.image_origin, styles="'unsafe-inline'"),
    )


@router.get(
    "/api/rescue/queue",
    responses=errors(403),
    summary="Open rescue requests and those closed in the last day (rescue permission)",
)
def rescue_queue(request: Request, conn: Conn, actor: CurrentActor, now: Now) -> Response:
    try:
        items = store.queue(conn, key=key_of(request), actor=actor, now=now)
    except RescueError as error:
        return refused(error)
    return JSONResponse([_jsonable(item) for item in items], headers={"Cache-Control": "no-store"})


@router.post(
    "/api/rescue/{request_id}/state",
    responses=errors(403, 404, 409),
    summary="Move a rescue request: confirmed, assigned (with a team), resolved, cancelled (audited)",
)
def change_state(
    request_id: uuid.UUID, body: StateChange, conn: Conn, actor: CurrentActor, now: Now
) -> Response:
    try:
        changed = store.transition(
            conn, request_id=request_id, target=body.state, team=body.team, actor=actor, now=now
        )
    except RescueError as error:
        return refused(error)
    log.info("rescue.state_changed", state=body.state.value)
    return JSONResponse(changed)


@router.get(
    "/api/rescue/{request_id}/audit",
    responses=errors(403, 404),
    summary="Who changed a rescue request, when, from what to what (rescue permission)",
)
def request_audit(request_id: uuid.UUID, conn: Conn, actor: CurrentActor) -> Response:
    try:
        trail = store.audit_of(conn, request_id=request_id, actor=actor)
    except RescueError as error:
        return refused(error)
    return JSONResponse([_jsonable(row) for row in trail])


@router.get(
    "/api/rescue/counts",
    summary="Check-ins and open rescue requests per area, check-ins per shelter beside its head count",
)
def rescue_counts(conn: Conn, actor: CurrentActor) -> dict:
    return store.counts(conn)
