"""The dashboard with the rescue component on a real uvicorn server over the demo
database, a subscriber key, and staff accounts with and without the rescue permission."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from dashboard.main import create_app
from dashboard.routers.residents import ResidentConfig
from kawamori import db, staff
from kawamori.model import Role
from rescue import store
from tests.helpers import serve
from tests.notify.subscribers import NOW, new_key

PASSWORD = "correct horse battery staple 42"
CITY_PHONE = "0235-25-2111"


@pytest.fixture
def key():
    return new_key()


@pytest.fixture
def conn(demo_db):
    with db.connect(demo_db) as connection:
        yield connection


@pytest.fixture
def app(demo_db, key):
    with db.connect(demo_db) as conn:
        for name, permitted in (("rescuer", True), ("clerk", False)):
            staff.create_user(
                conn,
                username=name,
                display_name=f"{name} 職員",
                role=Role.operator,
                password=PASSWORD,
                now=NOW,
            )
            if permitted:
                store.grant(conn, username=name, by="test", now=NOW)
    return create_app(
        demo_db, clock=lambda: NOW, residents_config=ResidentConfig(key=key, city_phone=CITY_PHONE)
    )


@pytest.fixture
def base_url(app) -> Iterator[str]:
    with serve(app) as base:
        yield base


@pytest.fixture
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


@contextmanager
def signed_in(base_url: str, username: str) -> Iterator[httpx.Client]:
    """A signed-in browser whose requests carry the session's CSRF token."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        page = http.get("/staff/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', page)[1]
        answer = http.post(
            "/staff/login", data={"username": username, "password": PASSWORD, "login_token": token}
        )
        assert answer.status_code == 303, answer.text
        page = http.get("/rescue").text
        http.headers["X-CSRF-Token"] = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
        yield http
