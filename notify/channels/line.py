"""LINE Messaging API: push messages, and the webhook residents' LINE apps send
(follow, unfollow, and a location a resident sends to register an area).

Every push carries ``X-Line-Retry-Key``, a UUID derived from (alert message
identifier, recipient): a retry of the same delivery reuses it, and LINE answers
409 to a key it has already accepted — that is a success, not a failure.
Webhooks are verified with ``X-Line-Signature`` = base64(HMAC-SHA256(channel secret,
body)) before anything in them is believed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from notify.channels.base import Delivery, HttpNotifier, Result, classify
from notify.channels.http import Request, Response, json_bytes
from notify.errors import InvalidSignature
from notify.render import LINE_TEXT_MAX, Channel, utf16_units

PROVIDER = "line"
DEFAULT_BASE_URL = "https://api.line.me"
PUSH_PATH = "/v2/bot/message/push"
REPLY_PATH = "/v2/bot/message/reply"
RETRY_KEY_NAMESPACE = uuid.UUID("0b9f3c52-6a1e-4d7e-9c1a-6b2f4e8d5a10")  # Kawamori's; never change


def retry_key(identifier: str, recipient: str) -> uuid.UUID:
    """The same UUID for every attempt of one message version to one recipient."""
    return uuid.uuid5(RETRY_KEY_NAMESPACE, f"{identifier}\n{recipient}")


class LineNotifier(HttpNotifier):
    provider = PROVIDER

    def __init__(
        self,
        *,
        access_token: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
    ) -> None:
        self._token = access_token
        self.base_url = base_url.rstrip("/")
        super().__init__(timeout=timeout)

    def _request(self, delivery: Delivery) -> Request:
        rendered = delivery.rendered
        user_id = delivery.recipient.address
        if not isinstance(user_id, str):
            raise TypeError("a LINE delivery needs a user id")
        if rendered.channel is not Channel.line:
            raise ValueError(f"rendered for {rendered.channel}, not line")
        if utf16_units(rendered.body) > LINE_TEXT_MAX:
            raise ValueError("the LINE text is longer than 5,000 characters")
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "X-Line-Retry-Key": str(retry_key(rendered.identifier, user_id)),
        }
        body = {"to": user_id, "messages": [{"type": "text", "text": rendered.body}]}
        return Request(f"{self.base_url}{PUSH_PATH}", json_bytes(body), headers)

    def answer(self, response: Response) -> Result:
        result = classify(PROVIDER, response.status, response.headers, ok=frozenset({409}))
        request_id = response.headers.get("x-line-accepted-request-id") or response.headers.get(
            "x-line-request-id"
        )
        if result.ok and request_id:
            return Result(result.outcome, PROVIDER, result.status, provider_id=request_id)
        return result


# --- webhook --------------------------------------------------------------------------------


def signature(channel_secret: str, body: bytes) -> str:
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(channel_secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(signature(channel_secret, body), header or "")


@dataclass(frozen=True, slots=True)
class LineEvent:
    """One webhook event Kawamori acts on (others are parsed as ``type="other"``)."""

    type: str  # "follow", "unfollow", "location", "other"
    user_id: str | None
    event_id: str | None  # webhookEventId: the same on a redelivery
    timestamp: datetime | None
    redelivery: bool = False
    reply_token: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    def __repr__(self) -> str:  # no user id, no coordinates
        return f"LineEvent(type={self.type!r}, event_id={self.event_id!r})"


def _event(raw: dict) -> LineEvent:
    source = raw.get("source") or {}
    user_id = source.get("userId") if source.get("type") == "user" else None
    ms = raw.get("timestamp")
    common: dict[str, Any] = dict(
        user_id=user_id,
        event_id=raw.get("webhookEventId"),
        timestamp=datetime.fromtimestamp(ms / 1000, UTC) if isinstance(ms, int | float) else None,
        redelivery=bool((raw.get("deliveryContext") or {}).get("isRedelivery")),
        reply_token=raw.get("replyToken"),
    )
    kind = raw.get("type")
    if kind in ("follow", "unfollow"):
        return LineEvent(type=kind, **common)
    message = raw.get("message") or {}
    if kind == "message" and message.get("type") == "location":
        try:
            lat, lon = float(message["latitude"]), float(message["longitude"])
        except (KeyError, TypeError, ValueError):
            return LineEvent(type="other", **common)
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return LineEvent(type="location", latitude=lat, longitude=lon, **common)
    return LineEvent(type="other", **common)


def parse_webhook(body: bytes, header: str | None, *, channel_secret: str) -> tuple[LineEvent, ...]:
    """The events of a webhook request, after checking ``X-Line-Signature`` (raises
    :class:`InvalidSignature`). The caller answers 200 quickly and acts afterwards."""
    if not verify_signature(channel_secret, body, header):
        raise InvalidSignature("X-Line-Signature does not match the request body")
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidSignature("the webhook body is not JSON") from None
    events = data.get("events") if isinstance(data, dict) else None
    return tuple(_event(e) for e in events or () if isinstance(e, dict))
