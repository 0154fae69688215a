"""Web Push against a local RFC 8030 push service that checks the VAPID JWT (RFC 8292)
with its own ES256 verification, checks TTL/Urgency/Topic, and decrypts the body
(RFC 8291, aes128gcm) with http_ece and the subscription's private key."""

from __future__ import annotations

import base64
import json
import os
import re
import time

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from alerts.message import Response
from alerts.model import MsgType, Status
from notify.channels import Outcome, WebPushSubscription
from notify.channels.webpush import WebPushNotifier, generate_vapid_keys, public_key_of
from notify.errors import ChannelConfigError, NotPublicError
from notify.render import Shelter
from tests.notify.factories import delivery, message
from tests.notify.peers import Answer, Request, free_port, http_peer

SUBJECT = "mailto:bousai@example.jp"


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Browser:
    """What a browser holds for one push subscription: its ECDH key and auth secret."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.p256dh = b64e(public)

    def subscription(self, endpoint: str) -> WebPushSubscription:
        return WebPushSubscription(endpoint=endpoint, p256dh=self.p256dh, auth=b64e(self.auth))

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        return json.loads(plain)


class PushService:
    """The checks an RFC 8030 push service makes; ``status`` is what it then answers."""

    def __init__(self, vapid_public: str, browser: Browser, status: int = 201, headers=None) -> None:
        self.vapid_public = vapid_public
        self.browser = browser
        self.status = status
        self.headers = headers or {}
        self.url = ""
        self.received: list[dict] = []
        self.errors: list[str] = []

    def __call__(self, request: Request) -> Answer:
        try:
            self.check(request)
        except (AssertionError, InvalidSignature, ValueError) as error:
            self.errors.append(repr(error))
            return Answer(401 if "vapid" in repr(error).lower() else 400)
        return Answer(self.status, {"Location": f"{self.url}/m/1", **self.headers})

    def check(self, request: Request) -> None:
        scheme, _, params = request.headers["authorization"].partition(" ")
        assert scheme == "vapid", "vapid scheme"
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        assert fields["k"] == self.vapid_public, "vapid key"
        header_b64, claims_b64, signature_b64 = fields["t"].split(".")
        header = json.loads(b64d(header_b64))
        claims = json.loads(b64d(claims_b64))
        assert header == {"typ": "JWT", "alg": "ES256"}, "vapid header"
        raw = b64d(signature_b64)
        assert len(raw) == 64, "vapid ES256 signature length"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(fields["k"]))
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        assert claims["aud"] == self.url, "vapid aud"
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600, "vapid exp"
        assert claims["sub"] == SUBJECT, "vapid sub"
        assert int(request.headers["ttl"]) > 0
        assert request.headers["urgency"] in {"very-low", "low", "normal", "high"}
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", request.headers["topic"])
        assert request.headers["content-encoding"] == "aes128gcm"
        assert len(request.body) <= 4096
        self.received.append(self.browser.decrypt(request.body))


@pytest.fixture
def vapid():
    return generate_vapid_keys()


def run(vapid, status=201, msg=None, headers=None, **render_kw):
    private, public = vapid
    browser = Browser()
    service = PushService(public, browser, status, headers)
    with http_peer(service) as peer:
        service.url = peer.url
        notifier = WebPushNotifier(
            vapid_private_key=private, subject=SUBJECT, timeout=5, private_addresses=True
        )
        d = delivery("webpush", browser.subscription(f"{peer.url}/push/abc123"), msg=msg, **render_kw)
        result = notifier.send(d)
        notifier.close()
    assert not service.errors, service.errors
    return result, service, peer, d


def test_201_delivers_a_payload_the_browser_decrypts(vapid):
    result, service, peer, d = run(vapid)
    assert result.outcome is Outcome.delivered and result.status == 201
    [payload] = service.received
    assert payload["title"] == d.rendered.title == "警戒レベル4「避難指示」 赤川（熊出）"
    assert "すぐに避難してください" in payload["body"]
    assert payload["url"] == d.rendered.url and payload["unsubscribe"] == d.rendered.unsubscribe_url
    [request] = peer.requests
    assert request.path == "/push/abc123"
    assert request.headers["urgency"] == "high"  # evacuation
    assert request.headers["topic"] == d.rendered.topic
    assert request.headers["ttl"] == "10800"


def test_an_all_clear_is_normal_urgency_and_keeps_the_alerts_topic(vapid):
    first = run(vapid)[3].rendered
    msg = message(msg_type=MsgType.update, response=Response.all_clear, ended=True, version=2)
    result, _service, peer, _d = run(vapid, msg=msg)
    assert result.ok
    assert peer.requests[0].headers["urgency"] == "normal"
    assert peer.requests[0].headers["topic"] == first.topic  # replaces an undelivered older version


def test_the_largest_message_still_fits_one_4096_byte_record(vapid):
    shelters = tuple(Shelter("避難所" * 20 + str(i), "Shelter" * 10, 100.0 * i, "vacant") for i in range(40))
    result, service, peer, _ = run(vapid, msg=message(note="理" * 3000), shelters=shelters)
    assert result.ok
    assert len(peer.requests[0].body) <= 4096
    assert "すぐに避難してください" in service.received[0]["body"]


@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_mean_the_subscription_is_gone(vapid, status):
    assert run(vapid, status)[0].outcome is Outcome.gone


def test_500_and_429_are_retried_with_retry_after(vapid):
    assert run(vapid, 500)[0].outcome is Outcome.retry
    result = run(vapid, 429, headers={"Retry-After": "120"})[0]
    assert (result.outcome, result.retry_after) == (Outcome.retry, 120.0)


def test_other_4xx_is_permanent(vapid):
    assert run(vapid, 413)[0].outcome is Outcome.failed


def test_a_timeout_and_a_refused_connection_are_retried(vapid):
    private, _public = vapid
    browser = Browser()

    def slow(request: Request) -> Answer:
        time.sleep(1.0)
        return Answer(201)

    with http_peer(slow) as peer:
        notifier = WebPushNotifier(
            vapid_private_key=private, subject=SUBJECT, timeout=0.2, private_addresses=True
        )
        result = notifier.send(delivery("webpush", browser.subscription(f"{peer.url}/push/x")))
        assert (result.outcome, result.detail) == (Outcome.retry, "CURLE_OPERATION_TIMEDOUT")
        closed = f"http://127.0.0.1:{free_port()}/push/x"
        assert notifier.send(delivery("webpush", browser.subscription(closed))).outcome is Outcome.retry


def test_an_exercise_is_never_pushed(vapid):
    private, _public = vapid
    browser = Browser()
    with http_peer(lambda r: Answer(201)) as peer:
        notifier = WebPushNotifier(vapid_private_key=private, subject=SUBJECT, private_addresses=True)
        d = delivery(
            "webpush", browser.subscription(f"{peer.url}/push/x"), msg=message(status=Status.exercise)
        )
        with pytest.raises(NotPublicError):
            notifier.send(d)
    assert peer.requests == []


def test_invalid_subscription_keys_mean_gone(vapid):
    private, _ = vapid
    bad = WebPushSubscription(endpoint="http://127.0.0.1:9/push", p256dh="AAAA", auth="AAAA")
    notifier = WebPushNotifier(vapid_private_key=private, subject=SUBJECT, private_addresses=True)
    assert notifier.send(delivery("webpush", bad)).outcome is Outcome.gone


def test_vapid_keys_and_configuration():
    private, public = generate_vapid_keys()
    assert len(b64d(private)) == 32 and len(b64d(public)) == 65
    assert public_key_of(private) == public
    with pytest.raises(ChannelConfigError):
        WebPushNotifier(vapid_private_key="not a key", subject=SUBJECT)
    with pytest.raises(ChannelConfigError):
        WebPushNotifier(vapid_private_key=private, subject="bousai@example.jp")
    assert "abc123" not in repr(WebPushSubscription("https://push.example/abc123", "k", "a"))


def test_the_vapid_jwt_is_signed_once_per_push_service_and_renewed_before_it_expires(vapid):
    private, public = vapid
    browser = Browser()
    now = [time.time()]
    tokens = []

    def recording(service: PushService):
        def answer(request: Request) -> Answer:
            tokens.append(request.headers["authorization"])
            return service(request)

        return answer

    services = [PushService(public, browser), PushService(public, browser)]
    with http_peer(recording(services[0])) as one, http_peer(recording(services[1])) as two:
        services[0].url, services[1].url = one.url, two.url
        notifier = WebPushNotifier(
            vapid_private_key=private, subject=SUBJECT, clock=lambda: now[0], private_addresses=True
        )
        for url in (one.url, one.url, two.url, one.url):
            assert notifier.send(delivery("webpush", browser.subscription(f"{url}/push/x"))).ok
        assert tokens[0] == tokens[1] == tokens[3] != tokens[2]  # one JWT per audience
        now[0] += 6 * 3600 + 1  # half of its 12-hour lifetime: signed anew
        assert notifier.send(delivery("webpush", browser.subscription(f"{one.url}/push/x"))).ok
        assert tokens[4] != tokens[0]
    assert not services[0].errors and not services[1].errors
