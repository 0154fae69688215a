"""The delivery worker against real PostgreSQL and the real local peers (a push service
that verifies VAPID and decrypts, the LINE contract server, an SMTP server, a gateway
that checks the HMAC)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from alerts.model import MsgType, Status
from kawamori import db
from notify.channels.email import EmailNotifier
from notify.channels.line import LineNotifier
from notify.channels.webhook import WebhookNotifier
from notify.channels.webpush import WebPushNotifier, generate_vapid_keys
from notify.fanout import fan_out_pending
from notify.worker import Policy, Worker
from tests.notify.peers import Answer, Request, free_port, http_peer
from tests.notify.queue import KEY, NOW, add_alert, add_outbox, add_subscription, alert_message, directory
from tests.notify.test_email import Mailbox
from tests.notify.test_line import TOKEN, LinePlatform
from tests.notify.test_webhook import SECRET, Gateway
from tests.notify.test_webpush import SUBJECT, Browser, PushService

FAST = Policy(base_delay_s=0.02, max_delay_s=0.1, poll_s=0.02, flush_s=0.005, lease=timedelta(seconds=5))


@pytest.fixture
def peers():
    """All four channels' peers and notifiers; ``faults[channel]`` is a list of failures."""
    private, public = generate_vapid_keys()
    browser = Browser()
    push = PushService(public, browser)
    line = LinePlatform()
    gateway = Gateway()
    mailbox = Mailbox()
    faults: dict[str, list] = {"webpush": [], "line": [], "gateway": []}

    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    with (
        http_peer(lambda r: _with_faults(faults["webpush"], push, r)) as push_peer,
        http_peer(lambda r: _with_faults(faults["line"], line, r)) as line_peer,
        http_peer(lambda r: _with_faults(faults["gateway"], gateway, r)) as gateway_peer,
    ):
        push.url = push_peer.url
        notifiers = {
            "webpush": WebPushNotifier(
                vapid_private_key=private, subject=SUBJECT, timeout=0.3, private_addresses=True
            ),
            "line": LineNotifier(access_token=TOKEN, base_url=line_peer.url, timeout=0.3),
            "email": EmailNotifier(
                host="127.0.0.1", port=smtp.port, sender="bousai@city.example.jp", starttls=False
            ),
            "webhook": WebhookNotifier(url=f"{gateway_peer.url}/kawamori", secret=SECRET, timeout=0.3),
        }
        yield type(
            "Peers",
            (),
            dict(
                browser=browser,
                push=push,
                push_peer=push_peer,
                line=line,
                line_peer=line_peer,
                gateway=gateway,
                gateway_peer=gateway_peer,
                mailbox=mailbox,
                notifiers=notifiers,
                faults=faults,
            ),
        )
    smtp.stop()


def _with_faults(faults: list, target, request: Request) -> Answer:
    """Answers the queued failures first (a status, or "timeout"), then passes to ``target``."""
    if faults:
        failure = faults.pop(0)
        if failure == "timeout":
            time.sleep(0.6)
            return Answer(504)
        return Answer(failure)
    return target(request)


def subscribe_all(conn, p, areas=("oyama",)) -> dict[str, object]:
    return {
        "webpush": add_subscription(
            conn,
            channel="webpush",
            address=p.browser.subscription(f"{p.push_peer.url}/push/1"),
            areas=list(areas),
        ),
        "line": add_subscription(conn, channel="line", address="U" + "a" * 32, areas=list(areas)),
        "email": add_subscription(
            conn, channel="email", address="r@example.jp", areas=list(areas), language="en"
        ),
        "gateway": add_subscription(conn, channel="gateway", address="fax:+81235001234", areas=list(areas)),
    }


def worker(conn, p, policy=FAST, **kw) -> Worker:
    return Worker(conn, notifiers=p.notifiers, directory=directory(), policy=policy, **kw)


def states(conn) -> Counter:
    return Counter(dict(conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()))


