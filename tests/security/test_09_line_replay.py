"""Finding 9: LINE webhook events without ``webhookEventId`` were acted on every time
they were replayed, old timestamps were accepted, ``line_events`` was never purged, and
replies used a second HTTP stack (httpx, a client per request, proxy variables
honoured). A captured, correctly signed request is replayed here against the app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from dashboard.routers import line_webhook
from kawamori import db
from notify.channels import line
from tests.dashboard.conftest import LINE_SECRET
from tests.helpers import wait_for
from tests.notify.subscribers import IN_UPPER, line_user


def signed(events: list[dict]) -> tuple[bytes, dict]:
    body = json.dumps({"destination": "Ubot", "events": events}).encode()
    return body, {"X-Line-Signature": line.signature(LINE_SECRET, body), "Content-Type": "application/json"}


def location_event(user: str, when: datetime, event_id: str | None) -> dict:
    event = {
        "type": "message",
        "timestamp": int(when.timestamp() * 1000),
        "source": {"type": "user", "userId": user},
        "replyToken": "reply-token",
        "message": {"id": "1", "type": "location", "latitude": IN_UPPER[0], "longitude": IN_UPPER[1]},
    }
    if event_id:
        event["webhookEventId"] = event_id
    return event


def unfollow_event(user: str, when: datetime, event_id: str | None) -> dict:
    event = {
        "type": "unfollow",
        "timestamp": int(when.timestamp() * 1000),
        "source": {"type": "user", "userId": user},
    }
    if event_id:
        event["webhookEventId"] = event_id
    return event


def subscriptions(stack) -> int:
    with db.connect(stack.database_url) as conn:
        return conn.execute("SELECT count(*) FROM subscriptions WHERE channel = 'line'").fetchone()[0]


def test_a_replayed_webhook_changes_nothing(stack):
    now = datetime.now(UTC)
    user = line_user(3)
    with stack.client("203.0.113.200") as attacker:
        # captured: a resident's location (with an id) and, later, their unfollow (without one)
        register = signed([location_event(user, now, "01HREGISTER")])
        assert attacker.post("/line/webhook", content=register[0], headers=register[1]).status_code == 200
        assert subscriptions(stack) == 1
        unfollow = signed([unfollow_event(user, now, None)])
        assert attacker.post("/line/webhook", content=unfollow[0], headers=unfollow[1]).status_code == 200
        assert subscriptions(stack) == 1  # no id: not acted on
        gone = signed([unfollow_event(user, now, "01HUNFOLLOW")])
        assert attacker.post("/line/webhook", content=gone[0], headers=gone[1]).status_code == 200
        assert subscriptions(stack) == 0
        # the registration replayed: the same id is known
        assert attacker.post("/line/webhook", content=register[0], headers=register[1]).status_code == 200
        assert subscriptions(stack) == 0
        # an old registration, with an id never seen (or purged long ago): too old
        old = signed(
            [location_event(user, now - line_webhook.MAX_EVENT_AGE - timedelta(minutes=1), "01HOLD")]
        )
        assert attacker.post("/line/webhook", content=old[0], headers=old[1]).status_code == 200
        assert subscriptions(stack) == 0


def test_known_event_ids_are_purged_after_they_can_no_longer_be_replayed(stack):
    now = datetime.now(UTC)
    with db.connect(stack.database_url) as conn:
        conn.execute(
            "INSERT INTO line_events (event_id, received_at) VALUES ('ancient', %s), ('recent', %s)",
            (now - line_webhook.KEEP_EVENT_IDS - timedelta(minutes=1), now),
        )
    body, headers = signed([location_event(line_user(4), now, "01HNEW")])
    with stack.client() as http:
        assert http.post("/line/webhook", content=body, headers=headers).status_code == 200
    with db.connect(stack.database_url) as conn:
        ids = {r[0] for r in conn.execute("SELECT event_id FROM line_events")}
    assert ids == {"recent", "01HNEW"}
    assert line_webhook.KEEP_EVENT_IDS > line_webhook.MAX_EVENT_AGE


def test_replies_use_the_notifiers_client_and_no_proxy(stack, line_api, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # honoured, it would fail every reply
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    user = line_user(5)
    body, headers = signed([{**location_event(user, datetime.now(UTC), "01HREPLY"), "replyToken": "tok-1"}])
    with stack.client() as http:
        assert http.post("/line/webhook", content=body, headers=headers).status_code == 200
    wait_for(lambda: any(json.loads(r.body).get("replyToken") == "tok-1" for r in line_api.requests))
    with open(line_webhook.__file__, encoding="utf-8") as source:
        assert "httpx" not in source.read()
