"""LINE against a local server that enforces the documented push contract (Bearer
token, JSON body shape, X-Line-Retry-Key a UUID, 409 for a key already accepted),
and webhooks that a fake LINE platform signs and posts to a local receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from alerts.model import Status
from notify.channels import Outcome
from notify.channels.line import LineNotifier, parse_webhook, retry_key
from notify.errors import InvalidSignature, NotPublicError
from tests.notify.factories import delivery, message
from tests.notify.peers import Answer, Request, http_peer

TOKEN = "test-channel-access-token-" + "x" * 40
SECRET = "0123456789abcdef0123456789abcdef"
USER = "U" + "4af4980629" * 3 + "ab"
OTHER = "U" + "1234567890" * 3 + "cd"


class LinePlatform:
    """The push endpoint as documented: answers 200 with sentMessages, 401 for a bad
    token, 400 for a bad body, 409 (with the accepted request id) for a reused key."""

    def __init__(self, status: int | None = None, headers: dict | None = None) -> None:
        self.accepted: dict[str, str] = {}  # retry key → request id
        self.messages: list[dict] = []
        self.status = status
        self.headers = headers or {}

    def __call__(self, request: Request) -> Answer:
        if self.status:
            return Answer(self.status, self.headers, b'{"message":"error"}')
        if request.path != "/v2/bot/message/push":
            return Answer(404)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Answer(401, body=b'{"message":"Authentication failed"}')
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Answer(415)
        key = request.headers.get("x-line-retry-key", "")
        try:
            uuid.UUID(key)
        except ValueError:
            return Answer(400, body=b'{"message":"The retry key is invalid"}')
        body = json.loads(request.body)
        ok = (
            set(body) == {"to", "messages"}
            and re.fullmatch(r"U[0-9a-f]{32}", body["to"])
            and 1 <= len(body["messages"]) <= 5
            and all(
                set(m) == {"type", "text"} and m["type"] == "text" and 0 < len(m["text"]) <= 5000
                for m in body["messages"]
            )
        )
        if not ok:
            return Answer(400, body=b'{"message":"The request body has 1 error(s)"}')
        if key in self.accepted:
            return Answer(409, {"x-line-accepted-request-id": self.accepted[key]}, b'{"message":"conflict"}')
        request_id = str(uuid.uuid4())
        self.accepted[key] = request_id
        self.messages.append(body)
        reply = {"sentMessages": [{"id": "461230966842064897", "quoteToken": "IStG5h1Tz7b"}]}
        return Answer(
            200,
            {"x-line-request-id": request_id, "Content-Type": "application/json"},
            json.dumps(reply).encode(),
        )


def notifier(url: str, token: str = TOKEN) -> LineNotifier:
    return LineNotifier(access_token=token, base_url=url, timeout=5)


def test_push_follows_the_contract_and_a_retry_never_duplicates():
    platform = LinePlatform()
    with http_peer(platform) as peer:
        line = notifier(peer.url)
        d = delivery("line", USER)
        first = line.send(d)
        again = line.send(d)  # e.g. the worker timed out before it saw the answer
        other = line.send(delivery("line", OTHER))
    assert (first.outcome, first.status) == (Outcome.delivered, 200)
    assert (again.outcome, again.status) == (Outcome.delivered, 409)
    assert again.provider_id == first.provider_id  # LINE says which request it had accepted
    assert other.ok
    assert len(platform.messages) == 2
    [text] = platform.messages[0]["messages"]
    assert text["text"] == d.rendered.body and text["text"].startswith("警戒レベル4「避難指示」")
    keys = [r.headers["x-line-retry-key"] for r in peer.requests]
    assert keys[0] == keys[1] != keys[2]
    assert keys[0] == str(retry_key(d.rendered.identifier, USER))


def test_the_retry_key_is_deterministic_per_message_version_and_recipient():
    assert retry_key("a:alert:1:1", USER) == retry_key("a:alert:1:1", USER)
    assert retry_key("a:alert:1:2", USER) != retry_key("a:alert:1:1", USER)
    assert retry_key("a:alert:1:1", OTHER) != retry_key("a:alert:1:1", USER)


def test_a_bad_token_is_permanent():
    with http_peer(LinePlatform()) as peer:
        result = notifier(peer.url, token="wrong").send(delivery("line", USER))
    assert (result.outcome, result.status) == (Outcome.failed, 401)
    assert TOKEN not in repr(result) and "wrong" not in repr(result)


def test_server_errors_and_rate_limits_are_retried():
    with http_peer(LinePlatform(status=500)) as peer:
        assert notifier(peer.url).send(delivery("line", USER)).outcome is Outcome.retry
    with http_peer(LinePlatform(status=429, headers={"Retry-After": "30"})) as peer:
        result = notifier(peer.url).send(delivery("line", USER))
    assert (result.outcome, result.retry_after) == (Outcome.retry, 30.0)


def test_an_exercise_is_never_pushed():
    with http_peer(LinePlatform()) as peer, pytest.raises(NotPublicError):
        notifier(peer.url).send(delivery("line", USER, msg=message(status=Status.test)))
    assert peer.requests == []


# --- webhook ----------------------------------------------------------------------------------


def webhook_body() -> bytes:
    base = {"mode": "active", "timestamp": 1767225600000, "deliveryContext": {"isRedelivery": False}}
    source = {"type": "user", "userId": USER}
    events = [
        {**base, "type": "follow", "webhookEventId": "01A", "replyToken": "r1", "source": source},
        {
            **base,
            "type": "message",
            "webhookEventId": "01B",
            "replyToken": "r2",
            "source": source,
            "message": {
                "id": "1",
                "type": "location",
                "title": "home",
                "address": "山形県鶴岡市…",
                "latitude": 38.7274,
                "longitude": 139.8267,
            },
        },
        {
            **base,
            "type": "message",
            "webhookEventId": "01C",
            "source": source,
            "message": {"type": "text", "text": "hi"},
        },
        {
            **base,
            "type": "unfollow",
            "webhookEventId": "01D",
            "source": source,
            "deliveryContext": {"isRedelivery": True},
        },
    ]
    return json.dumps({"destination": "U" + "0" * 32, "events": events}, ensure_ascii=False).encode()


class Receiver:
    """Kawamori's side: a local endpoint that verifies and parses what LINE posts."""

    def __init__(self) -> None:
        self.events = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    receiver.events += parse_webhook(
                        body, self.headers.get("X-Line-Signature"), channel_secret=SECRET
                    )
                    self.send_response(200)
                except InvalidSignature:
                    self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/line/webhook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