def test_every_channel_delivers_once_and_the_log_says_so(conn, peers):
    subs = subscribe_all(conn, peers)
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    w = worker(conn, peers)
    stats = w.run(until_idle=True)
    w.close()
    assert stats["delivered"] == 4
    assert states(conn) == Counter(delivered=4)
    assert len(peers.push.received) == 1 and not peers.push.errors
    assert peers.push.received[0]["id"].endswith(f":alert:{alert}:1")
    assert (
        len(peers.line.messages) == 1
        and len(peers.gateway.accepted) == 1
        and len(peers.mailbox.messages) == 1
    )
    fax = peers.gateway.accepted[0]
    assert fax["channel"] == "fax" and fax["unsubscribe_url"].endswith(KEY.unsubscribe_token(subs["gateway"]))
    log = conn.execute(
        """SELECT channel, attempt, outcome, status, provider_id IS NOT NULL
           FROM notification_log ORDER BY channel"""
    ).fetchall()
    assert log == [
        ("email", 1, "delivered", 250, True),
        ("gateway", 1, "delivered", 202, False),
        ("line", 1, "delivered", 200, True),
        ("webpush", 1, "delivered", 201, False),
    ]
    assert conn.execute("SELECT count(*) FROM deliveries WHERE claimed_by IS NOT NULL").fetchone()[0] == 0


def test_500s_and_timeouts_are_retried_until_success(conn, peers):
    subscribe_all(conn, peers)
    peers.faults["webpush"] += [500, "timeout", 503]
    peers.faults["line"] += ["timeout", 500]
    peers.faults["gateway"] += [429, 502]
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    w = worker(conn, peers)
    w.run(until_idle=True)
    w.close()
    assert states(conn) == Counter(delivered=4)
    attempts = dict(
        conn.execute(
            "SELECT channel, max(attempt) FROM notification_log GROUP BY channel ORDER BY 1"
        ).fetchall()
    )
    assert attempts == {"email": 1, "gateway": 3, "line": 3, "webpush": 4}
    outcomes = conn.execute(
        "SELECT outcome, detail FROM notification_log WHERE channel = 'webpush' ORDER BY attempt"
    ).fetchall()
    assert outcomes == [
        ("retry", "HTTP 500"),
        ("retry", "CURLE_OPERATION_TIMEDOUT"),
        ("retry", "HTTP 503"),
        ("delivered", ""),
    ]
    assert len(peers.line.messages) == 1  # the timed-out push reached LINE once: its retry key was reused
    assert len(peers.push.received) == 1


def test_a_4xx_fails_at_once_and_is_recorded(conn, peers):
    subscribe_all(conn, peers)
    peers.faults["gateway"] += [400]
    peers.faults["line"] += [403]
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    w = worker(conn, peers)
    w.run(until_idle=True)
    w.close()
    assert states(conn) == Counter(delivered=2, failed=2)
    failed = conn.execute(
        """SELECT channel, attempt, outcome, status FROM notification_log
           WHERE outcome <> 'delivered' ORDER BY 1"""
    ).fetchall()
    assert failed == [("gateway", 1, "failed", 400), ("line", 1, "failed", 403)]


def test_410_removes_the_subscription(conn, peers):
    subs = subscribe_all(conn, peers)
    peers.faults["webpush"] += [410]
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    w = worker(conn, peers)
    w.run(until_idle=True)
    w.close()
    assert (
        conn.execute("SELECT count(*) FROM subscriptions WHERE id = %s", (subs["webpush"],)).fetchone()[0]
        == 0
    )
    assert conn.execute("SELECT count(*) FROM notification_log WHERE channel = 'webpush'").fetchone()[0] == 0
    assert states(conn) == Counter(delivered=3)


def test_retries_stop_at_the_deadline(conn, peers):
    subscribe_all(conn, peers)
    peers.faults["line"] += [500] * 1000
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    policy = Policy(
        base_delay_s=0.05, max_delay_s=0.1, poll_s=0.02, flush_s=0.005, deadline=timedelta(seconds=0.5)
    )
    w = worker(conn, peers, policy=policy)
    w.run(until_idle=True)
    w.close()
    assert states(conn) == Counter(delivered=3, expired=1)
    assert conn.execute("SELECT count(*) FROM notification_log WHERE channel = 'line'").fetchone()[0] >= 2


