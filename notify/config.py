"""The enabled channels' notifiers, built once from :class:`kawamori.settings.Settings`
(for the delivery workers): ``notifiers(settings) -> {"webpush": …, "line": …, …}``."""

from __future__ import annotations

from kawamori.settings import Settings
from notify.channels.base import Notifier


def _secret(value) -> str:
    return value.get_secret_value() if value is not None else ""


def enabled(settings: Settings) -> list[str]:
    """The channels these settings switch on (without building their notifiers)."""
    return [
        name
        for name, on in (
            ("webpush", bool(settings.vapid_subject)),
            ("line", bool(settings.line_channel_access_token)),
            ("email", bool(settings.smtp_host and settings.smtp_from)),
            ("webhook", bool(settings.gateway_url)),
        )
        if on
    ]


def notifiers(settings: Settings) -> dict[str, Notifier]:
    from notify.channels.email import EmailNotifier
    from notify.channels.line import LineNotifier
    from notify.channels.webhook import WebhookNotifier
    from notify.channels.webpush import WebPushNotifier, parse_hosts

    timeout = settings.notify_timeout_s
    out: dict[str, Notifier] = {}
    if settings.vapid_subject:
        out["webpush"] = WebPushNotifier(
            vapid_private_key=_secret(settings.vapid_private_key),
            subject=settings.vapid_subject,
            timeout=timeout,
            hosts=parse_hosts(settings.push_hosts),
            private_addresses=settings.push_private_addresses,
        )
    if settings.line_channel_access_token:
        out["line"] = LineNotifier(
            access_token=_secret(settings.line_channel_access_token),
            base_url=settings.line_api_base_url,
            timeout=timeout,
        )
    if settings.smtp_host and settings.smtp_from:
        out["email"] = EmailNotifier(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_user,
            password=_secret(settings.smtp_password) or None,
            starttls=settings.smtp_starttls,
            timeout=timeout,
        )
    if settings.gateway_url:
        out["webhook"] = WebhookNotifier(
            url=settings.gateway_url, secret=_secret(settings.gateway_secret), timeout=timeout
        )
    return out
