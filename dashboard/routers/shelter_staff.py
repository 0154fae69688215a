"""The shelter staff page and its API: sign in with a shelter's access code (a session
cookie: HttpOnly, SameSite=Strict; signing in with another shelter's code adds it to the
same browser), or with a staff account of the alert console that counts for its
assigned shelters (a district lead); then post batches of events that the page queued
while offline, each naming its shelter. Every write needs the session's CSRF token in the
``X-CSRF-Token`` header; every event carries its client-generated id, so a retry
after a lost response stores nothing twice."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

import shelters
from dashboard.deps import SESSION_COOKIE, Conn, Now
from dashboard.openapi import errors
from dashboard.routers.shelters import bands_of, public
from kawamori import staff as kawamori_staff
from kawamori import texts
from kawamori.model import Actor
from shelters import occupancy, registry, sessions
from shelters.access import same
from shelters.counts import count_event, status_event
from shelters.errors import AccessDenied, ConflictingEvent, InvalidEvent, Throttled, UnknownShelter

STATIC = Path(shelters.__file__).parent / "static"  # the shelters component ships its pages
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
    shelter_id: str | None = Field(
        default=None, max_length=64, description="the shelter counted; default: the batch's shelter"
    )


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    events: list[EventIn] = Field(min_length=1, max_length=500)
    shelter_id: str | None = Field(
        default=None,
        max_length=64,
        description="default for the events; needed when the browser counts for several",
    )


@dataclass(frozen=True, slots=True)
class Access:
    """What this browser may count for: the shelters signed in with codes plus the
    signed-in staff account's shelters, and the CSRF tokens of those sessions."""

    shelters: tuple[str, ...]
    csrf_tokens: tuple[str, ...]
    expires_at: datetime
    account: Actor | None = None

    def may_count(self, shelter_id: str) -> bool:
        return shelter_id in self.shelters


def _access(conn: psycopg.Connection, request: Request, now: datetime) -> Access:
    shelters: list[str] = []
    tokens: list[str] = []
    expiries: list[datetime] = []
    actor = None
    try:
        code_session = sessions.current_session(conn, token=request.cookies.get(COOKIE), now=now)
        shelters += code_session.shelters
        tokens.append(code_session.csrf_token)
        expiries.append(code_session.expires_at)
    except AccessDenied:
        pass
    try:
        account = kawamori_staff.current_session(conn, token=request.cookies.get(SESSION_COOKIE), now=now)
    except kawamori_staff.NotSignedIn:
        account = None
    if account is not None:
        actor = account.actor
        shelters += [s for s in sessions.account_shelters(conn, actor) if s not in shelters]
        tokens.append(account.csrf_token)
        expiries.append(account.expires_at)
    if not shelters:
        raise HTTPException(401, "not signed in to any shelter")
    return Access(tuple(shelters), tuple(tokens), min(expiries), actor)


def _changing_access(conn: psycopg.Connection, request: Request, csrf: str | None, now: datetime) -> Access:
    """The access of a state-changing request, which must carry one of its CSRF tokens."""
    found = _access(conn, request, now)
    if not csrf or not any(same(csrf, token) for token in found.csrf_tokens):
        raise HTTPException(403, "missing or wrong CSRF token")
    return found


def _state(
    conn: psycopg.Connection, request: Request, found: Access, now: datetime, current: str | None = None
) -> dict:
    bands = bands_of(request)
    shelters = [public(registry.get_shelter(conn, s), bands) for s in found.shelters]
    chosen = next((s for s in shelters if s["id"] == current), shelters[0])
    return {
        "shelter": chosen,
        "shelters": shelters,
        "account": None
        if found.account is None
        else {"username": found.account.username, "display_name": found.account.display_name},
        "bands": [bands.somewhat_crowded, bands.crowded, bands.full],
        "csrf_token": found.csrf_tokens[0],
        "expires_at": found.expires_at,
        "synced_at": now,
    }


@cache
def _page() -> str:
    """The staff page with its words from the text catalogue, in every language (the page
    switches language offline)."""
    words = {language: texts.tree(language)["shelters"]["staff_page"] for language in texts.LANGUAGES}
    inline = json.dumps(words, ensure_ascii=False).replace("</", "<\\/")
    return (STATIC / "staff.html").read_text(encoding="utf-8").replace("<!--TEXTS-->", inline)


@router.get("/staff", include_in_schema=False)
def staff_page() -> HTMLResponse:
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


