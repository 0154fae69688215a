"""Issue 20, finding 4: behind compose's plain-HTTP port no cookie ever got ``Secure``.
In production the dashboard now treats every request as https and sends its session
cookies as ``__Host-`` cookies, whatever the proxy says — shown on the real app served
by uvicorn over plain HTTP, as a proxy that forgot X-Forwarded-Proto would reach it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from dashboard.main import create_app
from kawamori import db, staff
from kawamori.model import Role
from tests.helpers import serve

PASSWORD = "river-watch-2026"


def cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the client sends nothing by itself here:
    a browser would never send a Secure cookie over plain HTTP)."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def sign_in(base: str) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=10, cookies=None) as http:
        form = http.get("/staff/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)[1]
        login_cookie = cookies(form)["kawamori_login"].split(";")[0]
        http.cookies.clear()
        return http.post(
            "/staff/login",
            data={"username": "op", "password": PASSWORD, "login_token": token},
            headers={"Cookie": login_cookie},
        )


def test_4_production_session_cookies_are_secure_host_cookies_whatever_the_proxy_says(demo_db):
    with db.connect(demo_db) as conn:
        now = datetime.now(UTC)
        staff.create_user(
            conn, username="op", display_name="OP", role=Role.operator, password=PASSWORD, now=now
        )
    with serve(create_app(demo_db, production=True)) as base:
        page = httpx.get(f"{base}/staff/login")
        assert all("Secure" in header for header in cookies(page).values())
        response = sign_in(base)
        assert response.status_code == 303, response.text
        session = cookies(response)["__Host-kawamori_session"]
        assert "Secure" in session and "Path=/" in session and "Domain" not in session
        value = session.split(";")[0].split("=", 1)[1]
        # the __Host- cookie signs the person in …
        alerts = f"{base}/api/alerts"
        assert httpx.get(alerts, headers={"Cookie": f"__Host-kawamori_session={value}"}).is_success
        # … a plain one (planted by a sub-domain, say) counts for nothing
        assert httpx.get(alerts, headers={"Cookie": f"kawamori_session={value}"}).status_code == 401


def test_4_development_keeps_plain_cookies_over_http(demo_db):
    with serve(create_app(demo_db)) as base:
        page = httpx.get(f"{base}/staff/login")
        assert "Secure" not in cookies(page)["kawamori_login"]
