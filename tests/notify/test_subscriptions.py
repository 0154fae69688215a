from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from kawamori import db
from notify import subscriptions as subs
from notify.channels import Recipient, WebPushSubscription
from notify.errors import InvalidAddress, OutsideAreas, SubscriptionError, UnknownArea
from notify.render import Channel
from tests.notify.subscribers import (
    FUJISHIMA,
    LOWER,
    NOW,
    ON_LOWER_AND_FUJISHIMA,
    OUTSIDE,
    UPPER,
    count,
    line_user,
    new_key,
    push_address,
    queue_work,
)


@pytest.fixture
def conn(demo_db: str):
    with db.connect(demo_db) as connection:
        yield connection


@pytest.fixture
def key():
    return new_key()


def test_subscribe_stores_the_address_only_sealed(conn, key):
    sid, token = subs.subscribe(
        conn, channel="email", address=" Yamada@Example.JP ", language="ja", areas=[UPPER], key=key, now=NOW
    )
    row = conn.execute("SELECT * FROM subscriptions").fetchone()
    text = repr(row).lower()
    assert "yamada" not in text and "example" not in text
    assert token not in text
    (got,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    assert got == (sid, "email", "ja", Recipient("yamada@example.jp"), None)


def test_a_point_is_kept_only_as_areas_and_a_rounded_cell(conn, key):
    sid, _ = subs.subscribe(
        conn,
        channel="line",
        address=line_user(),
        language="en",
        point=(38.75437, 139.94081),
        key=key,
        now=NOW,
    )
    areas, lat, lon = conn.execute("SELECT areas, cell_lat, cell_lon FROM subscriptions").fetchone()
    assert areas == [UPPER]
    assert (round(lat, 4), round(lon, 4)) == (38.75, 139.94)
    subs.subscribe(
        conn,
        channel="line",
        address=line_user(2),
        language="ja",
        point=ON_LOWER_AND_FUJISHIMA,
        key=key,
        now=NOW,
    )
    assert conn.execute("SELECT areas FROM subscriptions WHERE id <> %s", (sid,)).fetchone()[0] == [
        FUJISHIMA,
        LOWER,
    ]


def test_a_point_outside_every_area_is_refused(conn, key):
    with pytest.raises(OutsideAreas):
        subs.subscribe(
            conn, channel="line", address=line_user(), language="ja", point=OUTSIDE, key=key, now=NOW
        )
    with pytest.raises(UnknownArea):
        subs.subscribe(
            conn, channel="line", address=line_user(), language="ja", areas=["nowhere"], key=key, now=NOW
        )
    with pytest.raises(SubscriptionError):
        subs.subscribe(conn, channel="line", address=line_user(), language="ja", key=key, now=NOW)
    with pytest.raises(SubscriptionError):
        subs.subscribe(
            conn, channel="line", address=line_user(), language="fr", areas=[UPPER], key=key, now=NOW
        )
    assert count(conn, "subscriptions") == 0


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        ("line", "not-a-user"),
        ("email", "no-at-sign"),
        ("email", "a@b"),
        ("gateway", "+81235001234"),
        ("gateway", "pager:123"),
        (
            "webpush",
            {"endpoint": "http://insecure.example/x", "keys": {"p256dh": "a" * 20, "auth": "b" * 20}},
        ),
        ("webpush", {"endpoint": "https://push.example/x"}),
        ("webpush", {"endpoint": "https://127.0.0.1/x", "keys": {"p256dh": "a" * 20, "auth": "b" * 20}}),
        ("webpush", {"endpoint": "https://10.1.2.3/x", "keys": {"p256dh": "a" * 20, "auth": "b" * 20}}),
        ("webpush", {"endpoint": "https://[::1]/x", "keys": {"p256dh": "a" * 20, "auth": "b" * 20}}),
        ("webpush", {"endpoint": "https://localhost/x", "keys": {"p256dh": "a" * 20, "auth": "b" * 20}}),
        ("webpush", {"endpoint": "https://metadata/x", "keys": {"p256dh": "a" * 20, "auth": "b" * 20}}),
        *(
            ("webpush", {"endpoint": f"https://{host}/x", "keys": {"p256dh": "a" * 20, "auth": "b" * 20}})
            for host in (  # numbers a resolver reads as 127.0.0.1, and other addresses not public
                "127.1:8443",
                "0x7f.0.0.1",
                "0177.0.0.1",
                "2130706433",
                "127.0.0.1.",
                "[::ffff:127.0.0.1]",
                "100.64.0.1",
                "169.254.169.254",
                "224.0.0.1",
                "router.lan",
                "printer.home.arpa",
            )
        ),
        ("webpush", "https://push.example/x"),
        ("pigeon", "x"),
    ],
)
def test_invalid_addresses_are_refused_without_repeating_them(conn, key, channel, address):
    with pytest.raises(InvalidAddress) as error:
        subs.subscribe(conn, channel=channel, address=address, language="ja", areas=[UPPER], key=key, now=NOW)
    assert str(address) not in str(error.value) or len(str(address)) < 2


def test_subscribing_again_updates_and_answers_the_same(conn, key):
    first = subs.subscribe(
        conn, channel="email", address="a@example.jp", language="ja", areas=[UPPER], key=key, now=NOW
    )
    again = subs.subscribe(
        conn,
        channel="email",
        address="A@example.jp",
        language="ja-easy",
        areas=[LOWER],
        key=key,
        now=NOW + timedelta(days=1),
    )
    assert first == again
    assert count(conn, "subscriptions") == 1
    row = conn.execute("SELECT language, areas, updated_at FROM subscriptions").fetchone()
    assert row == ("ja-easy", [LOWER], NOW + timedelta(days=1))


