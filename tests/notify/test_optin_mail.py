"""The confirmation e-mail against a real SMTP server (aiosmtpd): who sends it and why,
the link, the 48 hours, decoded exactly in every language; failures are logged
without the address."""

from __future__ import annotations

import ssl

import pytest
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from kawamori.settings import Settings
from notify.optin_mail import Mailer, build, confirm_url, send_confirmation
from tests.notify.peers import free_port
from tests.notify.test_email import Mailbox, parse, self_signed, text

SENDER = "bousai@city.example.jp"
TO = "resident@example.jp"
URL = "https://bousai.example.jp/r/confirm?token=abc_DEF-123"


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield (
        box,
        Mailer(host="127.0.0.1", port=controller.port, sender=SENDER, sender_name="鶴岡市", starttls=False),
    )
    controller.stop()


def test_the_confirmation_says_who_why_where_and_how_long_in_every_language(mailbox):
    box, mailer = mailbox
    expected = {
        "ja": (
            "【鶴岡市】メールでのお知らせ登録の確認",
            ["鶴岡市", "地域：京田川上流", "48時間以内", "無視してください"],
        ),
        "ja-easy": (
            "【鶴岡市】メールの とうろくの かくにん",
            ["ちいき：京田川上流", "48じかん", "すてて ください"],
        ),
        "en": (
            "鶴岡市: please confirm your river alert e-mails",
            ["Areas: Kyoden upper", "within 48 hours", "ignore"],
        ),
    }
    for language, (subject, phrases) in expected.items():
        areas = "Kyoden upper" if language == "en" else "京田川上流"
        assert send_confirmation(mailer, to=TO, language=language, url=URL, areas=areas)
        mail_from, rcpt, raw = box.messages[-1]
        assert (mail_from, rcpt) == (SENDER, [TO]) and raw.isascii()
        mail = parse(raw)
        assert mail["Subject"] == subject
        assert mail["From"].addresses[0].display_name == "鶴岡市"
        assert mail["Auto-Submitted"] == "auto-generated" and mail["List-Unsubscribe"] is None
        assert mail["Content-Language"] == language.split("-")[0]
        body = text(mail)
        assert URL in body.splitlines()  # on a line of its own: mail apps make it a link
        for phrase in phrases:
            assert phrase in body, (language, phrase)


def test_the_link_and_the_settings():
    assert (
        confirm_url("https://bousai.example.jp/kawamori/", "t0k")
        == "https://bousai.example.jp/kawamori/r/confirm?token=t0k"
    )
    assert Mailer.from_settings(Settings(_env_file=None)) is None
    mailer = Mailer.from_settings(
        Settings(
            _env_file=None,
            smtp_host="mail.example.jp",
            smtp_from=SENDER,
            smtp_user="kawamori",
            smtp_password="s3cret-pass",
            cap_sender_name="鶴岡市 Tsuruoka City",
        )
    )
    assert (mailer.host, mailer.port, mailer.sender, mailer.sender_name) == (
        "mail.example.jp",
        587,
        SENDER,
        "鶴岡市 Tsuruoka City",
    )
    assert "s3cret-pass" not in repr(mailer)


def test_starttls_and_login(tmp_path):
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data == (b"kawamori", b"s3cret")
        return AuthResult(success=ok, handled=False)

    box = Mailbox()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        mailer = Mailer(
            host="127.0.0.1",
            port=controller.port,
            sender=SENDER,
            sender_name="川守 Kawamori",
            username="kawamori",
            password="s3cret",
            ssl_context=ssl.create_default_context(cafile=str(cert)),
        )
        assert send_confirmation(mailer, to=TO, language="ja", url=URL, areas="京田川上流")
        assert len(box.messages) == 1
    finally:
        controller.stop()


def test_failures_are_logged_without_the_address():
    refusing = Mailbox(f"550 5.1.1 <{TO}>: Recipient address rejected")
    controller = Controller(refusing, hostname="127.0.0.1", port=free_port())
    controller.start()
    down = Mailer(
        host="127.0.0.1", port=free_port(), sender=SENDER, sender_name="x", starttls=False, timeout=2
    )
    try:
        with structlog.testing.capture_logs() as events:
            refused = Mailer(
                host="127.0.0.1", port=controller.port, sender=SENDER, sender_name="x", starttls=False
            )
            assert not send_confirmation(refused, to=TO, language="ja", url=URL, areas="")
            assert not send_confirmation(down, to=TO, language="ja", url=URL, areas="")
    finally:
        controller.stop()
    assert [e["event"] for e in events] == ["optin.mail_failed", "optin.mail_failed"]
    assert TO not in repr(events) and "abc_DEF" not in repr(events)


def test_a_message_is_built_without_sending():
    mail = build(to=TO, language="en", url=URL, areas="A, B", sender=SENDER, sender_name="Town")
    assert mail["Message-ID"].endswith("@city.example.jp>") and "Areas: A, B" in mail.get_content()
