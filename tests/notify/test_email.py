"""E-mail against a real SMTP server (aiosmtpd): the message is parsed back with the
email package and its Japanese subject and body must decode exactly."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alerts.model import Status
from notify.channels import Outcome
from notify.channels.email import EmailNotifier
from notify.errors import NotPublicError
from tests.notify.factories import UNSUBSCRIBE_URL, delivery, message
from tests.notify.peers import free_port

SENDER = "bousai@city.example.jp"
TO = "resident@example.jp"


class Mailbox:
    def __init__(self, rcpt_reply: str = "250 OK") -> None:
        self.rcpt_reply = rcpt_reply
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_reply

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    servers = []

    def start(mailbox: Mailbox, **kwargs) -> Controller:
        controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        servers.append(controller)
        return controller

    yield start
    for controller in servers:
        controller.stop()


def parse(raw: bytes):
    return message_from_bytes(raw, policy=default)


def text(mail) -> str:
    """The body as the reader sees it (MIME text travels with CRLF line ends)."""
    return mail.get_content().replace("\r\n", "\n").rstrip("\n")


def test_japanese_subject_and_body_decode_exactly(smtp_server):
    mailbox = Mailbox()
    server = smtp_server(mailbox)
    d = delivery("email", TO)
    result = EmailNotifier(host=server.hostname, port=server.port, sender=SENDER, starttls=False).send(d)
    assert result.outcome is Outcome.delivered
    [(mail_from, rcpt, raw)] = mailbox.messages
    assert (mail_from, rcpt) == (SENDER, [TO])
    assert raw.isascii()  # RFC 2047 subject, base64 body: safe for any SMTP server
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in headers.lower()
    mail = parse(raw)
    assert mail["Subject"] == d.rendered.title == "警戒レベル4「避難指示」 赤川（熊出）"
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    assert text(mail) == d.rendered.body
    assert "危険な場所にいる人は全員、すぐに避難してください。" in mail.get_content()
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE_URL}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["From"].addresses[0].addr_spec == SENDER
    assert mail["From"].addresses[0].display_name == "川守 Kawamori"
    assert mail["Content-Language"] == "ja"
    assert result.provider_id == mail["Message-ID"]


def test_easy_japanese_and_english_decode_too(smtp_server):
    mailbox = Mailbox()
    server = smtp_server(mailbox)
    email = EmailNotifier(host=server.hostname, port=server.port, sender=SENDER, starttls=False)
    for lang in ("ja-easy", "en"):
        d = delivery("email", TO, language=lang)
        assert email.send(d).ok
        mail = parse(mailbox.messages[-1][2])
        assert mail["Subject"] == d.rendered.title
        assert text(mail) == d.rendered.body


def test_a_retry_has_the_same_message_id(smtp_server):
    mailbox = Mailbox()
    server = smtp_server(mailbox)
    email = EmailNotifier(host=server.hostname, port=server.port, sender=SENDER, starttls=False)
    d = delivery("email", TO)
    email.send(d)
    email.send(d)
    first, second = (parse(raw)["Message-ID"] for _, _, raw in mailbox.messages)
    assert first == second


def test_unknown_mailbox_is_gone_temporary_failure_is_retried(smtp_server):
    gone = smtp_server(Mailbox("550 5.1.1 <resident@example.jp>: Recipient address rejected"))
    later = smtp_server(Mailbox("451 4.3.0 Try again later"))
    refused = smtp_server(Mailbox("554 5.7.1 Relay access denied"))
    for server, outcome in ((gone, Outcome.gone), (later, Outcome.retry), (refused, Outcome.failed)):
        result = EmailNotifier(host=server.hostname, port=server.port, sender=SENDER, starttls=False).send(
            delivery("email", TO)
        )
        assert result.outcome is outcome
        assert TO not in result.detail


def test_no_server_is_retried():
    result = EmailNotifier(host="127.0.0.1", port=free_port(), sender=SENDER, starttls=False, timeout=2).send(
        delivery("email", TO)
    )
    assert result.outcome is Outcome.retry


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_starttls_and_login(smtp_server, tmp_path):
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data == (b"kawamori", b"s3cret")
        logins.append((mechanism, ok, session.ssl is not None))
        return AuthResult(success=ok, handled=False)

    mailbox = Mailbox()
    server = smtp_server(
        mailbox,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    client_tls = ssl.create_default_context(cafile=str(cert))
    common = dict(host=server.hostname, port=server.port, sender=SENDER, ssl_context=client_tls)
    assert EmailNotifier(**common, username="kawamori", password="s3cret").send(delivery("email", TO)).ok
    assert logins[-1][1:] == (True, True)  # over TLS
    bad = EmailNotifier(**common, username="kawamori", password="wrong").send(delivery("email", TO))
    assert (bad.outcome, bad.status) == (Outcome.failed, 535)
    assert len(mailbox.messages) == 1


def test_an_exercise_is_never_mailed(smtp_server):
    mailbox = Mailbox()
    server = smtp_server(mailbox)
    email = EmailNotifier(host=server.hostname, port=server.port, sender=SENDER, starttls=False)
    with pytest.raises(NotPublicError):
        email.send(delivery("email", TO, msg=message(status=Status.exercise)))
    assert mailbox.messages == []


def test_one_session_carries_many_mails_and_is_reopened_after_the_server_closed_it():
    peers = []

    class Recording(Mailbox):
        async def handle_DATA(self, server, session, envelope):
            peers.append(session.peer)
            return await super().handle_DATA(server, session, envelope)

    mailbox = Recording()
    server = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    server.start()
    email = EmailNotifier(host=server.hostname, port=server.port, sender=SENDER, starttls=False)
    assert all(email.send(delivery("email", f"r{i}@example.jp")).ok for i in range(3))
    assert len(set(peers)) == 1  # one connection (its client port) for three mails
    server.stop()  # closes the open session, as an idle timeout or a restart would
    again = Controller(mailbox, hostname=server.hostname, port=server.port)
    again.start()
    try:
        assert email.send(delivery("email", TO)).ok
    finally:
        email.close()
        again.stop()
    assert len(mailbox.messages) == 4 and len(set(peers)) == 2
