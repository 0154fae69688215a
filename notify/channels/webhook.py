"""A signed JSON webhook for gateways that reach people without smartphones: SMS,
voice calls, FAX and municipal radio (防災行政無線).

The request (documented in docs/notifications.md)::

    POST <gateway URL>
    Content-Type: application/json; charset=utf-8
    X-Kawamori-Delivery: <delivery id, the same on every retry: use it to de-duplicate>
    X-Kawamori-Timestamp: <Unix seconds>
    X-Kawamori-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>

The gateway checks the signature and that the timestamp is recent (:func:`verify`),
then answers 2xx when it has taken the message, 410 when the recipient no longer
exists, 429/5xx to be asked again later, other 4xx for a request it will never accept.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

from notify.channels.base import Delivery, HttpNotifier, Result, classify
from notify.channels.http import Request, Response, json_bytes
from notify.render import Channel

PROVIDER = "webhook"
VERSION = 1
GATEWAY_CHANNELS = frozenset({Channel.sms, Channel.voice, Channel.fax, Channel.radio})
TOLERANCE_S = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance_s: float = TOLERANCE_S
) -> bool:
    """What a gateway written in Python does with a request (others: see the docs)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def payload(delivery: Delivery) -> dict[str, Any]:
    r = delivery.rendered
    return {
        "version": VERSION,
        "delivery": delivery.id,
        "identifier": r.identifier,
        "status": r.status.value,
        "channel": r.channel.value,
        "language": r.language,
        "recipient": delivery.recipient.key,
        "urgency": r.urgency,
        "title": r.title,
        "text": r.body,  # sms: the short form; voice/radio: the speech text; fax: the full text
        "short_text": r.short_text,
        "speech_text": r.speech_text,
        # the speech text as audio (WAV, Open JTalk / eSpeak NG on the dashboard), for a
        # phone call or the municipal radio operator to play
        "audio_url": urljoin(r.url, r.audio_path) if r.url and r.audio_path else None,
        "url": r.url,
        "unsubscribe_url": r.unsubscribe_url,
    }


class WebhookNotifier(HttpNotifier):
    provider = PROVIDER

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._secret = secret
        self._clock = clock
        super().__init__(timeout=timeout)

    def _request(self, delivery: Delivery) -> Request:
        if delivery.rendered.channel not in GATEWAY_CHANNELS:
            raise ValueError(f"rendered for {delivery.rendered.channel}, not a gateway channel")
        body = json_bytes(payload(delivery))
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Kawamori-Delivery": delivery.id,
            "X-Kawamori-Timestamp": timestamp,
            "X-Kawamori-Signature": sign(self._secret, timestamp, body),
        }
        return Request(self.url, body, headers)

    def answer(self, response: Response) -> Result:
        return classify(PROVIDER, response.status, response.headers, gone=frozenset({410}))
