"""The confirmation e-mail of a subscribe request (double opt-in, :mod:`notify.pending`).

Worded from the text catalogue (``notify.confirm.subject`` and ``notify.confirm.body`` in
``kawamori/texts/<language>.yaml``): who sends it and why, the areas asked for, the
link (``/r/confirm?token=…``, valid :data:`notify.pending.PENDING_TTL`), and "if you
did not ask for this, ignore this e-mail". Sent by the dashboard after its answer, over
SMTP with the e-mail channel's settings (``KAWAMORI_SMTP_*``).

It is not an alert: it never goes through the notifiers and their drill guard, has no
unsubscribe headers, and is sent once (a resident who gets none asks again; another
e-mail goes to an address at most every :data:`notify.pending.RESEND_AFTER`). Logs
name only the outcome: never the address or the link.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr

import structlog

from kawamori.texts import say
from notify.channels.email import open_session
from notify.pending import PENDING_TTL

log = structlog.get_logger("notify.optin_mail")


@dataclass(frozen=True, slots=True)
class Mailer:
    """Where and as whom confirmation e-mails are sent. ``repr`` hides the password."""

    host: str
    port: int
    sender: str  # the envelope and From address (KAWAMORI_SMTP_FROM)
    sender_name: str  # who the resident is told sends it (KAWAMORI_CAP_SENDER_NAME)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout: float = 10.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)  # default: the system's CAs

    @classmethod
    def from_settings(cls, settings) -> Mailer | None:
        """The mailer of the e-mail channel's settings; ``None`` when e-mail is off."""
        if not (settings.smtp_host and settings.smtp_from):
            return None
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            sender_name=settings.cap_sender_name,
            username=settings.smtp_user,
            password=password,
            starttls=settings.smtp_starttls,
            timeout=settings.notify_timeout_s,
        )


def confirm_url(base_url: str, token: str) -> str:
    """The link of the confirmation e-mail: a page with a button (a mail scanner that
    follows the link confirms nothing)."""
    return f"{base_url.rstrip('/')}/r/confirm?token={token}"


def build(*, to: str, language: str, url: str, areas: str, sender: str, sender_name: str) -> EmailMessage:
    """The confirmation e-mail: UTF-8 text (base64), RFC 2047 subject."""
    hours = int(PENDING_TTL.total_seconds() // 3600)
    msg = EmailMessage(policy=SMTP_POLICY)
    msg.set_content(
        say("notify.confirm.body", language, sender=sender_name, areas=areas, url=url, hours=hours),
        charset="utf-8",
        cte="base64",
    )
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = to
    msg["Subject"] = say("notify.confirm.subject", language, sender=sender_name)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.rpartition('@')[2] or 'kawamori.invalid'}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = language.split("-")[0]
    return msg


def send_confirmation(mailer: Mailer, *, to: str, language: str, url: str, areas: str) -> bool:
    """Send one confirmation e-mail; ``False`` (logged without the address) when the
    SMTP server did not take it."""
    msg = build(
        to=to, language=language, url=url, areas=areas, sender=mailer.sender, sender_name=mailer.sender_name
    )
    try:
        with open_session(mailer) as smtp:
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as error:
        log.warning("optin.mail_refused", status=error.smtp_code)
        return False
    except (OSError, smtplib.SMTPException) as error:  # its text may hold the address: type only
        log.warning("optin.mail_failed", error=type(error).__name__)
        return False
    log.info("optin.mail_sent", language=language)
    return True