@router.get("/staff-sw.js", include_in_schema=False)
def staff_service_worker() -> FileResponse:
    """Served from the root so that it may control ``/staff`` (offline reloads)."""
    return FileResponse(
        STATIC / "staff-sw.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@router.post(
    "/api/staff/session",
    summary="Sign in to a shelter with its access code (adds it to this browser)",
    responses=errors(401, 429),
)
def sign_in(body: SignIn, conn: Conn, now: Now, request: Request, response: Response) -> dict:
    try:
        token, _ = sessions.open_session(
            conn,
            shelter_id=body.shelter_id,
            code=body.code,
            now=now,
            token=request.cookies.get(COOKIE),
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
    request.cookies[COOKIE] = token
    return _state(conn, request, _access(conn, request, now), now, body.shelter_id)


@router.get(
    "/api/staff/session",
    summary="The shelters this browser counts for, their live state and the CSRF token",
    responses=errors(401),
)
def whoami(conn: Conn, now: Now, request: Request) -> dict:
    return _state(conn, request, _access(conn, request, now), now)


@router.delete(
    "/api/staff/session",
    summary="Sign out of one shelter (shelter_id) or of every code-signed shelter",
    responses=errors(401, 403),
)
def sign_out(
    conn: Conn,
    now: Now,
    request: Request,
    response: Response,
    shelter_id: str | None = None,
    csrf: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
) -> dict:
    _changing_access(conn, request, csrf, now)
    token = request.cookies.get(COOKIE)
    if token:
        sessions.close_session(conn, token=token, shelter_id=shelter_id)
        if shelter_id is None:
            response.delete_cookie(COOKIE, path="/")
    return {"signed_out": shelter_id or True}


@router.post(
    "/api/staff/events",
    responses=errors(401, 403, 404, 409),
    summary="Apply a batch of queued taps (+1/−1, exact count, open/close) to the shelters counted",
    description="All or nothing. Each event names its shelter (or the batch does, or the browser counts "
    "for one shelter only). Events already stored (same id) are counted as duplicates and change nothing. "
    "A bad event answers 422 with its `index` in the batch; a shelter this browser does not count for, 403.",
)
def post_events(
    batch: Batch,
    conn: Conn,
    now: Now,
    request: Request,
    csrf: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
) -> dict:
    found = _changing_access(conn, request, csrf, now)
    by = found.account.username if found.account else None
    counts: dict[str, list] = defaultdict(list)
    statuses: dict[str, list] = defaultdict(list)
    for index, item in enumerate(batch.events):
        shelter_id = (
            item.shelter_id or batch.shelter_id or (found.shelters[0] if len(found.shelters) == 1 else None)
        )
        if shelter_id is None:
            raise HTTPException(
                422, {"message": "which shelter? name shelter_id", "index": index, "id": str(item.id)}
            )
        if not found.may_count(shelter_id):
            raise HTTPException(403, f"this browser does not count for shelter {shelter_id}")
        try:
            if item.type == "status":
                event = status_event(
                    id=item.id, status=item.status or "", recorded_at=item.recorded_at, now=now
                )
                statuses[shelter_id].append(replace(event, entered_by=by))
            else:
                if item.value is None:
                    raise InvalidEvent(f"a {item.type} event needs a value")
                event = count_event(
                    id=item.id, kind=item.type, value=item.value, recorded_at=item.recorded_at, now=now
                )
                counts[shelter_id].append(replace(event, entered_by=by))
        except InvalidEvent as error:
            raise HTTPException(422, {"message": str(error), "index": index, "id": str(item.id)}) from None
    stored = duplicates = 0
    try:
        with conn.transaction():
            for shelter_id, events in counts.items():
                result = occupancy.record_counts(conn, shelter_id=shelter_id, events=events)
                stored, duplicates = stored + result["stored"], duplicates + result["duplicates"]
            for shelter_id, events in statuses.items():
                result = occupancy.record_status(conn, shelter_id=shelter_id, events=events)
                stored, duplicates = stored + result["stored"], duplicates + result["duplicates"]
    except ConflictingEvent as error:
        raise HTTPException(409, str(error)) from None
    except UnknownShelter as error:
        raise HTTPException(404, str(error)) from None
    current = batch.shelter_id or next(iter(counts), None) or next(iter(statuses), None)
    return {**_state(conn, request, found, now, current), "stored": stored, "duplicates": duplicates}
