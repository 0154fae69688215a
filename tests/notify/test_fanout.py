"""Fan-out in the database: who gets each message of an alert."""

from __future__ import annotations

from alerts.message import Response
from alerts.model import MsgType, Status
from kawamori import db
from notify.fanout import Audience, audience, fan_out_next, fan_out_pending
from tests.helpers import wait_for
from tests.notify.queue import NOW, add_alert, add_outbox, add_subscription, alert_message


def queued_for(conn, outbox_id: int) -> set:
    return {
        r[0]
        for r in conn.execute("SELECT subscription_id FROM deliveries WHERE outbox_id = %s", (outbox_id,))
    }


def mark_delivered(conn, outbox_id: int) -> None:
    """What a worker records for a delivered message."""
    conn.execute(
        """WITH d AS (UPDATE deliveries SET state = 'delivered', attempts = 1, done_at = %s
                      WHERE outbox_id = %s RETURNING *)
           INSERT INTO notification_log (delivery_id, alert_id, version, subscription_id, channel,
                                         attempt, outcome, at)
           SELECT id, alert_id, version, subscription_id, channel, 1, 'delivered', %s FROM d""",
        (NOW, outbox_id, NOW),
    )


def test_audience_table():
    cases = [
        (MsgType.alert, True, False, Audience.areas_and_previous),
        (MsgType.update, True, False, Audience.areas_and_previous),
        (MsgType.update, True, True, Audience.previous),
        (MsgType.cancel, True, True, Audience.previous),
        (MsgType.alert, False, False, Audience.nobody),
        (MsgType.cancel, False, True, Audience.nobody),
    ]
    for msg_type, public, ended, expected in cases:
        assert audience(msg_type=msg_type, public=public, ended=ended) is expected


def test_an_alert_reaches_the_subscriptions_of_its_areas_only(conn):
    a = add_subscription(conn, channel="line", address="U" + "1" * 32, areas=["oyama"])
    b = add_subscription(conn, channel="email", address="b@example.jp", areas=["kushibiki", "oyama"])
    c = add_subscription(conn, channel="webpush", address="x", areas=["yunohama"])
    alert = add_alert(conn)
    outbox = add_outbox(conn, alert_message(alert, ["oyama", "haguro"]))
    result = fan_out_next(conn, now=NOW)
    assert result is not None and result.queued == 2 and result.audience is Audience.areas_and_previous
    assert queued_for(conn, outbox) == {a, b}
    assert c not in queued_for(conn, outbox)
    row = conn.execute(
        """SELECT channel, alert_id, version, state, not_before, deadline > not_before
           FROM deliveries WHERE subscription_id = %s""",
        (a,),
    ).fetchone()
    assert row == ("line", alert, 1, "queued", NOW, True)
    assert conn.execute("SELECT done_at FROM alert_outbox WHERE id = %s", (outbox,)).fetchone()[0] == NOW
    assert fan_out_next(conn, now=NOW) is None  # done once


def test_updates_and_all_clears_reach_everyone_who_got_the_alert(conn):
    moved = add_subscription(conn, channel="line", address="U" + "1" * 32, areas=["oyama"])
    leaver = add_subscription(conn, channel="email", address="l@example.jp", areas=["oyama"])
    alert = add_alert(conn)
    v1 = add_outbox(conn, alert_message(alert, ["oyama"]))
    fan_out_pending(conn, now=NOW)
    mark_delivered(conn, v1)
    # one resident moves their area elsewhere, one unsubscribes, one joins the area
    conn.execute("UPDATE subscriptions SET areas = '{yunohama}' WHERE id = %s", (moved,))
    conn.execute("DELETE FROM subscriptions WHERE id = %s", (leaver,))
    joiner = add_subscription(conn, channel="webpush", address="x", areas=["oyama"])
    v2 = add_outbox(conn, alert_message(alert, ["oyama"], version=2, msg_type=MsgType.update, level=5))
    fan_out_pending(conn, now=NOW)
    assert queued_for(conn, v2) == {moved, joiner}
    mark_delivered(conn, v2)
    late = add_subscription(conn, channel="gateway", address="sms:+81235000000", areas=["oyama"])
    v3 = add_outbox(
        conn,
        alert_message(
            alert, ["oyama"], version=3, msg_type=MsgType.update, ended=True, response=Response.all_clear
        ),
    )
    fan_out_pending(conn, now=NOW)
    assert queued_for(conn, v3) == {moved, joiner}  # the all-clear: only who got the alert
    assert late not in queued_for(conn, v3)