def line_signs(body: bytes, secret: str = SECRET) -> str:
    """What the LINE platform does (independently of notify.channels.line)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_signed_webhooks_give_follow_location_and_unfollow_events():
    receiver = Receiver()
    try:
        body = webhook_body()
        answer = httpx.post(receiver.url, content=body, headers={"X-Line-Signature": line_signs(body)})
        assert answer.status_code == 200
        follow, location, other, unfollow = receiver.events
        assert (follow.type, follow.user_id, follow.event_id) == ("follow", USER, "01A")
        assert (location.type, location.latitude, location.longitude) == ("location", 38.7274, 139.8267)
        assert other.type == "other"
        assert unfollow.type == "unfollow" and unfollow.redelivery
        assert USER not in repr(follow) and "38.7" not in repr(location)

        tampered = body.replace(b"38.7274", b"35.0000")
        assert (
            httpx.post(
                receiver.url, content=tampered, headers={"X-Line-Signature": line_signs(body)}
            ).status_code
            == 400
        )
        wrong_secret = line_signs(body, "another-secret")
        assert (
            httpx.post(receiver.url, content=body, headers={"X-Line-Signature": wrong_secret}).status_code
            == 400
        )
        assert httpx.post(receiver.url, content=body).status_code == 400
        assert len(receiver.events) == 4
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
