"""Fixtures of the resident side's tests: the dashboard on a real uvicorn server over
the demo database, with a subscriber key, a local LINE platform and a real SMTP server
(aiosmtpd) for confirmation e-mails. ``conn`` here is a connection to the same demo
database the app serves."""

from __future__ import annotations

import httpx
import pytest
from aiosmtpd.controller import Controller

from dashboard.main import create_app
from dashboard.routers.residents import ResidentConfig
from kawamori import db
from notify.optin_mail import Mailer
from tests.helpers import serve
from tests.notify.peers import Answer, free_port, http_peer
from tests.notify.subscribers import NOW, new_key
from tests.notify.test_email import Mailbox

LINE_SECRET = "line-channel-secret"
VAPID_PUBLIC = "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U"
SENDER = "bousai@city.example.jp"


@pytest.fixture
def key():
    return new_key()


@pytest.fixture
def line_api():
    with http_peer(lambda request: Answer(200, {"Content-Type": "application/json"}, b"{}")) as peer:
        yield peer


@pytest.fixture
def mailbox():
    """A real SMTP server; ``mailbox.messages`` holds ``(from, [to], raw bytes)``."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.mailer = Mailer(
        host="127.0.0.1", port=controller.port, sender=SENDER, sender_name="鶴岡市", starttls=False
    )
    yield box
    controller.stop()


@pytest.fixture
def app(demo_db, key, line_api, mailbox):
    return create_app(
        demo_db,
        clock=lambda: NOW,
        residents_config=ResidentConfig(
            key=key,
            vapid_public_key=VAPID_PUBLIC,
            line_channel_secret=LINE_SECRET,
            line_access_token="line-token",
            line_api_base_url=line_api.url,
            subscribe_limit_per_hour=5,
            mailer=mailbox.mailer,
        ),
    )


@pytest.fixture
def client(app):
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield http


@pytest.fixture
def conn(demo_db):
    with db.connect(demo_db) as connection:
        yield connection