def test_an_expired_lease_is_taken_over_by_another_worker(conn, database_url, peers):
    add_subscription(conn, channel="line", address="U" + "a" * 32, areas=["oyama"])
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    fan_out_pending(conn, now=NOW)
    clock = [NOW]
    lease = Policy(lease=timedelta(seconds=30), poll_s=0.02, flush_s=0.005)
    with db.connect(database_url) as other:
        dead = worker(other, peers, policy=lease, name="dead", clock=lambda: clock[0])
        assert len(dead.claim({"line": 10})) == 1  # … and is killed before sending
    alive = worker(conn, peers, policy=lease, name="alive", clock=lambda: clock[0])
    assert alive.claim({"line": 10}) == []  # the lease still holds
    clock[0] = NOW + timedelta(seconds=31)
    alive.run(until_idle=True)
    alive.close()
    row = conn.execute("SELECT state, attempts FROM deliveries").fetchone()
    assert row == ("delivered", 2)
    assert conn.execute("SELECT attempt FROM notification_log").fetchall() == [(2,)]
    assert len(peers.line.messages) == 1


def test_a_newer_version_supersedes_an_unsent_older_one(conn, peers):
    add_subscription(conn, channel="line", address="U" + "a" * 32, areas=["oyama"])
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    add_outbox(conn, alert_message(alert, ["oyama"], version=2, msg_type=MsgType.update, level=5))
    fan_out_pending(conn, now=NOW)
    w = worker(conn, peers)
    stats = w.run(until_idle=True)
    w.close()
    assert stats["superseded"] == 1 and stats["delivered"] == 1
    assert conn.execute("SELECT version, state FROM deliveries ORDER BY version").fetchall() == [
        (1, "superseded"),
        (2, "delivered"),
    ]
    assert len(peers.line.messages) == 1


def test_a_subscription_deleted_while_it_is_fanned_out_is_sent_nothing(conn, database_url, peers):
    """Fan-out reads the subscription; the deletion commits after the fan-out has queued a
    delivery for it (no foreign key holds the fan-out back): the claim drops that row."""
    subs = subscribe_all(conn, peers)
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    with db.connect(database_url) as other, other.transaction():
        other.execute("DELETE FROM subscriptions WHERE id = %s", (subs["line"],))
        assert fan_out_pending(conn, now=NOW)[0].queued == 4  # the deletion is not committed yet
    left = "SELECT count(*) FROM deliveries WHERE subscription_id = %s"
    assert conn.execute(left, (subs["line"],)).fetchone()[0] == 1
    w = worker(conn, peers)
    stats = w.run(until_idle=True)
    w.close()
    assert stats["delivered"] == 3 and states(conn) == Counter(delivered=3)
    assert conn.execute(left, (subs["line"],)).fetchone()[0] == 0
    assert not peers.line.messages


def test_a_drill_queued_by_mistake_never_leaves(conn, peers):
    """Fan-out never queues a drill; even a row written by hand is refused by the guard."""
    subs = subscribe_all(conn, peers)
    alert = add_alert(conn, status="Exercise")
    outbox = add_outbox(conn, alert_message(alert, ["oyama"], status=Status.exercise))
    conn.execute("UPDATE alert_outbox SET done_at = now()")
    for channel, sid in subs.items():
        conn.execute(
            """INSERT INTO deliveries
                   (outbox_id, subscription_id, alert_id, version, channel, not_before, deadline)
               VALUES (%s, %s, %s, 1, %s, now(), now() + interval '1 hour')""",
            (outbox, sid, alert, channel),
        )
    w = worker(conn, peers)
    w.run(until_idle=True)
    w.close()
    assert states(conn) == Counter(failed=4)
    assert {r[0] for r in conn.execute("SELECT detail FROM notification_log")} == {"NotPublicError"}
    assert not peers.push.received and not peers.line.messages and not peers.gateway.accepted
    assert not peers.mailbox.messages
