"""E-mail over SMTP (optionally STARTTLS and login): a UTF-8 text message whose
Japanese subject is RFC 2047-encoded, with ``List-Unsubscribe`` (RFC 2369) and
one-click unsubscribe (RFC 8058). The Message-ID is derived from (message, recipient),
so a retried delivery is recognisable as the same mail."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr

from notify.channels.base import BaseNotifier, Delivery, Outcome, Result
from notify.render import RenderedMessage

PROVIDER = "email"
GONE_ENHANCED = (b"5.1.1", b"5.1.10", b"5.1.6")  # no such mailbox / moved


def build_message(
    rendered: RenderedMessage, *, to: str, sender: str, sender_name: str = "川守 Kawamori"
) -> EmailMessage:
    domain = sender.rpartition("@")[2] or "kawamori.invalid"
    msg = EmailMessage(policy=SMTP_POLICY)
    msg.set_content(rendered.body, charset="utf-8", cte="base64")  # first: it resets Content-*
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = to
    msg["Subject"] = rendered.title
    msg["Date"] = format_datetime(datetime.now(UTC))
    digest = hashlib.sha256(f"{rendered.identifier}\n{to}".encode()).hexdigest()[:32]
    msg["Message-ID"] = f"<{digest}@{domain}>"
    msg["List-Unsubscribe"] = f"<{rendered.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = rendered.language.split("-")[0]
    if rendered.urgency == "high":
        msg["Importance"] = "high"
    return msg


def classify_smtp(code: int, text: bytes = b"") -> Outcome:
    if 400 <= code < 500:
        return Outcome.retry
    if code in (550, 551, 553) and any(mark in text for mark in GONE_ENHANCED):
        return Outcome.gone
    return Outcome.failed


class EmailNotifier(BaseNotifier):
    provider = PROVIDER

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self._username, self._password = username, password
        self.starttls = starttls
        self._ssl_context = ssl_context
        self.timeout = timeout

    def _send(self, delivery: Delivery) -> Result:
        to = delivery.recipient.address
        if not isinstance(to, str):
            raise TypeError("an e-mail delivery needs an address")
        msg = build_message(delivery.rendered, to=to, sender=self.sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()), (550, b""))
            return Result(classify_smtp(code, text), PROVIDER, code, detail=f"SMTP {code} for the recipient")
        except smtplib.SMTPResponseException as error:
            code = error.smtp_code
            text = error.smtp_error if isinstance(error.smtp_error, bytes) else str(error.smtp_error).encode()
            return Result(classify_smtp(code, text), PROVIDER, code, detail=f"SMTP {code}")
        except (OSError, smtplib.SMTPException) as error:
            return Result(Outcome.retry, PROVIDER, detail=type(error).__name__)
        return Result(Outcome.delivered, PROVIDER, 250, provider_id=msg["Message-ID"])
