"""The one notifier interface, its result, and the guard that keeps drills off public
channels.

A notifier takes one :class:`Delivery` (one rendered message for one recipient) and
returns a :class:`Result`; it never raises for a failed delivery. The delivery workers
act on ``Result.outcome``:

==============  ==========================================  ==============================
outcome         when                                        the worker
==============  ==========================================  ==============================
``delivered``   2xx (LINE: also 409, the retry key was      records it
                already accepted)
``retry``       timeout, connection error, 5xx, 429, 408;   retries after ``retry_after``
                SMTP 4xx                                    (or its own back-off) until a
                                                            deadline
``failed``      any other 4xx; SMTP 5xx                     records it, does not retry
``gone``        Web Push 404/410, gateway 410, SMTP 5.1.1   deletes the subscription
==============  ==========================================  ==============================

Only :meth:`BaseNotifier.send` sends, and it calls :func:`ensure_may_send` first: an
Exercise or Test message can never go out on a public channel, whatever the caller
does (the one guard, tested in ``tests/notify/test_guard.py``).
"""

from __future__ import annotations

import email.utils
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

from alerts.model import Status
from notify.channels.http import Http, Request, Response, TransportError
from notify.errors import NotPublicError
from notify.render import RenderedMessage


class Outcome(StrEnum):
    delivered = "delivered"
    retry = "retry"  # a retryable failure
    failed = "failed"  # a permanent failure: do not retry
    gone = "gone"  # the subscription no longer exists: remove it


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    provider: str  # "webpush", "line", "email", "webhook"
    status: int | None = None  # HTTP or SMTP status code, when there was one
    retry_after: float | None = None  # seconds, when the peer said
    provider_id: str | None = None  # the peer's id for the accepted message, when it gives one
    detail: str = ""  # for logs: never personal data

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.delivered


@dataclass(frozen=True, slots=True)
class WebPushSubscription:
    """A browser's PushSubscription (``endpoint``, ``keys.p256dh``, ``keys.auth``)."""

    endpoint: str
    p256dh: str
    auth: str

    def __repr__(self) -> str:
        return f"WebPushSubscription(endpoint={redact(self.endpoint)})"


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where one delivery goes: a LINE user id, an e-mail address, a phone or FAX number
    (gateways), or a Web Push subscription. ``repr`` shows only a fingerprint."""

    address: str | WebPushSubscription

    @property
    def key(self) -> str:
        """A stable string for the address (for retry keys and fingerprints)."""
        if isinstance(self.address, WebPushSubscription):
            return self.address.endpoint
        return self.address

    def __repr__(self) -> str:
        return f"Recipient({redact(self.key)})"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One rendered message for one recipient. ``id`` is the outbox delivery's id, the
    same on every retry (it names the attempt in logs, never the person)."""

    id: str
    rendered: RenderedMessage
    recipient: Recipient


@runtime_checkable
class Notifier(Protocol):
    @property
    def provider(self) -> str: ...  # "webpush", "line", "email", "webhook"

    @property
    def public(self) -> bool: ...  # reaches residents: only Actual messages may pass

    def send(self, delivery: Delivery) -> Result: ...


def ensure_may_send(public: bool, rendered: RenderedMessage) -> None:
    """The hard guard: only an ``Actual`` message may reach a public channel."""
    if public and rendered.status is not Status.actual:
        raise NotPublicError(
            f"refusing to send a {rendered.status} message ({rendered.identifier}) on a public channel"
        )


class BaseNotifier(ABC):
    """Base of the real notifiers (every one of them is public): ``send`` guards, then calls ``_send``."""

    provider: ClassVar[str] = "channel"
    public: bool = True

    def send(self, delivery: Delivery) -> Result:
        ensure_may_send(self.public, delivery.rendered)
        return self._send(delivery)

    @abstractmethod
    def _send(self, delivery: Delivery) -> Result:
        """Deliver to the channel; only ever called after the public-channel guard."""


class HttpNotifier(BaseNotifier):
    """A notifier that speaks HTTP: one :class:`Request` per delivery, and a judgement
    of the answer. ``send`` posts it and waits; the delivery worker has many in flight
    at once through :class:`notify.channels.http.Sender`: :meth:`prepare`, then
    :meth:`answer` (or :meth:`failure` when no answer came)."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._http = Http(timeout=timeout)

    def prepare(self, delivery: Delivery) -> Request | Result:
        """The request for ``delivery``, after the drill guard; or the result when there
        is nothing to send (say, a payload too large)."""
        ensure_may_send(self.public, delivery.rendered)
        return self._request(delivery)

    @abstractmethod
    def _request(self, delivery: Delivery) -> Request | Result:
        """The channel's request; raises for a delivery that is not for this channel."""

    @abstractmethod
    def answer(self, response: Response) -> Result:
        """What the peer's HTTP answer means."""

    def failure(self, error: TransportError) -> Result:
        """No answer (a timeout, a refused connection): always worth retrying."""
        return Result(Outcome.retry, self.provider, detail=str(error))

    def _send(self, delivery: Delivery) -> Result:
        request = self._request(delivery)
        if isinstance(request, Result):
            return request
        try:
            response = self._http.post(request)
        except TransportError as error:
            return self.failure(error)
        return self.answer(response)

    def close(self) -> None:
        self._http.close()


def redact(value: str) -> str:
    """A short fingerprint for logs instead of a token, address or endpoint."""
    return "#" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:10]


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


RETRYABLE_STATUS = frozenset({408, 425, 429})


def classify(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    *,
    gone: frozenset[int] = frozenset(),
    ok: frozenset[int] = frozenset(),
) -> Result:
    """An HTTP answer as a :class:`Result`: 2xx (and ``ok``) delivered; 408/425/429/5xx
    retry; ``gone`` statuses gone; other 4xx failed."""
    after = retry_after(headers.get("retry-after"))
    if 200 <= status < 300 or status in ok:
        return Result(Outcome.delivered, provider, status)
    if status in gone:
        return Result(Outcome.gone, provider, status, detail=f"HTTP {status}")
    if status in RETRYABLE_STATUS or status >= 500:
        return Result(Outcome.retry, provider, status, retry_after=after, detail=f"HTTP {status}")
    return Result(Outcome.failed, provider, status, detail=f"HTTP {status}")


def transport_failure(provider: str, error: Exception) -> Result:
    """A timeout or connection error: always worth retrying. The detail names the error's
    type only (its text may hold the URL, and the URL may hold a token)."""
    return Result(Outcome.retry, provider, detail=type(error).__name__)