def test_recipients_for_matches_any_area_and_rebuilds_recipients(conn, key):
    push = push_address()
    a, _ = subs.subscribe(
        conn, channel="webpush", address=push, language="en", areas=[UPPER], key=key, now=NOW
    )
    b, _ = subs.subscribe(
        conn, channel="gateway", address="fax:+81-235-00-1234", language="ja", areas=[LOWER], key=key, now=NOW
    )
    subs.subscribe(
        conn, channel="line", address=line_user(), language="ja", areas=[FUJISHIMA], key=key, now=NOW
    )
    got = {s.id: s for s in subs.recipients_for(conn, areas=[UPPER, LOWER], key=key)}
    assert set(got) == {a, b}
    assert got[a].recipient == Recipient(
        WebPushSubscription(push["endpoint"], push["keys"]["p256dh"], push["keys"]["auth"])
    )
    assert got[b].recipient == Recipient("fax:+81235001234")
    assert subs.gateway_channel(got[b].recipient) is Channel.fax
    assert [s.id for s in subs.recipients_for(conn, areas=[UPPER], key=key, channels=["line"])] == []
    assert "push.example.net" not in repr(got[a])


def test_rows_sealed_with_another_key_are_skipped(conn, key):
    subs.subscribe(
        conn, channel="line", address=line_user(), language="ja", areas=[UPPER], key=new_key(), now=NOW
    )
    assert list(subs.recipients_for(conn, areas=[UPPER], key=key)) == []


def test_unsubscribe_removes_the_subscription_its_queue_and_its_log(conn, key):
    sid, token = subs.subscribe(
        conn, channel="line", address=line_user(), language="ja", areas=[UPPER], key=key, now=NOW
    )
    other, _ = subs.subscribe(
        conn, channel="line", address=line_user(2), language="ja", areas=[UPPER], key=key, now=NOW
    )
    queue_work(conn, sid)
    queue_work(conn, other)
    assert subs.subscription_of(conn, token=token)["areas"] == [UPPER]
    assert subs.unsubscribe(conn, token=token)
    assert not subs.unsubscribe(conn, token=token)
    assert not subs.unsubscribe(conn, token="")
    for table in ("subscriptions", "deliveries", "notification_log"):
        assert (
            conn.execute(
                f"SELECT count(*) FROM {table} WHERE subscription_id = %s"
                if table != "subscriptions"
                else "SELECT count(*) FROM subscriptions WHERE id = %s",
                (sid,),
            ).fetchone()[0]
            == 0
        )
        assert count(conn, table) == 1  # the other subscriber's


def test_a_deletion_request_by_address_removes_everything(conn, key):
    sid, _ = subs.subscribe(
        conn, channel="gateway", address="voice:+81235001234", language="ja", areas=[UPPER], key=key, now=NOW
    )
    queue_work(conn, sid)
    assert subs.delete_address(conn, channel="gateway", address="voice:+81 235 001 234", key=key)
    assert not subs.delete_address(conn, channel="gateway", address="voice:+81235001234", key=key)
    assert [count(conn, t) for t in ("subscriptions", "deliveries", "notification_log")] == [0, 0, 0]


def test_forget_gone(conn, key):
    sid, _ = subs.subscribe(
        conn, channel="webpush", address=push_address(), language="ja", areas=[UPPER], key=key, now=NOW
    )
    assert subs.forget_gone(conn, subscription_id=sid)
    assert not subs.forget_gone(conn, subscription_id=uuid.uuid4())


def test_unsubscribe_url_carries_the_token_that_works(conn, key):
    sid, token = subs.subscribe(
        conn, channel="email", address="a@example.jp", language="ja", areas=[UPPER], key=key, now=NOW
    )
    url = subs.unsubscribe_url("https://bousai.example.jp/", key=key, subscription_id=sid)
    assert url == f"https://bousai.example.jp/r/unsubscribe?token={token}"


def test_rate_limit_per_client_per_window(conn, key):
    assert all(
        subs.allow_subscribe_attempt(conn, client="192.0.2.1", key=key, now=NOW, limit=3) for _ in range(3)
    )
    assert not subs.allow_subscribe_attempt(conn, client="192.0.2.1", key=key, now=NOW, limit=3)
    assert subs.allow_subscribe_attempt(conn, client="192.0.2.2", key=key, now=NOW, limit=3)
    later = NOW + timedelta(hours=1, seconds=1)
    assert subs.allow_subscribe_attempt(conn, client="192.0.2.1", key=key, now=later, limit=3)
    stored = [r[0] for r in conn.execute("SELECT client FROM subscribe_attempts")]
    assert all("192.0.2" not in c for c in stored)
    assert count(conn, "subscribe_attempts") == 1  # older attempts were deleted


def test_recipients_for_100k(conn, key):
    """The delivery workers' query over 100,000 subscriptions finds the half that match
    (its speed: bench/notify.py)."""
    n = 100_000
    with conn.cursor().copy(
        "COPY subscriptions (id, channel, language, address_sealed, address_digest, areas,"
        " unsubscribe_digest) FROM STDIN"
    ) as copy:
        for i in range(n):
            sid = uuid.uuid4()
            user = line_user(i)
            copy.write_row(
                (
                    sid,
                    "line",
                    "ja",
                    key.seal(user, subscription_id=sid),
                    key.digest("line", user),
                    [UPPER if i % 2 else LOWER],
                    sid.hex,
                )
            )
    conn.execute("ANALYZE subscriptions")
    got = sum(1 for _ in subs.recipients_for(conn, areas=[UPPER], key=key))
    assert got == n // 2
