"""The signed gateway webhook against a local receiver that verifies the HMAC the way
a gateway's own code would (independently of notify.channels.webhook)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from alerts.model import Status
from notify.channels import Outcome
from notify.channels.webhook import WebhookNotifier, sign, verify
from notify.errors import NotPublicError
from tests.notify.factories import UNSUBSCRIBE_URL, delivery, message
from tests.notify.peers import Answer, Request, http_peer

SECRET = "gateway-signing-secret-" + "k" * 24
PHONE = "+81235000000"


class Gateway:
    def __init__(self, status: int = 202, secret: str = SECRET) -> None:
        self.status = status
        self.secret = secret
        self.accepted: list[dict] = []
        self.taken: set[str] = set()
        self.repeats = 0  # requests for a delivery already taken: answered, not sent again

    def __call__(self, request: Request) -> Answer:
        timestamp = request.headers["x-kawamori-timestamp"]
        expected = hmac.new(self.secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
        if not hmac.compare_digest("v1=" + expected.hexdigest(), request.headers["x-kawamori-signature"]):
            return Answer(401)
        if abs(time.time() - int(timestamp)) > 300:
            return Answer(401)
        if request.headers["content-type"] != "application/json; charset=utf-8":
            return Answer(415)
        if self.status < 300 and request.headers["x-kawamori-delivery"] in self.taken:
            self.repeats += 1  # the documented contract: take each delivery id once
            return Answer(self.status)
        if self.status < 300:
            self.taken.add(request.headers["x-kawamori-delivery"])
        self.accepted.append(json.loads(request.body.decode("utf-8")))
        return Answer(self.status)


def send(channel: str, gateway: Gateway, *, secret: str = SECRET, msg=None, language="ja"):
    with http_peer(gateway) as peer:
        notifier = WebhookNotifier(url=f"{peer.url}/kawamori", secret=secret, timeout=5)
        d = delivery(channel, PHONE, msg=msg, language=language)
        return notifier.send(d), d, peer


def test_sms_payload_is_signed_and_complete():
    gateway = Gateway()
    result, d, peer = send("sms", gateway)
    assert (result.outcome, result.status) == (Outcome.delivered, 202)
    [body] = gateway.accepted
    assert body["channel"] == "sms" and body["recipient"] == PHONE and body["status"] == "Actual"
    assert body["text"] == body["short_text"] == d.rendered.short_text
    assert body["speech_text"] == d.rendered.speech_text
    assert body["unsubscribe_url"] == UNSUBSCRIBE_URL
    assert body["urgency"] == "high"
    assert peer.requests[0].headers["x-kawamori-delivery"] == d.id


def test_voice_and_radio_get_speech_fax_gets_the_full_text():
    for channel in ("voice", "radio"):
        gateway = Gateway()
        assert send(channel, gateway)[0].ok
        text = gateway.accepted[0]["text"]
        assert "http" not in text and "【" not in text and "すぐに避難してください" in text
    gateway = Gateway()
    send("fax", gateway)
    assert "1. 朝暘第一小学校" in gateway.accepted[0]["text"]


def test_a_wrong_secret_is_refused_by_the_gateway():
    result, _, _ = send("sms", Gateway(), secret="another-secret-" + "x" * 30)
    assert (result.outcome, result.status) == (Outcome.failed, 401)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.delivered),
        (410, Outcome.gone),
        (503, Outcome.retry),
        (429, Outcome.retry),
        (400, Outcome.failed),
    ],
)
def test_the_gateways_answer_is_classified(status, outcome):
    assert send("sms", Gateway(status))[0].outcome is outcome


def test_verify_for_gateways_written_in_python():
    body = b'{"text":"\xe9\x81\xbf\xe9\x9b\xa3"}'
    now = 1_790_000_000
    signature = sign(SECRET, str(now), body)
    assert verify(SECRET, str(now), body, signature, now=now + 10)
    assert not verify(SECRET, str(now), body + b" ", signature, now=now)
    assert not verify("other", str(now), body, signature, now=now)
    assert not verify(SECRET, str(now), body, signature, now=now + 301)  # a replayed old request
    assert not verify(SECRET, "yesterday", body, signature, now=now)


def test_an_exercise_never_reaches_a_gateway():
    with http_peer(Gateway()) as peer:
        notifier = WebhookNotifier(url=peer.url, secret=SECRET)
        for status in (Status.exercise, Status.test):
            with pytest.raises(NotPublicError):
                notifier.send(delivery("radio", "area:oyama", msg=message(status=status)))
    assert peer.requests == []
