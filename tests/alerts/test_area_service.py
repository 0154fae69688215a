"""Area decisions end to end against a real database: the evaluator proposes, staff
approve through alerts.actions, and the area's public level never drops until staff
lift it — the hand-over (an approved forecast, then the observed crossing) that once
fell back to level 2 for a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts import actions
from alerts.errors import Conflict
from alerts.service import Evaluator
from dashboard.resident_view import current_levels
from kawamori import db
from kawamori.model import Role
from shelters.areas import danger_areas
from tests.alerts.alert_factories import add_staff

T0 = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)
TOMIZAWA = "fujishima-tomizawa"  # caution 13.75 m (level 2), danger 14.75 m (level 4)
AREA = "area-fujishima"
SENDER = "kawamori@city.example.lg.jp"


def insert(conn, station: str, when: datetime, level: float) -> None:
    conn.execute(
        "INSERT INTO readings (station_id, time, level_m) VALUES (%s, %s, %s)", (station, when, level)
    )


def issuance(conn) -> tuple:
    return conn.execute(
        """SELECT id, state, alert_level, proposal, pending_level, proposal_reason, revision
           FROM alerts WHERE kind = 'area' AND area_id = %s ORDER BY id DESC LIMIT 1""",
        (AREA,),
    ).fetchone()


def outbox(conn) -> list[tuple]:
    return conn.execute(
        """SELECT msg_type, version, payload->>'alert_level', payload->>'response', payload->>'sender',
                  jsonb_array_length(payload->'references')
           FROM alert_outbox ORDER BY id"""
    ).fetchall()


def test_an_approved_forecast_is_never_replaced_by_a_lower_level(demo_db):
    with db.connect(demo_db) as conn:
        operator = add_staff(conn, "sato", Role.operator, "佐藤 花子")
        evaluator = Evaluator(conn, sender=SENDER)
        now = T0
        # a fast rise towards danger: the trend reaches 14.75 m within the lead time
        level = 12.9
        for _ in range(8):
            now += timedelta(minutes=10)
            level += 0.15
            insert(conn, TOMIZAWA, now, level)
            evaluator.evaluate(now=now)
        alert_id, state, issued, proposal, pending, reason, revision = issuance(conn)
        assert (proposal, pending, reason) == ("raise", 4, "forecast")
        assert issued in (None, 2)  # level 2 (caution) goes out by itself once confirmed
        actions.approve(conn, alert_id=alert_id, actor=operator, now=now, revision=revision, sender=SENDER)
        assert issuance(conn)[1:3] == ("active", 4)  # issued in the approving transaction
        public = [current_levels(conn, areas=[AREA])]

        # the river crosses danger and keeps rising, then falls far below every stage
        for step in [0.2] * 6 + [-0.4] * 10:
            now += timedelta(minutes=10)
            level += step
            insert(conn, TOMIZAWA, now, level)
            evaluator.evaluate(now=now)
            public.append(current_levels(conn, areas=[AREA]))
            assert issuance(conn)[2] == 4
        assert all(levels == {AREA: 4} for levels in public), public
        assert [a.id for a in danger_areas(conn)] == [AREA]
        _, state, issued, proposal, pending, reason, revision = issuance(conn)
        assert (state, issued, proposal, pending) == ("active", 4, "lift", 0)

        # a stale browser: it saw the lift proposal, which changed meanwhile
        with pytest.raises(Conflict, match="changed since you saw it"):
            actions.approve(
                conn, alert_id=alert_id, actor=operator, now=now, revision=revision - 1, sender=SENDER
            )
        actions.approve(conn, alert_id=alert_id, actor=operator, now=now, revision=revision, sender=SENDER)
        assert issuance(conn)[1] == "resolved"
        assert current_levels(conn, areas=[AREA]) == {}

        messages = outbox(conn)
        # one incident: issued, (caution → 4 is one Update if level 2 went out first), lifted
        assert messages[-1][3] == "AllClear" and {m[4] for m in messages} == {SENDER}
        assert [m[1] for m in messages] == list(range(1, len(messages) + 1))
        assert [m[5] for m in messages] == list(range(len(messages)))  # every earlier version referenced
        assert all(m[2] in ("2", "4") for m in messages)
        levels_sent = [int(m[2]) for m in messages]
        assert levels_sent == sorted(levels_sent)  # never lowered on the way
        audit = conn.execute(
            """SELECT action, actor_id FROM alert_audit WHERE alert_id = %s
               AND action IN ('issued', 'raised', 'lowered', 'lifted') ORDER BY id""",
            (alert_id,),
        ).fetchall()
        # every public change is a person's decision or the written policy's (level 2 only)
        assert all(
            actor == operator.id or action == "issued" for action, actor in audit if action != "raised"
        )
        assert ("lifted", operator.id) in audit


def test_two_approvers_at_level_5_issue_at_once_and_a_repeat_is_a_conflict(demo_db):
    from alerts.model import Condition, Kind
    from alerts.policy import ApprovalPolicy
    from alerts.store import apply_many

    with db.connect(demo_db) as conn:
        first = add_staff(conn, "chief", Role.approver)
        second = add_staff(conn, "mayor", Role.approver)
        condition = Condition(TOMIZAWA, Kind.stage, 5, "flooding", details={"level_m": 15.9})
        apply_many(conn, conditions={TOMIZAWA: [condition]}, now=T0, policy=ApprovalPolicy())
        alert_id, _, _, proposal, pending, _, revision = issuance(conn)
        assert (proposal, pending) == ("raise", 5)
        actions.approve(conn, alert_id=alert_id, actor=first, now=T0, revision=revision)
        assert issuance(conn)[1] == "pending"
        actions.approve(conn, alert_id=alert_id, actor=second, now=T0, revision=revision)
        assert issuance(conn)[1:3] == ("active", 5)  # no wait for the evaluator's tick
        with pytest.raises(Conflict, match="no open proposal"):
            actions.approve(conn, alert_id=alert_id, actor=second, now=T0, revision=revision)


def test_two_approvers_at_the_same_moment_issue_level_5_without_waiting(demo_db):
    import threading

    from alerts.model import Condition, Kind
    from alerts.policy import ApprovalPolicy
    from alerts.store import apply_many

    with db.connect(demo_db) as conn:
        people = [add_staff(conn, name, Role.approver) for name in ("chief", "mayor")]
        condition = Condition(TOMIZAWA, Kind.stage, 5, "flooding", details={"level_m": 15.9})
        apply_many(conn, conditions={TOMIZAWA: [condition]}, now=T0, policy=ApprovalPolicy())
        alert_id, *_, revision = issuance(conn)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def approve(person):
        with db.connect(demo_db) as conn:
            barrier.wait()
            try:
                actions.approve(conn, alert_id=alert_id, actor=person, now=T0, revision=revision)
            except Exception as error:  # collected and asserted below
                errors.append(error)

    threads = [threading.Thread(target=approve, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.connect(demo_db) as conn:  # both approvals counted; issued before any tick
        assert issuance(conn)[1:3] == ("active", 5)
        assert outbox(conn)[0][:3] == ("Alert", 1, "5")


def test_a_level_issued_again_soon_after_its_lift_is_held_for_the_flap_hold(demo_db):
    """The store tells a new issuance when the area's last one was lifted (from the
    alerts table), so the policy's flap hold applies across issuances as in the replay."""
    from alerts.model import Condition, Kind
    from alerts.policy import ApprovalPolicy
    from alerts.store import apply_many

    policy = ApprovalPolicy()
    caution = Condition(TOMIZAWA, Kind.forecast, 2, "caution", details={"level_m": 13.6, "hold_s": 600.0})
    with db.connect(demo_db) as conn:

        def tick(minutes: float, *conditions: Condition) -> tuple:
            apply_many(
                conn,
                conditions={TOMIZAWA: list(conditions)},
                now=T0 + timedelta(minutes=minutes),
                policy=policy,
            )
            return issuance(conn)

        six = 6 * 60
        assert tick(0, caution)[1:3] == ("active", 2)
        assert tick(15)[1:3] == ("active", 2)  # the 10 minutes' hold is over; it went up < 6 h ago
        assert tick(six - 1)[1] == "active"
        first, state, *_ = tick(six)
        assert state == "resolved"  # lifted by the policy 6 h after it went up
        second, state, level, *_ = tick(six + 30, caution)  # back 30 min later: a new issuance
        assert (state, level) == ("active", 2) and second != first
        tick(six + 35)  # the evidence falls again
        assert tick(six + 50)[1] == "active"  # the stations' 10 minutes are not enough now
        assert tick(six + 35 + six - 1)[1] == "active"  # 6 h below: it came back soon after its lift
        assert tick(six + 35 + six)[1] == "resolved"
        details = conn.execute("SELECT details FROM alerts WHERE id = %s", (second,)).fetchone()[0]
        assert details["came_down_at"] == (T0 + timedelta(minutes=six)).isoformat()


