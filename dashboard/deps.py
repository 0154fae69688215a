"""Shared FastAPI dependencies: a pooled database connection, the clock, the public
base URL, and the signed-in staff member (session cookie, role, CSRF token)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import APIKeyCookie

from alerts.policy import ApprovalPolicy
from kawamori import staff
from kawamori.model import Actor, Role

SESSION_COOKIE = "kawamori_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BIGINT = 2**63 - 1

# an id in the path that is a database bigint: out of range is a 422, never a 500
BigintId = Annotated[int, Path(ge=0, le=MAX_BIGINT)]


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


def get_now(request: Request) -> datetime:
    return request.app.state.clock() if hasattr(request.app.state, "clock") else datetime.now(UTC)


def get_base_url(request: Request) -> str:
    """The base of absolute links: KAWAMORI_PUBLIC_URL (required in production), else
    the request's own address (development)."""
    configured = getattr(request.app.state, "public_url", None)
    return configured or str(request.base_url).rstrip("/")


def get_policy(request: Request) -> ApprovalPolicy:
    """The municipality's approval policy: the same file as the evaluator's."""
    return request.app.state.policy


Conn = Annotated[psycopg.Connection, Depends(get_conn)]
Policy = Annotated[ApprovalPolicy, Depends(get_policy)]
Now = Annotated[datetime, Depends(get_now)]
BaseUrl = Annotated[str, Depends(get_base_url)]


session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="staff session",
    description="Sign in at /staff/login; other than GET needs the session's CSRF token in X-CSRF-Token",
    auto_error=False,
)


def current_session(
    request: Request, conn: Conn, now: Now, token: Annotated[str | None, Depends(session_cookie)]
) -> staff.Session:
    """The signed-in staff member's session (401 without one). Every request other than
    GET/HEAD/OPTIONS must carry the session's CSRF token in ``X-CSRF-Token`` (403), and
    a generated password must be changed first (403)."""
    try:
        session = staff.current_session(conn, token=token, now=now)
    except staff.NotSignedIn as error:
        raise HTTPException(401, str(error)) from None
    if session.must_change_password:
        raise HTTPException(403, "change your password first: /staff/password")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not staff.same(sent, session.csrf_token):
            raise HTTPException(403, "missing or wrong CSRF token; reload the page")
    return session


StaffSession = Annotated[staff.Session, Depends(current_session)]


def optional_session(request: Request, conn: Conn, now: Now) -> staff.Session | None:
    """The signed-in staff member's session, or None (for a GET that shows staff more)."""
    try:
        return staff.current_session(conn, token=request.cookies.get(SESSION_COOKIE), now=now)
    except staff.NotSignedIn:
        return None


MaybeStaff = Annotated[staff.Session | None, Depends(optional_session)]


def current_actor(session: StaffSession) -> Actor:
    return session.actor


def require_role(role: Role) -> Callable[[staff.Session], Actor]:
    """A dependency: the signed-in actor, if their role is at least ``role`` (403 otherwise)."""

    def check(session: StaffSession) -> Actor:
        if not session.actor.role.at_least(role):
            raise HTTPException(403, f"this needs the {role} role or higher")
        return session.actor

    return check


CurrentActor = Annotated[Actor, Depends(current_actor)]
Operator = Annotated[Actor, Depends(require_role(Role.operator))]
Admin = Annotated[Actor, Depends(require_role(Role.admin))]
