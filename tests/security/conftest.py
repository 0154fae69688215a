"""The real dashboard on a real uvicorn server over the demo database (PostgreSQL of
the test run), with residents' channels configured and staff accounts, for the attacks
of issue 20 (an ASVS level-1 review). Each test reproduces one finding's attack as it
was measured and shows it now fails.

Clients are told apart by ``X-Forwarded-For``: uvicorn trusts it from 127.0.0.1, where
the tests connect from, as it would from the reverse proxy in production."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from dashboard.main import create_app
from dashboard.routers.residents import ResidentConfig
from dashboard.security import SecurityConfig
from kawamori import db, staff
from kawamori.model import Role
from tests.dashboard.conftest import LINE_SECRET, VAPID_PUBLIC, key, line_api, mailbox  # noqa: F401
from tests.helpers import serve

PASSWORD = "river-watch-2026"
PEOPLE = {"admin": Role.admin, "ap": Role.approver, "op": Role.operator}


@dataclass
class Stack:
    url: str
    database_url: str
    app: object

    def client(self, address: str = "198.51.100.7", **kwargs) -> httpx.Client:
        """A browser at ``address``."""
        return httpx.Client(
            base_url=self.url, timeout=15, headers={"X-Forwarded-For": address}, trust_env=False, **kwargs
        )


def make_app(database_url: str, *, key, line_api, mailbox, security: SecurityConfig | None = None):  # noqa: F811
    return create_app(
        database_url,
        residents_config=ResidentConfig(
            key=key,
            vapid_public_key=VAPID_PUBLIC,
            line_channel_secret=LINE_SECRET,
            line_access_token="line-token",
            line_api_base_url=line_api.url,
            subscribe_limit_per_hour=1000,
            mailer=mailbox.mailer,
        ),
        security=security,
    )


def add_staff(database_url: str) -> None:
    with db.connect(database_url) as conn:
        for username, role in PEOPLE.items():
            staff.create_user(
                conn,
                username=username,
                display_name=f"{username.upper()} 職員",
                role=role,
                password=PASSWORD,
                now=datetime.now(UTC),
            )


@pytest.fixture
def stack(demo_db, key, line_api, mailbox) -> Iterator[Stack]:  # noqa: F811
    add_staff(demo_db)
    app = make_app(demo_db, key=key, line_api=line_api, mailbox=mailbox)
    with serve(app) as url:
        yield Stack(url, demo_db, app)


def login_token(http: httpx.Client) -> str:
    page = http.get("/staff/login")
    return re.search(r'name="login_token" value="([^"]+)"', page.text)[1]


def post_login(http: httpx.Client, username: str, password: str, **fields) -> httpx.Response:
    return http.post(
        "/staff/login",
        data={"username": username, "password": password, "login_token": login_token(http), **fields},
    )


@contextmanager
def signed_in(stack: Stack, username: str, address: str = "198.51.100.7") -> Iterator[httpx.Client]:
    """A signed-in browser whose requests carry the session's CSRF token."""
    with stack.client(address) as http:
        response = post_login(http, username, PASSWORD)
        assert response.status_code == 303, response.text
        page = http.get("/alerts")
        http.headers["X-CSRF-Token"] = re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1]
        yield http
