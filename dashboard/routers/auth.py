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
from dashboard.pages import language, secure_headers, templates
from kawamori import staff

router = APIRouter(prefix="/staff", tags=["staff accounts"])

LOGIN_COOKIE = "kawamori_login"
MESSAGES = {
    "invalid": {
        "ja": "ユーザー名またはパスワードが違います。",
        "en": "Wrong user name or password.",
    },
    "throttled": {
        "ja": "失敗が続いたため、ログインを一時停止しています。約{minutes}分後にもう一度お試しください。",
        "en": "Too many failed attempts. Please try again in about {minutes} minutes.",
    },
    "expired": {
        "ja": "画面の有効期限が切れました。もう一度入力してください。",
        "en": "This page expired. Please enter your details again.",
    },
    "signed_out": {"ja": "ログアウトしました。", "en": "You have signed out."},
}


def safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//other.example`` or a full URL)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/alerts"
    return target


def _form(
    request: Request, *, lang: str, next_path: str, message: str | None, status: int = 200, **values
) -> Response:
    login_token = staff.new_token()
    text = MESSAGES[message][lang].format(**values) if message else None
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


@router.post("/login", summary="Sign in (form post); on success, a session cookie and a redirect")
def login(
    request: Request,
    conn: Conn,
    now: Now,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/alerts",
    lang: Annotated[str, Form(max_length=5)] = "ja",
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
        token, _session = staff.sign_in(conn, username=username, password=password, client=client, now=now)
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
    response = RedirectResponse(next_path, status_code=303)
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


@router.post("/logout", summary="Sign out (needs the CSRF token as a form field or X-CSRF-Token)")
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
