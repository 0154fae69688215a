"""One small notifier per channel behind one interface (:mod:`notify.channels.base`):
``webpush``, ``line``, ``email`` and ``webhook`` (SMS, voice, FAX and radio gateways).
Only these modules import http_ece, py-vapid, pycurl and smtplib."""

from notify.channels.base import (
    BaseNotifier,
    Delivery,
    Notifier,
    Outcome,
    Recipient,
    Result,
    WebPushSubscription,
    ensure_may_send,
)

__all__ = [
    "BaseNotifier",
    "Delivery",
    "Notifier",
    "Outcome",
    "Recipient",
    "Result",
    "WebPushSubscription",
    "ensure_may_send",
]
