"""The shelter staff page and its API: sign in with the shelter's access code
(a session cookie: HttpOnly, SameSite=Strict), then post batches of events that
the page queued while offline. Every write needs the session's CSRF token in the
``X-CSRF-Token`` header; every event carries its client-generated id, so a retry
after a lost response stores nothing twice."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, Cookie, Header, HTTPException, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from dashboard.deps import Conn, Now
from dashboard.openapi import errors
from shelters import occupancy, registry, sessions
from shelters.access import same
from shelters.api import bands_of, public
from shelters.counts import count_event, status_event
from shelters.errors import AccessDenied, ConflictingEvent, InvalidEvent, Throttled, UnknownShelter

STATIC = Path(__file__).parent / "static"
COOKIE = "kawamori_staff"

router = APIRouter(tags=["shelter staff"])


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    shelter_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    id: uuid.UUID = Field(description="chosen by the client (crypto.randomUUID()); repeats are ignored")
    type: Literal["delta", "set", "status"]
    value: int | None = Field(default=None, description="delta: ±people; set: the exact head count")
    status: str | None = Field(default=None, description="status events: preparing, open or closed")
    recorded_at: datetime = Field(description="when the tap happened, with a time zone")


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    events: list[EventIn] = Field(min_length=1, max_length=500)


def _session(conn: psycopg.Connection, token: str | None, now: datetime) -> sessions.Session:
    try:
        return sessions.current_session(conn, token=token, now=now)
    except AccessDenied as error:
        raise HTTPException(401, str(error)) from None


def _changing_session(
    conn: psycopg.Connection, token: str | None, csrf: str | None, now: datetime
) -> sessions.Session:
    """The session of a state-changing request, which must carry its CSRF token."""
    session = _session(conn, token, now)
    if not csrf or not same(csrf, session.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token")
    return session


def _state(conn: psycopg.Connection, request: Request, session: sessions.Session, now: datetime) -> dict:
    bands = bands_of(request)
    return {
        "shelter": public(registry.get_shelter(conn, session.shelter_id), bands),
        "bands": [bands.somewhat_crowded, bands.crowded, bands.full],
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at,
        "synced_at": now,
    }


@router.get("/staff", include_in_schema=False)
def staff_page() -> FileResponse:
    return FileResponse(STATIC / "staff.html", headers={"Cache-Control": "no-cache"})


@router.get("/staff-sw.js", include_in_schema=False)
def staff_service_worker() -> FileResponse:
    """Served from the root so that it may control ``/staff`` (offline reloads)."""
    return FileResponse(
        STATIC / "staff-sw.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@router.post(
    "/api/staff/session",
    summary="Sign in to one shelter with its access code",
    responses=errors(401, 429),
)
def sign_in(body: SignIn, conn: Conn, now: Now, request: Request, response: Response) -> dict:
    try:
        token, session = sessions.open_session(
            conn,
            shelter_id=body.shelter_id,
            code=body.code,
            now=now,
            client=request.client.host if request.client else "unknown",
        )
    except Throttled as error:
        raise HTTPException(429, str(error), headers={"Retry-After": str(error.retry_after)}) from None
    except AccessDenied as error:
        raise HTTPException(401, str(error)) from None
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(sessions.SESSION_LENGTH.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return _state(conn, request, session, now)


@router.get(
    "/api/staff/session",
    summary="The signed-in shelter, its live state and the CSRF token",
    responses=errors(401),
)
def whoami(
    conn: Conn, now: Now, request: Request, token: Annotated[str | None, Cookie(alias=COOKIE)] = None
) -> dict:
    return _state(conn, request, _session(conn, token, now), now)


@router.delete("/api/staff/session", summary="Sign out", responses=errors(401, 403))
def sign_out(
    conn: Conn,
    now: Now,
    response: Response,
    token: Annotated[str | None, Cookie(alias=COOKIE)] = None,
    csrf: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
) -> dict:
    _changing_session(conn, token, csrf, now)
    assert token is not None
    sessions.close_session(conn, token=token)
    response.delete_cookie(COOKIE, path="/")
    return {"signed_out": True}


@router.post(
    "/api/staff/events",
    responses=errors(401, 403, 404, 409),
    summary="Apply a batch of queued taps (+1/−1, exact count, open/close) to the signed-in shelter",
    description="All or nothing. Events already stored (same id) are counted as duplicates and "
    "change nothing. A bad event answers 422 with its `index` in the batch.",
)
def post_events(
    batch: Batch,
    conn: Conn,
    now: Now,
    request: Request,
    token: Annotated[str | None, Cookie(alias=COOKIE)] = None,
    csrf: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
) -> dict:
    session = _changing_session(conn, token, csrf, now)
    counts, statuses = [], []
    for index, item in enumerate(batch.events):
        try:
            if item.type == "status":
                statuses.append(
                    status_event(id=item.id, status=item.status or "", recorded_at=item.recorded_at, now=now)
                )
            else:
                if item.value is None:
                    raise InvalidEvent(f"a {item.type} event needs a value")
                counts.append(
                    count_event(
                        id=item.id, kind=item.type, value=item.value, recorded_at=item.recorded_at, now=now
                    )
                )
        except InvalidEvent as error:
            raise HTTPException(422, {"message": str(error), "index": index, "id": str(item.id)}) from None
    stored = duplicates = 0
    try:
        with conn.transaction():
            if counts:
                result = occupancy.record_counts(conn, shelter_id=session.shelter_id, events=counts)
                stored, duplicates = result["stored"], result["duplicates"]
            if statuses:
                result = occupancy.record_status(conn, shelter_id=session.shelter_id, events=statuses)
                stored, duplicates = stored + result["stored"], duplicates + result["duplicates"]
    except ConflictingEvent as error:
        raise HTTPException(409, str(error)) from None
    except UnknownShelter as error:
        raise HTTPException(404, str(error)) from None
    return {**_state(conn, request, session, now), "stored": stored, "duplicates": duplicates}
