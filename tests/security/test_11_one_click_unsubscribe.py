"""Finding 11: the one-click unsubscribe (RFC 8058) advertised in every e-mail answered
422, so a resident who pressed "unsubscribe" in their mail program stayed subscribed.
Here a real alert e-mail's headers are followed exactly as a mail program does."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime

import pytest

from kawamori import db
from notify import subscriptions
from notify.channels.base import Delivery, Recipient
from notify.channels.email import EmailNotifier
from notify.render import Channel, render
from tests.notify.factories import message


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_a_mail_programs_one_click_unsubscribe_unsubscribes(stack, key, mailbox, encoding):
    with db.connect(stack.database_url) as conn:
        subscription_id, _ = subscriptions.subscribe(
            conn, channel="email", address="r@example.jp", language="ja", areas=["area-kyoden-lower"],
            key=key, now=datetime.now(UTC),
        )  # fmt: skip
        url = subscriptions.unsubscribe_url(stack.url, key=key, subscription_id=subscription_id)
    rendered = render(message(), language="ja", channel=Channel.email, unsubscribe_url=url)
    notifier = EmailNotifier(host="127.0.0.1", port=mailbox.mailer.port, sender="bousai@city.example.jp",
                             starttls=False)  # fmt: skip
    notifier.send(Delivery("d1", rendered, Recipient("r@example.jp")))
    mail = email.message_from_bytes(mailbox.messages[-1][2], policy=email.policy.default)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    target = re.search(r"<(https?://[^>]+)>", re.sub(r"\s", "", str(mail["List-Unsubscribe"])))[1]

    with stack.client() as mail_program:  # RFC 8058 §3.1: a POST, no cookies, nothing else
        if encoding == "form":
            response = mail_program.post(target, data={"List-Unsubscribe": "One-Click"})
        else:
            response = mail_program.post(target, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200, response.text
    with db.connect(stack.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0