def test_a_cancel_sends_its_retraction_to_everyone_who_got_or_awaits_the_alert(conn):
    got = add_subscription(conn, channel="line", address="U" + "1" * 32, areas=["oyama"])
    waiting = add_subscription(conn, channel="email", address="w@example.jp", areas=["haguro"])
    bystander = add_subscription(conn, channel="email", address="b@example.jp", areas=["yunohama"])
    alert = add_alert(conn)
    v1 = add_outbox(conn, alert_message(alert, ["oyama", "haguro"]))
    fan_out_pending(conn, now=NOW)
    conn.execute("UPDATE subscriptions SET areas = '{yunohama}' WHERE id = %s", (got,))
    mark_delivered(conn, v1)
    conn.execute("UPDATE deliveries SET state = 'queued' WHERE subscription_id = %s", (waiting,))
    v2 = add_outbox(
        conn,
        alert_message(
            alert, ["oyama", "haguro"], version=2, msg_type=MsgType.cancel, ended=True, response=Response.none
        ),
    )
    fan_out_pending(conn, now=NOW)
    assert queued_for(conn, v2) == {got, waiting}
    assert bystander not in queued_for(conn, v2)


def test_exercises_and_tests_are_never_fanned_out(conn):
    add_subscription(conn, channel="line", address="U" + "1" * 32, areas=["oyama"])
    for status in (Status.exercise, Status.test):
        alert = add_alert(conn, status=str(status))
        outbox = add_outbox(conn, alert_message(alert, ["oyama"], status=status))
        result = fan_out_next(conn, now=NOW)
        assert result is not None and result.audience is Audience.nobody and result.queued == 0
        assert queued_for(conn, outbox) == set()
        assert conn.execute("SELECT done_at FROM alert_outbox WHERE id = %s", (outbox,)).fetchone()[0] == NOW
    assert conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0


def test_versions_of_one_alert_fan_out_in_order(conn, database_url):
    add_subscription(conn, channel="line", address="U" + "1" * 32, areas=["oyama"])
    alert = add_alert(conn)
    other = add_alert(conn)
    v1 = add_outbox(conn, alert_message(alert, ["oyama"]))
    add_outbox(conn, alert_message(alert, ["oyama"], version=2, msg_type=MsgType.update))
    o1 = add_outbox(conn, alert_message(other, ["oyama"]))
    with db.connect(database_url) as holder, holder.transaction():
        holder.execute("SELECT 1 FROM alert_outbox WHERE id = %s FOR UPDATE", (v1,))
        # v1 is being fanned out elsewhere: v2 must wait for it, the other alert need not
        result = fan_out_next(conn, now=NOW)
        assert result is not None and result.outbox_id == o1
        assert fan_out_next(conn, now=NOW) is None
    assert [r.version for r in fan_out_pending(conn, now=NOW)] == [1, 2]


def test_a_first_wave_is_committed_before_the_rest_and_a_crash_between_loses_nothing(conn):
    subs = {add_subscription(conn, channel="line", address=f"U{i:032x}", areas=["oyama"]) for i in range(5)}
    alert = add_alert(conn)
    outbox = add_outbox(conn, alert_message(alert, ["oyama"]))
    # a worker killed after its first wave of 2: the row is not done, 2 deliveries exist
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            """INSERT INTO deliveries (outbox_id, subscription_id, not_before, deadline)
               SELECT %s, id, now(), now() FROM subscriptions LIMIT 2""",
            (outbox,),
        )
    result = fan_out_next(conn, now=NOW, first_wave=2)
    assert result is not None and result.outbox_id == outbox and result.queued == 3
    assert queued_for(conn, outbox) == subs
    assert conn.execute("SELECT done_at FROM alert_outbox WHERE id = %s", (outbox,)).fetchone()[0] == NOW


def test_a_row_between_its_two_waves_is_left_to_the_worker_fanning_it_out(conn, database_url):
    from notify.fanout import FANOUT_LOCK

    for i in range(5):
        add_subscription(conn, channel="line", address=f"U{i:032x}", areas=["oyama"])
    alert = add_alert(conn)
    outbox = add_outbox(conn, alert_message(alert, ["oyama"]))
    with db.connect(database_url) as other:  # a worker that has committed its first wave
        other.execute("SELECT pg_advisory_lock(%s, %s)", (FANOUT_LOCK, outbox))
        assert fan_out_next(conn, now=NOW, first_wave=2) is None
        assert queued_for(conn, outbox) == set()
    # its session ended: the lock with it (the server lets go once that backend has exited,
    # a moment after the client closed)
    wait_for(lambda: not conn.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'").fetchone())
    result = fan_out_next(conn, now=NOW, first_wave=2)
    assert result is not None and result.queued == 5
    assert conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0] == 0
