"""Finding 10: shelter access-code sign-in had no throttling (each try a 16 MiB scrypt);
the first admin's generated password was never changed and its file never removed;
the common-password list had 35 entries; approvers and admins had no second factor."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from dashboard.security import SecurityConfig
from kawamori import db, staff, totp
from kawamori.model import Role
from kawamori_app.stack import create_first_admin
from shelters.sessions import PER_CLIENT, set_access_code
from tests.helpers import serve
from tests.security.conftest import PASSWORD, Stack, make_app, post_login

SHELTER = "demo-fujishima-center"


def test_guessing_shelter_codes_is_throttled_before_any_scrypt(stack):
    with db.connect(stack.database_url) as conn:
        code = set_access_code(conn, shelter_id=SHELTER)
    statuses = []
    with stack.client("203.0.113.77") as guesser:
        started = time.monotonic()
        for i in range(40):
            answer = guesser.post(
                "/api/staff/session", json={"shelter_id": SHELTER, "code": f"GUESS-{i:04d}-XXXX"}
            )
            statuses.append(answer.status_code)
        elapsed = time.monotonic() - started
        assert int(answer.headers["retry-after"]) > 0
        # even the right code waits: the guesser cannot tell
        assert (
            guesser.post("/api/staff/session", json={"shelter_id": SHELTER, "code": code}).status_code == 429
        )
    assert statuses == [401] * PER_CLIENT.free + [429] * (40 - PER_CLIENT.free)
    assert elapsed < 15  # the refused tries cost no scrypt
    with stack.client("198.51.100.20") as staff_at_the_shelter:  # someone else signs in at once
        assert (
            staff_at_the_shelter.post(
                "/api/staff/session", json={"shelter_id": SHELTER, "code": code}
            ).status_code
            == 200
        )


def test_the_first_admin_must_replace_the_generated_password_and_its_file_goes(
    demo_db, key, line_api, mailbox, tmp_path
):
    with db.connect(demo_db) as conn:
        username, password, path = create_first_admin(conn, tmp_path)
    security = SecurityConfig(first_admin_file=path)
    app = make_app(demo_db, key=key, line_api=line_api, mailbox=mailbox, security=security)
    with serve(app) as url:
        stack = Stack(url, demo_db, app)
        with stack.client() as http:
            signed_in = post_login(http, username, password)
            assert signed_in.status_code == 303
            assert signed_in.headers["location"].startswith("/staff/password")
            assert http.get("/api/alerts").status_code == 403  # nothing else until it is changed
            page = http.get(signed_in.headers["location"])
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
            common = http.post(
                "/staff/password", data={"current": password, "new": "1qaz2wsx3edc", "again": "1qaz2wsx3edc",
                                         "csrf_token": csrf},
            )  # fmt: skip
            assert common.status_code == 422  # from zxcvbn's list of 30,000, not 35
            assert path.exists()
            new = "high-water-mark-2026"
            changed = http.post(
                "/staff/password", data={"current": password, "new": new, "again": new, "csrf_token": csrf}
            )
            assert changed.status_code == 303
            assert http.get("/api/alerts").status_code == 200
        assert not path.exists()
        with stack.client() as http:
            assert post_login(http, username, password).status_code == 401
            assert post_login(http, username, "high-water-mark-2026").headers["location"] == "/alerts"


def test_approvers_and_admins_need_a_second_factor(demo_db, key, line_api, mailbox):
    with db.connect(demo_db) as conn:
        for username, role in (("ap", Role.approver), ("op", Role.operator)):
            staff.create_user(conn, username=username, display_name=username, role=role, password=PASSWORD,
                              now=datetime.now(UTC))  # fmt: skip
    security = SecurityConfig(require_totp_from=Role.approver)
    app = make_app(demo_db, key=key, line_api=line_api, mailbox=mailbox, security=security)
    with serve(app) as url:
        stack = Stack(url, demo_db, app)
        with stack.client() as http:  # a stolen password is not enough for an approver...
            assert post_login(http, "ap", PASSWORD).status_code == 403
            assert post_login(http, "op", PASSWORD).status_code == 303  # (an operator needs none)
        with db.connect(demo_db) as conn:
            secret = staff.set_totp(conn, username="ap", enable=True, now=datetime.now(UTC))
        with stack.client() as http:
            asked = post_login(http, "ap", PASSWORD)
            assert asked.status_code == 401 and 'name="code"' in asked.text
            code = totp.code_at(secret, datetime.now(UTC))
            assert post_login(http, "ap", PASSWORD, code=code).status_code == 303
        with stack.client() as replay:  # ...and a code seen once is spent
            assert post_login(replay, "ap", PASSWORD, code=code).status_code == 401
