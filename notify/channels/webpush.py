"""Web Push (RFC 8030) with message encryption (RFC 8291, aes128gcm) and VAPID
(RFC 8292): http_ece encrypts (with a new ECDH key and salt per message), py-vapid
signs, :mod:`notify.channels.http` posts.

Each push carries ``TTL`` (how long the push service may hold it), ``Urgency``
(``high`` when people must act now) and a ``Topic`` that is the same for every version
of an alert, so a newer version replaces an older one still waiting on the push
service. 404 and 410 mean the subscription is gone.

An endpoint comes from a resident's browser, so it is never trusted to point outside
our network: the request connects only to public addresses (resolved and checked at
connect time, :mod:`notify.channels.http`), and with ``hosts`` (``KAWAMORI_PUSH_HOSTS``)
only to the push services named there. Either refusal makes the subscription gone.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from notify.channels.base import (
    Delivery,
    HttpNotifier,
    Outcome,
    Result,
    WebPushSubscription,
    classify,
)
from notify.channels.http import Blocked, Request, Response, TransportError
from notify.errors import ChannelConfigError
from notify.render import WEB_PUSH_PAYLOAD_MAX, Channel, push_payload

PROVIDER = "webpush"
JWT_LIFETIME_S = 12 * 3600  # RFC 8292: at most 24 hours
TTL_ACTIVE_S = 3 * 3600  # an alert older than this is better read on the resident page
TTL_ENDED_S = 12 * 3600  # an all-clear or a retraction may still be worth knowing later


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encrypt(payload: bytes, *, p256dh: str, auth: str) -> bytes:
    """The RFC 8291 ``aes128gcm`` body for one subscription: a new ECDH key pair and
    salt per message (raises ``ValueError`` for keys that are not a P-256 point and a
    16-byte secret)."""
    try:
        user_agent_key, secret = _unb64(p256dh), _unb64(auth)
    except (binascii.Error, ValueError):
        raise ValueError("the subscription's keys are not base64url") from None
    if len(user_agent_key) != 65 or len(secret) != 16:
        raise ValueError("the subscription's keys have the wrong length")
    return http_ece.encrypt(
        payload,
        salt=os.urandom(16),
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=user_agent_key,
        auth_secret=secret,
        version="aes128gcm",
    )


def generate_vapid_keys() -> tuple[str, str]:
    """A new VAPID key pair: (private key, public key), both base64url. The private key
    is ``KAWAMORI_VAPID_PRIVATE_KEY``; the public key is the resident page's
    ``applicationServerKey``."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return _b64(private), public_key_of(_b64(private))


def load_vapid(private_key: str) -> Vapid02:
    """A VAPID signer from a base64url raw key (as generated above) or DER/PEM."""
    text = private_key.strip()
    try:
        if text.startswith("-----BEGIN"):
            return Vapid02.from_pem(text.encode("ascii"))
        return Vapid02.from_string(text)
    except Exception:  # py-vapid raises many kinds; never echo the key
        raise ChannelConfigError("the VAPID private key is not a valid P-256 key") from None


def public_key_of(private_key: str) -> str:
    public = load_vapid(private_key).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64(public)


def host_allowed(host: str, hosts: tuple[str, ...]) -> bool:
    """Whether ``host`` is one of ``hosts`` (``.example.com``: it and its sub-domains);
    every host when ``hosts`` is empty."""
    host = host.lower().rstrip(".")
    if not hosts:
        return True
    return any(host == h.lstrip(".") or (h.startswith(".") and host.endswith(h)) for h in hosts)


def parse_hosts(text: str) -> tuple[str, ...]:
    """``KAWAMORI_PUSH_HOSTS``: comma-separated host names."""
    return tuple(h.strip().lower() for h in text.split(",") if h.strip())


class WebPushNotifier(HttpNotifier):
    provider = PROVIDER

    def __init__(
        self,
        *,
        vapid_private_key: str,
        subject: str,
        timeout: float = 10.0,
        ttl_active_s: int = TTL_ACTIVE_S,
        ttl_ended_s: int = TTL_ENDED_S,
        clock: Callable[[], float] = time.time,
        hosts: tuple[str, ...] = (),
        private_addresses: bool = False,
    ) -> None:
        """``hosts``: the push services allowed (a leading '.' allows sub-domains; empty:
        any public host); ``private_addresses``: also private ones (tests only)."""
        if not subject.startswith(("mailto:", "https:")):
            raise ChannelConfigError("the VAPID subject must be a mailto: or https: URL")
        self._vapid = load_vapid(vapid_private_key)
        self._vapid.conf["no-strict"] = True  # py-vapid's own check only accepts mailto:
        self.subject = subject
        super().__init__(timeout=timeout)
        self.ttl_active_s = ttl_active_s
        self.ttl_ended_s = ttl_ended_s
        self._clock = clock
        self.hosts = tuple(h.lower() for h in hosts)
        self.private_addresses = private_addresses
        self._signed: dict[str, tuple[float, dict[str, str]]] = {}  # audience → (renew at, headers)

    def _authorization(self, audience: str) -> dict[str, str]:
        """The VAPID headers for one push service (RFC 8292 §2: a JWT per audience, reused
        until half its lifetime has passed, instead of a signature per message)."""
        now = self._clock()
        signed = self._signed.get(audience)
        if signed is None or now >= signed[0]:
            claims = {"aud": audience, "sub": self.subject, "exp": int(now) + JWT_LIFETIME_S}
            signed = (now + JWT_LIFETIME_S / 2, self._vapid.sign(claims))
            self._signed[audience] = signed  # (two threads may both sign: harmless)
        return signed[1]

    def _request(self, delivery: Delivery) -> Request | Result:
        rendered = delivery.rendered
        subscription = delivery.recipient.address
        if not isinstance(subscription, WebPushSubscription):
            raise TypeError("a Web Push delivery needs a WebPushSubscription recipient")
        if rendered.channel is not Channel.webpush:
            raise ValueError(f"rendered for {rendered.channel}, not webpush")
        payload = push_payload(rendered)
        if len(payload) > WEB_PUSH_PAYLOAD_MAX:
            return Result(Outcome.failed, PROVIDER, detail=f"payload of {len(payload)} bytes is too large")
        endpoint = urlsplit(subscription.endpoint)
        if endpoint.scheme not in ("https", "http") or not endpoint.netloc:
            return Result(Outcome.gone, PROVIDER, detail="the subscription's endpoint is not a URL")
        if not host_allowed(endpoint.hostname or "", self.hosts):
            return Result(Outcome.gone, PROVIDER, detail="the endpoint is not an allowed push service")
        try:
            body = encrypt(payload, p256dh=subscription.p256dh, auth=subscription.auth)
        except (ValueError, TypeError):  # (cryptography: not a point on the curve)
            return Result(Outcome.gone, PROVIDER, detail="the subscription's keys are invalid")
        urgent = rendered.urgency == "high"
        headers = {
            **self._authorization(f"{endpoint.scheme}://{endpoint.netloc}"),
            "TTL": str(self.ttl_active_s if urgent else self.ttl_ended_s),
            "Urgency": rendered.urgency,
            "Topic": rendered.topic,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }
        return Request(subscription.endpoint, body, headers, public_only=not self.private_addresses)

    def failure(self, error: TransportError) -> Result:
        if isinstance(error, Blocked):  # never retried: the endpoint points into our network
            return Result(Outcome.gone, PROVIDER, detail=str(error))
        return super().failure(error)

    def answer(self, response: Response) -> Result:
        return classify(PROVIDER, response.status, response.headers, gone=frozenset({404, 410}))