def test_a_new_issuance_after_a_declined_proposal_knows_the_last_lift(demo_db):
    """Lifted, then a level-4 proposal declined (its alert stays to remember the no),
    then level 2: the new issuance is held for the flap hold as in the replay."""
    from alerts.model import Condition, Kind
    from alerts.policy import ApprovalPolicy
    from alerts.store import apply_many

    policy = ApprovalPolicy()
    caution = Condition(TOMIZAWA, Kind.forecast, 2, "caution", details={"level_m": 13.6, "hold_s": 600.0})
    single = Condition(
        TOMIZAWA, Kind.unverified, 4, "danger", details={"level_m": 14.9, "plausible": True, "reason": "lone"}
    )
    with db.connect(demo_db) as conn:
        chief = add_staff(conn, "chief", Role.approver)

        def tick(minutes: float, *conditions: Condition) -> tuple:
            when = T0 + timedelta(minutes=minutes)
            apply_many(conn, conditions={TOMIZAWA: list(conditions)}, now=when, policy=policy)
            return issuance(conn)

        six = 6 * 60
        tick(0, caution)
        tick(1)
        assert tick(six)[1] == "resolved"
        proposed, state, *_ = tick(six + 8, single)
        assert state == "pending"
        actions.reject(
            conn, alert_id=proposed, actor=chief, now=T0 + timedelta(minutes=six + 9), reason="現地確認"
        )
        again, state, level, *_ = tick(six + 18, caution, single)  # the declined level 4 is not asked again
        assert (state, level) == ("active", 2) and again != proposed
        details = conn.execute("SELECT details FROM alerts WHERE id = %s", (again,)).fetchone()[0]
        assert details["came_down_at"] == (T0 + timedelta(minutes=six)).isoformat()
