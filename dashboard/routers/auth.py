"""Staff sign-in and sign-out (server-rendered, Japanese and English).

The sign-in form has its own CSRF token (a short-lived cookie echoed in a hidden
field), so another site cannot sign a browser in to an account of its choosing. The
session cookie is HttpOnly, SameSite=Strict and Secure when served over https."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboard.deps import CSRF_HEADER, SESSION_COOKIE, Conn, Now
from dashboard.openapi import errors
from dashboard.pages import language, secure_headers, templates
from kawamori import staff
from kawamori.texts import say

router = APIRouter(prefix="/staff", tags=["staff accounts"])

LOGIN_COOKIE = "kawamori_login"
DEVICE_COOKIE = "kawamori_device"  # a browser that has signed in to the account before


def safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//other.example`` or a full URL)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/alerts"
    return target


def _form(
    request: Request, *, lang: str, next_path: str, message: str | None, status: int = 200, **values
) -> Response:
    login_token = staff.new_token()
    text = say(f"console.signin.message.{message}", lang, **values) if message else None
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "lang": lang,
            "next": next_path,
            "login_token": login_token,
            "message": text,
            "error": message not in (None, "signed_out"),
            "username": values.get("username", ""),
            "ask_code": message == "code",
        },
        status_code=status,
        headers=secure_headers(),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        login_token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/staff",
    )
    return response


@router.get("/login", response_class=HTMLResponse, summary="The sign-in page")
def login_page(request: Request, lang: str | None = None, next: str | None = None, bye: int = 0) -> Response:
    return _form(
        request,
        lang=language(request, lang),
        next_path=safe_next(next),
        message="signed_out" if bye else None,
    )


@router.post(
    "/login",
    response_class=HTMLResponse,
    summary="Sign in (form post); on success, a session cookie and a redirect",
    responses=errors(
        s303="signed in: to the page asked for (or to change a generated password)",
        s401="wrong user name or password, or the TOTP code is needed (the form again)",
        s403="the form expired (its token), or a second factor is required and not set up",
        s429="too many failures: wait Retry-After seconds",
    ),
)
def login(
    request: Request,
    conn: Conn,
    now: Now,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/alerts",
    lang: Annotated[str, Form(max_length=5)] = "ja",
    code: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    lang = language(request, lang)
    next_path = safe_next(next)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not login_token or not expected or not staff.same(login_token, expected):
        return _form(
            request, lang=lang, next_path=next_path, message="expired", status=403, username=username
        )
    client = request.client.host if request.client else "unknown"
    try:
        token, session = staff.sign_in(
            conn,
            username=username,
            password=password,
            client=client,
            now=now,
            device=request.cookies.get(DEVICE_COOKIE),
            code=code,
        )
    except staff.SecondFactorNeeded:
        return _form(request, lang=lang, next_path=next_path, message="code", status=401, username=username)
    except staff.Throttled as error:
        response = _form(
            request,
            lang=lang,
            next_path=next_path,
            message="throttled",
            status=429,
            minutes=error.retry_after // 60 + 1,
            username=username,
        )
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except staff.InvalidCredentials:
        return _form(
            request, lang=lang, next_path=next_path, message="invalid", status=401, username=username
        )
    required = request.app.state.security.require_totp_from
    if (
        required
        and session.actor.role.at_least(required)
        and not staff.has_totp(conn, user_id=session.actor.id)
    ):
        staff.sign_out(conn, token=token, now=now)
        return _form(request, lang=lang, next_path=next_path, message="totp_required", status=403)
    if session.must_change_password:
        next_path = f"/staff/password?next={quote(next_path)}&lang={lang}"
    response = RedirectResponse(next_path, status_code=303)
    if session.device_token:
        response.set_cookie(
            DEVICE_COOKIE,
            session.device_token,
            max_age=int(staff.DEVICE_LIFETIME.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/staff",
        )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(staff.SESSION_LENGTH.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/staff")
    return response


@router.post(
    "/logout",
    summary="Sign out (needs the CSRF token as a form field or X-CSRF-Token)",
    responses=errors(403, s303="signed out: to the sign-in page"),
)
def logout(
    request: Request,
    conn: Conn,
    now: Now,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    lang: Annotated[str, Form(max_length=5)] = "",
    csrf_header: Annotated[str, Header(alias=CSRF_HEADER)] = "",
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    sent = csrf_header or csrf_token
    lang = language(request, lang or None)
    if token:
        try:
            session = staff.current_session(conn, token=token, now=now)
        except staff.NotSignedIn:
            session = None
        if session is not None:
            if not sent or not staff.same(sent, session.csrf_token):
                return Response("missing or wrong CSRF token", status_code=403)
            staff.sign_out(conn, token=token, now=now)
    response = RedirectResponse(f"/staff/login?bye=1&lang={quote(lang)}", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _password_form(
    request: Request, session: staff.Session, *, lang: str, next_path: str, message: str | None, status=200
) -> Response:
    return templates.TemplateResponse(
        request,
        "password.html",
        {
            "lang": lang,
            "next": next_path,
            "csrf_token": session.csrf_token,
            "username": session.actor.username,
            "message": say(f"console.signin.message.{message}", lang) if message else None,
            "error": message not in (None, "must_change"),
        },
        status_code=status,
        headers=secure_headers(),
    )


@router.get(
    "/password",
    response_class=HTMLResponse,
    summary="The page to change one's own password",
    responses=errors(s303="not signed in: to the sign-in page"),
)
def password_page(
    request: Request, conn: Conn, now: Now, lang: str | None = None, next: str | None = None
) -> Response:
    try:
        session = staff.current_session(conn, token=request.cookies.get(SESSION_COOKIE), now=now)
    except staff.NotSignedIn:
        return RedirectResponse("/staff/login?next=/staff/password", status_code=303)
    return _password_form(
        request,
        session,
        lang=language(request, lang),
        next_path=safe_next(next),
        message="must_change" if session.must_change_password else None,
    )


@router.post(
    "/password",
    response_class=HTMLResponse,
    summary="Change one's own password (form post; needs the CSRF token)",
    responses=errors(
        403,
        s303="changed (to the page asked for), or not signed in (to the sign-in page)",
        s422="the two new passwords differ, or the new one is too weak (the form again)",
    ),
)
def change_password(
    request: Request,
    conn: Conn,
    now: Now,
    current: Annotated[str, Form(max_length=1024)] = "",
    new: Annotated[str, Form(max_length=1024)] = "",
    again: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/alerts",
    lang: Annotated[str, Form(max_length=5)] = "ja",
) -> Response:
    lang = language(request, lang)
    next_path = safe_next(next)
    token = request.cookies.get(SESSION_COOKIE) or ""
    try:
        session = staff.current_session(conn, token=token, now=now)
    except staff.NotSignedIn:
        return RedirectResponse("/staff/login?next=/staff/password", status_code=303)
    if not csrf_token or not staff.same(csrf_token, session.csrf_token):
        return Response("missing or wrong CSRF token", status_code=403)

    def again_with(message: str, status: int) -> Response:
        return _password_form(
            request, session, lang=lang, next_path=next_path, message=message, status=status
        )

    if new != again:
        return again_with("mismatch", 422)
    try:
        staff.change_own_password(conn, token=token, current=current, new=new, now=now)
    except staff.InvalidCredentials:
        return again_with("wrong_current", 403)
    except staff.WeakPassword:
        return again_with("weak", 422)
    first_admin = request.app.state.security.first_admin_file
    if session.must_change_password and first_admin is not None:
        _forget_first_admin_file(first_admin, session.actor.username)
    return RedirectResponse(next_path, status_code=303)


def _forget_first_admin_file(path, username: str) -> None:
    """The first admin chose a password: the generated one's file goes."""
    try:
        if path.read_text(encoding="utf-8").split()[:1] == [username]:
            path.unlink()
    except (OSError, UnicodeDecodeError):
        pass
