"""Staff sign-in and the alert API through a real uvicorn server: roles, the approval
policy and CSRF enforced server-side, throttling, the live event stream."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest

from alerts import store
from alerts.model import Condition, Kind
from alerts.policy import ApprovalPolicy
from dashboard.main import create_app
from kawamori import db, staff
from kawamori.model import Role
from tests.helpers import serve, wait_for

STATION = "kyoden-jumonji"  # demo network; covers area-kyoden-lower
AREA = "area-kyoden-lower"
PASSWORD = "river-watch-2026"
PEOPLE = {
    "viewer": Role.viewer,
    "op": Role.operator,
    "ap": Role.approver,
    "ap2": Role.approver,
}


@pytest.fixture
def server(demo_db):
    with db.connect(demo_db) as conn:
        for username, role in PEOPLE.items():
            staff.create_user(
                conn,
                username=username,
                display_name=f"{username.upper()} 職員",
                role=role,
                password=PASSWORD,
                now=datetime.now(UTC),
            )
    with serve(create_app(demo_db)) as base:
        yield base, demo_db


def raise_alert(database_url: str, level: int, station: str = STATION) -> int:
    condition = Condition(
        station, Kind.stage, alert_level=level, stage_key="danger", details={"level_m": 7.4}
    )
    with db.connect(database_url) as conn:
        [t] = store.apply(
            conn, station_id=station, conditions=[condition], now=datetime.now(UTC), policy=ApprovalPolicy()
        )
    return t.after.id


def login_token(http: httpx.Client) -> str:
    page = http.get("/staff/login")
    return re.search(r'name="login_token" value="([^"]+)"', page.text)[1]


@contextmanager
def sign_in(base: str, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A signed-in client whose POSTs carry the CSRF token the console page holds."""
    with httpx.Client(base_url=base, timeout=10) as http:
        yield _sign_in(http, username, password)


