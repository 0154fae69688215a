"""Staff actions against the real database: roles and the approval policy enforced
server-side, audit with the actor, outbox in the same transaction, races serialised."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from alerts import actions, store
from alerts.errors import Conflict, NotAllowed, NotFound
from alerts.model import AlertState
from alerts.policy import ApprovalPolicy
from kawamori import db
from kawamori.model import Role
from tests.alerts.alert_factories import STATION, T0, add_staff, sensor, stage

POLICY = ApprovalPolicy()


@pytest.fixture
def staff(demo_db):
    with db.connect(demo_db) as conn:
        return {
            "viewer": add_staff(conn, "viewer", Role.viewer, "閲覧 太郎"),
            "op": add_staff(conn, "op", Role.operator, "操作 花子"),
            "op2": add_staff(conn, "op2", Role.operator),
            "ap": add_staff(conn, "ap", Role.approver, "承認 一郎"),
            "ap2": add_staff(conn, "ap2", Role.approver),
            "admin": add_staff(conn, "admin", Role.admin),
        }


def raise_alert(conn, level, now=T0, station=STATION) -> int:
    [t] = store.apply(conn, station_id=station, conditions=[stage(level, station)], now=now, policy=POLICY)
    assert t.after is not None and t.after.id is not None
    return t.after.id


def outbox(conn, alert_id):
    return conn.execute(
        "SELECT version, msg_type, status, public, payload FROM alert_outbox"
        " WHERE alert_id = %s ORDER BY version",
        (alert_id,),
    ).fetchall()


def test_level_3_needs_one_operator_and_a_viewer_cannot_approve(conn, demo_db, staff):
    alert_id = raise_alert(conn, 3)
    view = actions.get_alert(conn, alert_id=alert_id).view
    assert view.alert.state is AlertState.pending
    assert (view.awaiting_level, view.approvals_needed, view.role_needed) == (3, 1, Role.operator)
    assert outbox(conn, alert_id) == []
    with pytest.raises(NotAllowed):
        actions.approve(conn, alert_id=alert_id, actor=staff["viewer"], now=T0)
    view = actions.approve(
        conn, alert_id=alert_id, actor=staff["op"], now=T0 + timedelta(minutes=1), reason="ok"
    )
    assert view.alert.state is AlertState.active
    assert not view.awaiting_approval
    [(version, msg_type, status, public, payload)] = outbox(conn, alert_id)
    assert (version, msg_type, status, public) == (1, "Alert", "Actual", True)
    assert payload["response"] == "Evacuate"
    assert [a["id"] for a in payload["areas"]] == ["area-kyoden-lower"]
    assert payload["areas"][0]["geometry"]["type"] == "Polygon"
    assert payload["station"]["name_ja"] == "十文字橋"
    with pytest.raises(Conflict):
        actions.approve(conn, alert_id=alert_id, actor=staff["op2"], now=T0)


def test_highest_level_needs_two_distinct_approvers(conn, demo_db, staff):
    alert_id = raise_alert(conn, 5)
    with pytest.raises(NotAllowed):  # an operator is not enough for level 5
        actions.approve(conn, alert_id=alert_id, actor=staff["op"], now=T0)
    view = actions.approve(conn, alert_id=alert_id, actor=staff["ap"], now=T0)
    assert view.alert.state is AlertState.pending
    assert view.approvals_needed == 1 and [a.display_name for a in view.approvals] == ["承認 一郎"]
    with pytest.raises(NotAllowed):  # the same person twice
        actions.approve(conn, alert_id=alert_id, actor=staff["ap"], now=T0)
    assert outbox(conn, alert_id) == []
    view = actions.approve(conn, alert_id=alert_id, actor=staff["admin"], now=T0)
    assert view.alert.state is AlertState.active
    assert [row[1] for row in outbox(conn, alert_id)] == ["Alert"]


def test_audit_trail_names_the_actor_and_is_append_only(conn, demo_db, staff):
    alert_id = raise_alert(conn, 4)
    actions.approve(conn, alert_id=alert_id, actor=staff["op"], now=T0, reason="confirmed by patrol")
    actions.acknowledge(conn, alert_id=alert_id, actor=staff["op2"], now=T0)
    detail = actions.get_alert(conn, alert_id=alert_id)
    assert [(e.action, e.actor_name) for e in detail.audit] == [
        ("opened", None),
        ("proposed", None),
        ("approved", "操作 花子"),
        ("issued", "操作 花子"),
        ("acknowledged", "Op2"),
    ]
    assert detail.audit[2].reason == "confirmed by patrol"
    with pytest.raises(Exception, match="append-only"):
        conn.execute("UPDATE alert_audit SET reason = 'x' WHERE alert_id = %s", (alert_id,))
    with pytest.raises(Exception, match="append-only"):
        conn.execute("DELETE FROM alert_audit WHERE alert_id = %s", (alert_id,))


def test_reject_withdraws_without_anything_public_and_does_not_ask_again(conn, demo_db, staff):
    alert_id = raise_alert(conn, 4)
    with pytest.raises(NotAllowed):
        actions.reject(conn, alert_id=alert_id, actor=staff["op"], now=T0, reason="  ")
    view = actions.reject(conn, alert_id=alert_id, actor=staff["op"], now=T0, reason="snow on the sensor")
    assert view.alert.state is AlertState.withdrawn
    assert outbox(conn, alert_id) == []
    # the same condition again: nothing new
    assert (
        store.apply(
            conn, station_id=STATION, conditions=[stage(4)], now=T0 + timedelta(minutes=1), policy=POLICY
        )
        == []
    )
    # it ends, then comes back: a new alert
    store.apply(conn, station_id=STATION, conditions=[], now=T0 + timedelta(minutes=2), policy=POLICY)
    new_id = raise_alert(conn, 4, now=T0 + timedelta(minutes=3))
    assert new_id != alert_id


def test_cancel_sends_a_cancel_referencing_earlier_versions(conn, demo_db, staff):
    alert_id = raise_alert(conn, 2)  # automatic
    later = T0 + POLICY.flap_hold  # the policy lowers its own level no sooner
    store.apply(conn, station_id=STATION, conditions=[stage(1)], now=later, policy=POLICY)
    with pytest.raises(NotAllowed):
        actions.cancel(conn, alert_id=alert_id, actor=staff["viewer"], now=later, reason="mistake")
    view = actions.cancel(
        conn, alert_id=alert_id, actor=staff["op"], now=later + timedelta(minutes=1), reason="sensor fault"
    )
    assert view.alert.state is AlertState.cancelled
    rows = outbox(conn, alert_id)
    assert [r[1] for r in rows] == ["Alert", "Update", "Cancel"]
    cancel = rows[-1][4]
    assert cancel["references"] == [f"kawamori:alert:{alert_id}:1", f"kawamori:alert:{alert_id}:2"]
    assert (cancel["response"], cancel["ended"], cancel["note"]) == ("None", True, "sensor fault")
    with pytest.raises(Conflict):
        actions.cancel(conn, alert_id=alert_id, actor=staff["op"], now=T0, reason="again")


def test_not_found_and_acknowledge_is_idempotent(conn, demo_db, staff):
    with pytest.raises(NotFound):
        actions.approve(conn, alert_id=999, actor=staff["op"], now=T0)
    [t] = store.apply(conn, station_id=STATION, conditions=[sensor()], now=T0, policy=POLICY)
    alert_id = t.after.id
    with pytest.raises(NotAllowed):
        actions.acknowledge(conn, alert_id=alert_id, actor=staff["viewer"], now=T0)
    first = actions.acknowledge(conn, alert_id=alert_id, actor=staff["op"], now=T0)
    again = actions.acknowledge(conn, alert_id=alert_id, actor=staff["op2"], now=T0 + timedelta(minutes=1))
    assert first.alert.acknowledged_by == again.alert.acknowledged_by == staff["op"].id
    assert outbox(conn, alert_id) == []  # staff-only kinds never reach the outbox


def test_list_puts_awaiting_approval_first(conn, demo_db, staff):
    auto = raise_alert(conn, 2, station="kyoden-chiwara")
    pending = raise_alert(conn, 4, station="kyoden-kanehiro")
    ended = raise_alert(conn, 2, station="fujishima-tomizawa")  # each in its own area
    store.apply(  # the policy lifts its own level 6 h after it went up
        conn, station_id="fujishima-tomizawa", conditions=[], now=T0 + POLICY.flap_hold, policy=POLICY
    )
    assert [v.id for v in actions.list_alerts(conn)] == [pending, auto, ended]
    assert [v.id for v in actions.list_alerts(conn, open_only=True)] == [pending, auto]
    views = actions.list_alerts(conn, limit=1)
    assert views[0].station_name_en == "Kanehiro Bridge" and views[0].approvals_needed == 1


def test_escalation_waits_for_approval_while_the_alert_stays_active(conn, demo_db, staff):
    alert_id = raise_alert(conn, 2)
    store.apply(conn, station_id=STATION, conditions=[stage(4)], now=T0 + timedelta(minutes=1), policy=POLICY)
    view = actions.get_alert(conn, alert_id=alert_id).view
    assert (view.alert.state, view.alert.alert_level, view.alert.pending_level) == (AlertState.active, 2, 4)
    assert view.awaiting_level == 4
    view = actions.approve(conn, alert_id=alert_id, actor=staff["op"], now=T0 + timedelta(minutes=2))
    assert (view.alert.alert_level, view.alert.pending_level, view.alert.version) == (4, None, 2)
    assert [r[1] for r in outbox(conn, alert_id)] == ["Alert", "Update"]


def test_exercise_alerts_never_reach_a_public_channel(conn, demo_db, staff):
    conn.execute("UPDATE stations SET alert_status = 'Exercise' WHERE id = %s", (STATION,))
    alert_id = raise_alert(conn, 5)
    actions.approve(conn, alert_id=alert_id, actor=staff["ap"], now=T0)
    view = actions.approve(conn, alert_id=alert_id, actor=staff["ap2"], now=T0)
    assert view.alert.state is AlertState.active and not view.alert.public
    rows = outbox(conn, alert_id)
    assert [(r[1], r[2], r[3]) for r in rows] == [("Alert", "Exercise", False)]
    assert rows[0][4]["status"] == "Exercise"
    with pytest.raises(Exception, match="check"):
        conn.execute("UPDATE alerts SET public = true WHERE id = %s", (alert_id,))


def test_two_approvals_racing_do_not_double_activate(demo_db, staff):
    with db.connect(demo_db) as conn:
        alert_id = raise_alert(conn, 4)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def approve(who):
        with db.connect(demo_db) as conn:
            barrier.wait()
            try:
                outcomes.append(
                    actions.approve(conn, alert_id=alert_id, actor=staff[who], now=T0).alert.state
                )
            except Conflict as error:
                outcomes.append(error)

    threads = [threading.Thread(target=approve, args=(who,)) for who in ("op", "op2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(type, outcomes), key=str) == sorted([AlertState, Conflict], key=str)
    with db.connect(demo_db) as conn:
        assert [r[1] for r in outbox(conn, alert_id)] == ["Alert"]
        assert conn.execute(
            "SELECT count(*) FROM alert_approvals WHERE alert_id = %s", (alert_id,)
        ).fetchone() == (1,)


def test_every_action_notifies_the_console(demo_db, staff):
    with db.connect(demo_db) as listener, db.connect(demo_db) as conn:
        listener.execute(f"LISTEN {db.ALERTS_CHANNEL}")
        alert_id = raise_alert(conn, 4)
        actions.approve(conn, alert_id=alert_id, actor=staff["op"], now=T0)
        payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=2)]
        assert payloads == [str(alert_id), str(alert_id)]
