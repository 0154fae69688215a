from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.model import Status
from notify.channels import BaseNotifier, Notifier, Outcome, Recipient, ensure_may_send
from notify.channels.base import classify, redact, retry_after
from notify.channels.email import EmailNotifier, classify_smtp
from notify.channels.line import LineNotifier
from notify.channels.webhook import WebhookNotifier
from notify.channels.webpush import WebPushNotifier, generate_vapid_keys
from notify.errors import NotPublicError
from tests.notify.factories import delivery, message


def notifiers():
    private, _ = generate_vapid_keys()
    return [
        WebPushNotifier(vapid_private_key=private, subject="mailto:a@example.jp"),
        LineNotifier(access_token="t"),
        EmailNotifier(host="127.0.0.1", sender="a@example.jp"),
        WebhookNotifier(url="http://127.0.0.1:9", secret="s"),
    ]


def test_the_guard_is_in_one_place_and_every_channel_goes_through_it():
    for notifier in notifiers():
        assert isinstance(notifier, Notifier)
        assert notifier.public
        assert type(notifier).send is BaseNotifier.send  # no channel overrides the guarded send


@pytest.mark.parametrize("status", [Status.exercise, Status.test])
def test_drills_raise_on_public_channels(status):
    rendered = delivery("line", "U" + "0" * 32, msg=message(status=status)).rendered
    with pytest.raises(NotPublicError):
        ensure_may_send(True, rendered)
    ensure_may_send(False, rendered)  # a staff-only channel may carry drills
    ensure_may_send(True, delivery("line", "U" + "0" * 32).rendered)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.delivered),
        (201, Outcome.delivered),
        (202, Outcome.delivered),
        (400, Outcome.failed),
        (401, Outcome.failed),
        (403, Outcome.failed),
        (404, Outcome.failed),
        (408, Outcome.retry),
        (429, Outcome.retry),
        (500, Outcome.retry),
        (502, Outcome.retry),
        (503, Outcome.retry),
    ],
)
def test_http_classification(status, outcome):
    assert classify("x", status, {}).outcome is outcome
    gone = classify("x", status, {}, gone=frozenset({404, 410}))
    assert gone.outcome is (Outcome.gone if status == 404 else outcome)


def test_retry_after_seconds_or_date():
    now = datetime(2026, 9, 1, 5, 0, tzinfo=UTC)
    assert retry_after("120") == 120.0
    assert retry_after("Tue, 01 Sep 2026 05:01:30 GMT", now) == 90.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_smtp_classification():
    assert classify_smtp(421) is Outcome.retry
    assert classify_smtp(452) is Outcome.retry
    assert classify_smtp(550, b"5.1.1 User unknown") is Outcome.gone
    assert classify_smtp(550, b"5.7.1 Spam") is Outcome.failed
    assert classify_smtp(535) is Outcome.failed


def test_addresses_are_redacted_in_repr():
    assert "resident@example.jp" not in repr(Recipient("resident@example.jp"))
    assert redact("x") == redact("x") != redact("y")
