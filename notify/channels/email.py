"""E-mail over SMTP (optionally STARTTLS and login): a UTF-8 text message whose
Japanese subject is RFC 2047-encoded, with ``List-Unsubscribe`` (RFC 2369) and
one-click unsubscribe (RFC 8058). The Message-ID is derived from (message, recipient),
so a retried delivery is recognisable as the same mail.

Each sending thread keeps its SMTP session open and sends message after message over
it (connect, STARTTLS and login once, not per mail); a session the server has closed
meanwhile is opened again. The message is built with the ``compat32`` policy: the
default policy's header folding costs several times more per mail (bench/README.md)."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import threading
from datetime import UTC, datetime
from email.header import Header
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr
from typing import Protocol

from notify.channels.base import BaseNotifier, Delivery, Outcome, Result
from notify.render import RenderedMessage

PROVIDER = "email"
GONE_ENHANCED = (b"5.1.1", b"5.1.10", b"5.1.6")  # no such mailbox / moved
_WIRE = compat32.clone(linesep="\r\n")


def build_message(
    rendered: RenderedMessage, *, to: str, sender: str, sender_name: str = "川守 Kawamori"
) -> bytes:
    """The mail as sent: CRLF lines, ASCII only (base64 body, RFC 2047 subject)."""
    domain = sender.rpartition("@")[2] or "kawamori.invalid"
    msg = MIMEText(rendered.body, "plain", "utf-8")  # base64: safe for any SMTP server
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = to
    msg["Subject"] = Header(rendered.title, "utf-8")  # type: ignore[assignment]  # compat32 takes a Header
    msg["Date"] = format_datetime(datetime.now(UTC))
    digest = hashlib.sha256(f"{rendered.identifier}\n{to}".encode()).hexdigest()[:32]
    msg["Message-ID"] = f"<{digest}@{domain}>"
    msg["List-Unsubscribe"] = f"<{rendered.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = rendered.language.split("-")[0]
    if rendered.urgency == "high":
        msg["Importance"] = "high"
    return msg.as_bytes(policy=_WIRE)


def message_id(raw: bytes) -> str | None:
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode("ascii")
    return None


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
        self.username, self.password = username, password
        self.starttls = starttls
        self.ssl_context = ssl_context
        self.timeout = timeout
        self._local = threading.local()  # each sending thread's open session
        self._sessions: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for smtp in sessions:
            _quit(smtp)

    def _open(self) -> smtplib.SMTP:
        smtp = open_session(self)
        with self._lock:
            self._sessions.append(smtp)
        return smtp

    def _drop(self) -> None:
        smtp = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is not None:
            with self._lock:
                if smtp in self._sessions:
                    self._sessions.remove(smtp)
            _quit(smtp)

    def _transaction(self, to: str, raw: bytes) -> None:
        """One MAIL/RCPT/DATA over this thread's session; a session that turns out to
        be closed (idle timeout, server restart) is opened again once."""
        for fresh in (False, True):
            smtp = getattr(self._local, "smtp", None)
            if smtp is None:
                smtp = self._local.smtp = self._open()
                fresh = True
            try:
                smtp.sendmail(self.sender, [to], raw)
                return
            except smtplib.SMTPServerDisconnected:
                self._drop()
                if fresh:
                    raise

    def _send(self, delivery: Delivery) -> Result:
        to = delivery.recipient.address
        if not isinstance(to, str):
            raise TypeError("an e-mail delivery needs an address")
        raw = build_message(delivery.rendered, to=to, sender=self.sender)
        try:
            self._transaction(to, raw)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()), (550, b""))
            return Result(classify_smtp(code, text), PROVIDER, code, detail=f"SMTP {code} for the recipient")
        except smtplib.SMTPResponseException as error:
            self._drop()  # e.g. a refused login: start the next mail from a new session
            code = error.smtp_code
            text = error.smtp_error if isinstance(error.smtp_error, bytes) else str(error.smtp_error).encode()
            return Result(classify_smtp(code, text), PROVIDER, code, detail=f"SMTP {code}")
        except (OSError, smtplib.SMTPException) as error:
            self._drop()
            return Result(Outcome.retry, PROVIDER, detail=type(error).__name__)
        return Result(Outcome.delivered, PROVIDER, 250, provider_id=message_id(raw))


class SmtpAccount(Protocol):
    """Where and how to submit mail: the e-mail channel and the confirmation mailer."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def timeout(self) -> float: ...
    @property
    def starttls(self) -> bool: ...
    @property
    def ssl_context(self) -> ssl.SSLContext | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...


def open_session(account: SmtpAccount) -> smtplib.SMTP:
    """An SMTP session, connected, with STARTTLS (the system's CAs unless a context is
    given) and logged in when there is a user; raises smtplib's errors and OSError."""
    smtp = smtplib.SMTP(account.host, account.port, timeout=account.timeout)
    try:
        if account.starttls:
            smtp.starttls(context=account.ssl_context or ssl.create_default_context())
        if account.username:
            smtp.login(account.username, account.password or "")
    except BaseException:
        _quit(smtp)
        raise
    return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