def _sign_in(http: httpx.Client, username: str, password: str) -> httpx.Client:
    response = http.post(
        "/staff/login",
        data={"username": username, "password": password, "login_token": login_token(http)},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/alerts"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = http.get("/alerts")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1]
    http.headers["X-CSRF-Token"] = csrf
    return http


def test_unauthenticated_is_401_or_redirected(server):
    base, database_url = server
    alert_id = raise_alert(database_url, 4)
    with httpx.Client(base_url=base) as http:
        assert http.get("/api/alerts").status_code == 401
        assert http.get(f"/api/alerts/{alert_id}").status_code == 401
        assert http.get("/api/alerts/events").status_code == 401
        assert http.post(f"/api/alerts/{alert_id}/approve", json={}).status_code == 401
        page = http.get("/alerts")
        assert page.status_code == 303 and page.headers["location"].startswith("/staff/login?next=/alerts")


def test_viewer_sees_but_cannot_act(server):
    base, database_url = server
    alert_id = raise_alert(database_url, 4)
    with sign_in(base, "viewer") as http:
        [alert] = http.get("/api/alerts").json()
        assert alert["id"] == alert_id and alert["awaiting_level"] == 4
        assert alert["can"] == {"approve": False, "reject": False, "cancel": False, "acknowledge": False}
        response = http.post(f"/api/alerts/{alert_id}/approve", json={"reason": ""})
        assert response.status_code == 403
        assert http.get(f"/api/alerts/{alert_id}").json()["alert"]["state"] == "pending"


def test_operator_approves_level_4_and_the_audit_names_them(server):
    base, database_url = server
    alert_id = raise_alert(database_url, 4)
    with sign_in(base, "op") as http:
        [alert] = http.get("/api/alerts", params={"open_only": True}).json()
        assert (alert["state"], alert["approvals_needed"], alert["role_needed"]) == ("pending", 1, "operator")
        # the area's issuance: nothing issued yet, a proposal to raise it to level 4 on observed evidence
        assert (alert["kind"], alert["area_id"]) == ("area", AREA)
        assert (alert["alert_level"], alert["proposal"], alert["pending_level"]) == (None, "raise", 4)
        assert alert["proposal_reason"] == "observed"
        assert [(e["station"], e["level"]) for e in alert["details"]["evidence"]] == [(STATION, 4)]
        assert alert["areas"][0]["name_ja"] and alert["river_ja"]
        assert alert["can"]["approve"] and alert["status"] == "Actual"
        revision = alert["revision"]
        # a page that showed an older proposal cannot approve what it has not seen
        stale = http.post(f"/api/alerts/{alert_id}/approve", json={"reason": "", "revision": revision - 1})
        assert stale.status_code == 409 and "changed since you saw it" in stale.json()["detail"]
        assert http.get(f"/api/alerts/{alert_id}").json()["alert"]["state"] == "pending"
        approved = http.post(
            f"/api/alerts/{alert_id}/approve", json={"reason": "確認済み", "revision": revision}
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "active" and approved.json()["awaiting_level"] is None
        assert (approved.json()["alert_level"], approved.json()["proposal"]) == (4, None)
        detail = http.get(f"/api/alerts/{alert_id}").json()
        approvals = [e for e in detail["audit"] if e["action"] == "approved"]
        assert approvals[0]["actor"] == "OP 職員" and approvals[0]["reason"] == "確認済み"
        [issued] = [e for e in detail["audit"] if e["action"] == "issued"]
        assert issued["actor"] == "OP 職員" and issued["to_state"] == "active"
        assert http.post(f"/api/alerts/{alert_id}/approve", json={}).status_code == 409  # nothing awaits
        acknowledged = http.post(f"/api/alerts/{alert_id}/acknowledge", json={})
        assert acknowledged.json()["acknowledged_by"] == "OP 職員"
        assert http.post(f"/api/alerts/{alert_id}/cancel", json={"reason": ""}).status_code == 403
        cancelled = http.post(f"/api/alerts/{alert_id}/cancel", json={"reason": "センサー誤作動"})
        assert cancelled.json()["state"] == "cancelled"
        assert http.get("/api/alerts/999999").status_code == 404


def test_level_5_needs_two_different_approvers(server):
    base, database_url = server
    alert_id = raise_alert(database_url, 5)
    with sign_in(base, "op") as op:
        assert op.post(f"/api/alerts/{alert_id}/approve", json={}).status_code == 403  # needs approver
    with sign_in(base, "ap") as ap:
        first = ap.post(f"/api/alerts/{alert_id}/approve", json={})
        assert first.status_code == 200
        assert (first.json()["state"], first.json()["approvals_needed"]) == ("pending", 1)
        assert first.json()["can"]["approve"] is False  # not twice
        again = ap.post(f"/api/alerts/{alert_id}/approve", json={})
        assert again.status_code == 403 and "second person" in again.json()["detail"]
    with sign_in(base, "ap2") as ap2:
        second = ap2.post(f"/api/alerts/{alert_id}/approve", json={})
        assert second.json()["state"] == "active"
        assert [a["display_name"] for a in second.json()["approvals"]] == ["AP 職員", "AP2 職員"]
    with sign_in(base, "op") as op:  # cancelling level 5 needs an approver too
        [alert] = op.get("/api/alerts").json()
        assert alert["can"]["cancel"] is False
        assert op.post(f"/api/alerts/{alert_id}/cancel", json={"reason": "誤報"}).status_code == 403


def test_csrf_token_is_required_on_every_post(server):
    base, database_url = server
    alert_id = raise_alert(database_url, 4)
    with sign_in(base, "op") as http:
        del http.headers["X-CSRF-Token"]
        assert http.post(f"/api/alerts/{alert_id}/approve", json={}).status_code == 403
        http.headers["X-CSRF-Token"] = "forged"
        assert http.post(f"/api/alerts/{alert_id}/approve", json={}).status_code == 403
        assert http.post("/staff/logout").status_code == 403  # signing out needs it too
        assert http.get(f"/api/alerts/{alert_id}").json()["alert"]["state"] == "pending"
    with httpx.Client(base_url=base) as http:  # a sign-in form from another site has no token
        forged = http.post("/staff/login", data={"username": "op", "password": PASSWORD, "login_token": "x"})
        assert forged.status_code == 403 and "kawamori_session" not in forged.headers.get("set-cookie", "")


def test_sign_out_ends_the_session(server):
    base, _ = server
    with sign_in(base, "op") as http:
        response = http.post("/staff/logout")
        assert response.status_code == 303 and response.headers["location"].startswith("/staff/login")
        assert http.get("/api/alerts").status_code == 401


def test_sign_in_failures_look_the_same_and_are_throttled(server):
    base, _ = server
    with httpx.Client(base_url=base) as http:
        answers = []
        for username in ("op", "nobody"):
            for _ in range(staff.PER_USER_CLIENT.free):
                response = http.post(
                    "/staff/login",
                    data={
                        "username": username,
                        "password": "wrong-password",
                        "login_token": login_token(http),
                    },
                )
                assert response.status_code == 401
                answers.append(re.search(r'<p id="message"[^>]*>(.*?)</p>', response.text, re.S)[1])
            throttled = http.post(
                "/staff/login",
                data={"username": username, "password": PASSWORD, "login_token": login_token(http)},
            )
            assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
            assert "kawamori_session" not in throttled.headers.get("set-cookie", "")
        assert len(set(answers)) == 1 and "ユーザー名またはパスワードが違います" in answers[0]
    with sign_in(base, "ap") as other:  # other people can still sign in
        assert other.get("/api/alerts").status_code == 200
        assert "Sign in" in other.get("/staff/login", params={"lang": "en"}).text


def test_redirect_after_sign_in_stays_on_this_site(server):
    base, _ = server
    with httpx.Client(base_url=base) as http:
        response = http.post(
            "/staff/login",
            data={
                "username": "op",
                "password": PASSWORD,
                "login_token": login_token(http),
                "next": "//evil.example/",
            },
        )
        assert response.headers["location"] == "/alerts"


def test_event_stream_names_the_changed_alert(server):
    base, database_url = server
    client = httpx.Client(base_url=base, timeout=10)
    http = _sign_in(client, "op", PASSWORD)
    seen: list[str] = []

    def listen() -> None:
        with http.stream("GET", "/api/alerts/events", timeout=20) as stream:
            for line in stream.iter_lines():
                seen.append(line)
                if line.startswith('data: {"id"'):
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    wait_for(lambda: any(line.startswith("event: hello") for line in seen))
    wait_for(lambda: "event: resync" in seen)  # the listener is connected
    alert_id = raise_alert(database_url, 4)
    thread.join(15)
    assert f'data: {{"id": "{alert_id}"}}' in seen
    http.close()


def test_open_event_streams_do_not_hold_database_connections(server):
    base, _ = server
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(httpx.Client(base_url=base, timeout=10)) for _ in range(10)]
        for client in clients:  # more open consoles than the pool has connections (8)
            _sign_in(client, "op", PASSWORD)
            stream = stack.enter_context(client.stream("GET", "/api/alerts/events"))
            assert next(stream.iter_lines()).startswith("retry:")
        assert clients[0].get("/api/alerts", timeout=5).status_code == 200


def test_the_dashboard_applies_the_municipality_s_policy(demo_db):
    """The console enforces the same written policy as the evaluator: here level 4
    needs two approvers, so one operator may not approve it and one approver is not enough."""
    with db.connect(demo_db) as conn:
        for username, role in PEOPLE.items():
            staff.create_user(
                conn,
                username=username,
                display_name=username,
                role=role,
                password=PASSWORD,
                now=datetime.now(UTC),
            )
    strict = ApprovalPolicy(two_person_level=4)
    alert_id = raise_alert(demo_db, 4)
    with serve(create_app(demo_db, policy=strict)) as base:
        with sign_in(base, "op") as http:
            assert http.post(f"/api/alerts/{alert_id}/approve", json={}).status_code == 403
        with sign_in(base, "ap") as http:
            shown = http.get(f"/api/alerts/{alert_id}").json()["alert"]
            assert (shown["approvals_needed"], shown["role_needed"]) == (2, "approver")
            after = http.post(f"/api/alerts/{alert_id}/approve", json={"revision": shown["revision"]}).json()
            assert (after["state"], after["approvals_needed"]) == ("pending", 1)
