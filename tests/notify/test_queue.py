"""The delivery queue's SQL (:mod:`notify.queue`) against real PostgreSQL: named jobs,
leases, supersede, and records that count only while the worker holds the row."""

from __future__ import annotations

from datetime import timedelta

from alerts.model import MsgType
from kawamori import db
from notify.channels.base import Outcome, Result
from notify.fanout import fan_out_pending
from notify.queue import Attempt, Job, Queue
from notify.retry import decide
from tests.notify.queue import KEY, NOW, add_alert, add_outbox, add_subscription, alert_message

LEASE = NOW + timedelta(seconds=30)


def queued(conn, *, cell=None) -> tuple[int, object]:
    sid = add_subscription(
        conn, channel="line", address="U" + "a" * 32, areas=["oyama"], cell=cell, language="en"
    )
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    fan_out_pending(conn, now=NOW)
    return alert, sid


def delivered(job: Job) -> Attempt:
    return Attempt(
        job, Result(Outcome.delivered, "line", 200), decide(Outcome.delivered, attempt=job.attempt,
                                                            deadline=job.deadline, now=NOW)
    )  # fmt: skip


def test_a_claim_comes_back_as_named_jobs_under_a_lease(conn, database_url):
    alert, sid = queued(conn, cell=(38.71, 139.82))
    queue = Queue(conn, holder="w1")
    claim = queue.claim({"line": 5, "webpush": 5}, now=NOW, lease_until=LEASE)
    assert claim.superseded == 0 and len(claim.jobs) == 1
    job = claim.jobs[0]
    assert (job.alert_id, job.subscription_id, job.version, job.channel, job.attempt, job.language) == (
        alert, sid, 1, "line", 1, "en"
    )  # fmt: skip
    assert job.cell == (38.71, 139.82)
    assert KEY.open(job.sealed, subscription_id=sid) == "U" + "a" * 32
    assert conn.execute("SELECT claimed_by, lease_until FROM deliveries").fetchone() == ("w1", LEASE)
    with db.connect(database_url) as other:
        rival = Queue(other, holder="w2")
        assert rival.claim({"line": 5}, now=NOW, lease_until=LEASE).jobs == []  # leased
        late = LEASE + timedelta(seconds=1)
        assert [j.attempt for j in rival.claim({"line": 5}, now=late, lease_until=late).jobs] == [2]


def test_a_record_counts_only_while_the_holder_holds_that_attempt(conn, database_url):
    queued(conn)
    queue = Queue(conn, holder="w1")
    (job,) = queue.claim({"line": 1}, now=NOW, lease_until=LEASE).jobs
    assert queue.record([delivered(job)], now=NOW, holder="someone else") == 0
    assert conn.execute("SELECT state FROM deliveries").fetchone() == ("queued",)
    assert queue.record([delivered(job)], now=NOW) == 1
    assert conn.execute("SELECT state, claimed_by, lease_until FROM deliveries").fetchone() == (
        "delivered", None, None
    )  # fmt: skip
    assert queue.record([delivered(job)], now=NOW) == 0  # once only
    assert conn.execute("SELECT count(*) FROM notification_log").fetchone() == (1,)


def test_an_older_version_is_superseded_not_claimed_and_the_lease_extends(conn):
    alert, _ = queued(conn)
    queue = Queue(conn, holder="w1")
    add_outbox(conn, alert_message(alert, ["oyama"], version=2, msg_type=MsgType.update, level=5))
    fan_out_pending(conn, now=NOW)
    claim = queue.claim({"line": 5}, now=NOW, lease_until=LEASE)
    assert claim.superseded == 1 and [j.version for j in claim.jobs] == [2]
    later = LEASE + timedelta(seconds=30)
    queue.extend([claim.jobs[0].id], lease_until=later)
    rows = conn.execute("SELECT version, state, lease_until FROM deliveries ORDER BY version").fetchall()
    assert rows == [(1, "superseded", None), (2, "queued", later)]
    assert queue.pending(["line"]) and not queue.pending(["email"])
