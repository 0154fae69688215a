"""What is held for someone who has not finished subscribing (a real database): e-mail
requests waiting for confirmation never get an alert, a token works once and only for
48 hours, a request never changes a confirmed subscription before it is confirmed, and
everything held is purged or deleted on request."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kawamori import db
from notify import pending
from notify import subscriptions as subs
from notify.errors import SubscriptionError
from notify.fanout import fan_out_next
from notify.sealing import token_digest
from tests.notify.queue import add_alert, add_outbox, alert_message
from tests.notify.subscribers import IN_UPPER, LOWER, NOW, UPPER, count, line_user, new_key

ADDRESS = "Resident@Example.JP"


@pytest.fixture
def conn(demo_db: str):
    with db.connect(demo_db) as connection:
        yield connection


@pytest.fixture
def key():
    return new_key()


def ask(conn, key, *, now=NOW, language="ja", areas=(UPPER,), **kw):
    return pending.request(
        conn, address=ADDRESS, language=language, areas=list(areas), key=key, now=now, **kw
    )


def test_a_request_is_held_sealed_and_gets_no_alert(conn, key):
    held = ask(conn, key, point=IN_UPPER)
    assert held is not None and held.to == "resident@example.jp" and held.areas == [UPPER]
    assert "resident" not in repr(held) and held.token not in repr(held)
    row = conn.execute("SELECT * FROM subscription_requests").fetchone()
    assert "resident" not in repr(row).lower() and held.token not in repr(row)
    assert conn.execute("SELECT confirm_digest FROM subscription_requests").fetchone()[0] == token_digest(
        held.token
    )
    assert count(conn, "subscriptions") == 0
    assert list(subs.recipients_for(conn, areas=[UPPER], key=key)) == []
    # fan-out of an alert for the area queues nothing for the request
    add_outbox(conn, alert_message(add_alert(conn), [UPPER]))
    result = fan_out_next(conn, now=NOW)
    assert result is not None and result.queued == 0 and count(conn, "deliveries") == 0


def test_the_token_confirms_once(conn, key):
    held = ask(conn, key, language="en", point=IN_UPPER)
    assert pending.request_of(conn, token=held.token, now=NOW) == {"language": "en", "areas": [UPPER]}
    confirmed = pending.confirm(conn, token=held.token, key=key, now=NOW + timedelta(hours=1))
    assert confirmed is not None and confirmed[1] == "en"
    (subscriber,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    assert subscriber.id == confirmed[0] and subscriber.recipient.address == "resident@example.jp"
    assert subscriber.language == "en" and subscriber.cell == (38.75, 139.94)
    assert count(conn, "subscription_requests") == 0
    # a second click, a guessed or a mangled token: nothing happens
    assert pending.confirm(conn, token=held.token, key=key, now=NOW + timedelta(hours=1)) is None
    assert pending.request_of(conn, token=held.token, now=NOW) is None
    for token in ("", "x" * 201, "not-a-token"):
        assert pending.confirm(conn, token=token, key=key, now=NOW) is None
    assert count(conn, "subscriptions") == 1


def test_an_expired_token_fails_and_its_request_is_gone(conn, key):
    held = ask(conn, key)
    late = NOW + pending.PENDING_TTL
    assert pending.request_of(conn, token=held.token, now=late) is None
    assert pending.confirm(conn, token=held.token, key=key, now=late) is None
    assert count(conn, "subscription_requests") == 0 and count(conn, "subscriptions") == 0


def test_a_request_never_changes_a_confirmed_subscription_before_it_is_confirmed(conn, key):
    sid, _ = subs.subscribe(
        conn, channel="email", address=ADDRESS, language="ja", areas=[UPPER], key=key, now=NOW
    )
    held = ask(conn, key, language="ja-easy", areas=[LOWER])
    assert held is not None
    (subscriber,) = subs.recipients_for(conn, areas=[UPPER, LOWER], key=key)
    assert (subscriber.id, subscriber.language) == (sid, "ja")
    assert conn.execute("SELECT areas FROM subscriptions").fetchone()[0] == [UPPER]
    assert pending.confirm(conn, token=held.token, key=key, now=NOW) == (sid, "ja-easy")
    assert conn.execute("SELECT areas, language FROM subscriptions").fetchone() == ([LOWER], "ja-easy")


def test_at_most_one_confirmation_mail_per_address_every_ten_minutes(conn, key):
    first = ask(conn, key)
    assert ask(conn, key, now=NOW + timedelta(minutes=9), language="en") is None  # no second e-mail
    assert pending.request_of(conn, token=first.token, now=NOW)["language"] == "ja"  # the first still works
    second = ask(conn, key, now=NOW + pending.RESEND_AFTER, language="en")
    assert second is not None and second.token != first.token
    assert pending.request_of(conn, token=first.token, now=NOW) is None  # replaced
    assert count(conn, "subscription_requests") == 1


def test_a_request_is_checked_like_a_subscription(conn, key):
    with pytest.raises(SubscriptionError):
        pending.request(conn, address="not-an-address", language="ja", areas=[UPPER], key=key, now=NOW)
    with pytest.raises(SubscriptionError):
        ask(conn, key, areas=["nowhere"])
    assert count(conn, "subscription_requests") == 0


def test_a_request_sealed_with_another_key_does_not_confirm(conn, key):
    held = ask(conn, key)
    assert pending.confirm(conn, token=held.token, key=new_key(), now=NOW) is None
    assert count(conn, "subscriptions") == 0


def test_a_language_chosen_before_subscribing(conn, key):
    user = line_user(3)
    assert subs.language_of(conn, channel="line", address=user, key=key) is None
    pending.choose_language(conn, channel="line", address=user, language="en", key=key, now=NOW)
    assert subs.language_of(conn, channel="line", address=user, key=key) == "en"
    subs.subscribe(conn, channel="line", address=user, language="en", point=IN_UPPER, key=key, now=NOW)
    assert subs.set_language(conn, channel="line", address=user, language="ja-easy", key=key, now=NOW)
    assert subs.language_of(conn, channel="line", address=user, key=key) == "ja-easy"  # the subscription's
    assert not subs.set_language(conn, channel="line", address=line_user(4), language="en", key=key, now=NOW)
    with pytest.raises(SubscriptionError):
        pending.choose_language(conn, channel="line", address=user, language="xx", key=key, now=NOW)


def test_purge_deletes_what_has_expired(conn, key):
    ask(conn, key)
    pending.choose_language(conn, channel="line", address=line_user(), language="en", key=key, now=NOW)
    assert pending.purge(conn, now=NOW + pending.PENDING_TTL - timedelta(seconds=1)) == 0
    assert pending.purge(conn, now=NOW + pending.PENDING_TTL) == 2
    assert count(conn, "subscription_requests") == count(conn, "language_choices") == 0


def test_a_deletion_request_deletes_what_is_held_too(conn, key):
    ask(conn, key)
    user = line_user()
    pending.choose_language(conn, channel="line", address=user, language="en", key=key, now=NOW)
    assert not subs.delete_address(conn, channel="email", address=ADDRESS, key=key)  # no subscription …
    assert not subs.delete_address(conn, channel="line", address=user, key=key)
    assert count(conn, "subscription_requests") == count(conn, "language_choices") == 0  # … but all gone
