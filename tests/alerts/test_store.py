"""The lifecycle's storage against the real PostgreSQL: one transaction per change,
nothing written when nothing changed, batches of 10,000 stations stay fast."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from alerts import actions, store
from alerts.errors import NotAllowed
from alerts.model import AlertState, Condition, Kind, Proposal
from alerts.policy import ApprovalPolicy
from kawamori import db
from kawamori.model import Role
from tests.alerts.alert_factories import STATION, T0, add_staff, stage

POLICY = ApprovalPolicy()
AREA = "area-kyoden-lower"  # kyoden-jumonji and kyoden-kanehiro


def counts(conn) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("alerts", "alert_audit", "alert_outbox", "alert_approvals")
    }


def test_a_change_writes_alert_audit_outbox_and_notify_together(demo_db):
    with db.connect(demo_db) as listener, db.connect(demo_db) as conn:
        listener.execute(f"LISTEN {db.ALERTS_CHANNEL}")
        [t] = store.apply(conn, station_id=STATION, conditions=[stage(2, level_m=7.1)], now=T0, policy=POLICY)
        assert counts(conn) == {"alerts": 1, "alert_audit": 2, "alert_outbox": 1, "alert_approvals": 0}
        alert = store.load_alert(conn, t.after.id)
        assert (alert.kind, alert.area_id) == (Kind.area, AREA)
        assert (alert.state, alert.version, alert.areas, alert.public) == (
            AlertState.active,
            1,
            ("area-kyoden-lower",),
            True,
        )
        [(payload,)] = conn.execute("SELECT payload FROM alert_outbox").fetchall()
        assert payload["identifier"] == f"kawamori:alert:{alert.id}:1"
        assert (payload["msg_type"], payload["level_m"], payload["response"]) == ("Alert", 7.1, "Monitor")
        assert payload["stage"]["name_ja"] == "氾濫注意水位"
        assert [n.payload for n in listener.notifies(timeout=2, stop_after=1)] == [str(alert.id)]


def test_nothing_is_written_when_nothing_changed_and_a_restart_loses_nothing(demo_db):
    with db.connect(demo_db) as conn:
        store.apply(conn, station_id=STATION, conditions=[stage(4)], now=T0, policy=POLICY)
        before = counts(conn)
    with db.connect(demo_db) as conn:  # a restarted evaluator
        later = T0 + timedelta(minutes=1)
        assert store.apply(conn, station_id=STATION, conditions=[stage(4)], now=later, policy=POLICY) == []
        assert counts(conn) == before
        [alert] = store.load_live_areas(conn, [AREA]).values()
        assert alert.updated_at == T0


def test_a_failed_write_leaves_nothing_behind(demo_db):
    with db.connect(demo_db) as conn:
        conn.execute(
            """CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'outbox down'; END $$;
               CREATE TRIGGER fail BEFORE INSERT ON alert_outbox FOR EACH ROW EXECUTE FUNCTION fail();"""
        )
        with pytest.raises(Exception, match="outbox down"):
            store.apply(conn, station_id=STATION, conditions=[stage(2)], now=T0, policy=POLICY)
        assert counts(conn) == {"alerts": 0, "alert_audit": 0, "alert_outbox": 0, "alert_approvals": 0}


def test_full_lifecycle_in_the_database(demo_db):
    with db.connect(demo_db) as conn:
        [t] = store.apply(conn, station_id=STATION, conditions=[stage(2)], now=T0, policy=POLICY)
        alert_id = t.after.id
        minute = timedelta(minutes=1)
        silent = [stage(2, stale=True), Condition(STATION, Kind.offline, details={"critical": True})]
        store.apply(conn, station_id=STATION, conditions=silent, now=T0 + minute, policy=POLICY)
        alert = store.load_alert(conn, alert_id)  # evidence lost: neither kept silently nor dropped
        assert alert.stale and (alert.proposal, alert.alert_level) == (Proposal.verify, 2)
        store.apply(conn, station_id=STATION, conditions=[stage(1)], now=T0 + 2 * minute, policy=POLICY)
        # the policy lowers its own level 6 h after it went up, then lifts it
        later = T0 + POLICY.flap_hold
        store.apply(conn, station_id=STATION, conditions=[stage(1)], now=later, policy=POLICY)
        store.apply(conn, station_id=STATION, conditions=[], now=later + minute, policy=POLICY)
        detail = actions.get_alert(conn, alert_id=alert_id)
        assert [e.action for e in detail.audit] == [
            "opened",
            "issued",
            "proposed",
            "proposal_withdrawn",
            "lowered",
            "lifted",
        ]
        rows = conn.execute(
            "SELECT msg_type, payload->>'response', (payload->>'ended')::bool"
            " FROM alert_outbox ORDER BY version"
        ).fetchall()
        assert rows == [
            ("Alert", "Monitor", False),
            ("Update", "Monitor", False),
            ("Update", "AllClear", True),
        ]
        assert store.load_live_areas(conn, [AREA]) == {}
        # raised again: a new alert
        [again] = store.apply(
            conn, station_id=STATION, conditions=[stage(2)], now=T0 + 4 * minute, policy=POLICY
        )
        assert again.after.id != alert_id


def test_a_rejection_suppresses_until_the_condition_ends(demo_db):
    with db.connect(demo_db) as conn:
        op = add_staff(conn, "op", Role.operator)
        [t] = store.apply(conn, station_id=STATION, conditions=[stage(4)], now=T0, policy=POLICY)
        actions.reject(conn, alert_id=t.after.id, actor=op, now=T0, reason="snow")
        assert store.load_live_areas(conn, [AREA])[f"area:{AREA}"].declined == "raise:4"
        assert store.apply(conn, station_id=STATION, conditions=[stage(4)], now=T0, policy=POLICY) == []
        [lifted] = store.apply(conn, station_id=STATION, conditions=[], now=T0, policy=POLICY)
        assert lifted.lifted is not None and store.load_live_areas(conn, [AREA]) == {}
        audit = [e.action for e in actions.get_alert(conn, alert_id=t.after.id).audit]
        assert audit == ["opened", "proposed", "declined", "unsuppressed"]


def test_reminders_for_pending_approvals(demo_db):
    with db.connect(demo_db) as conn, db.connect(demo_db) as listener:
        [t] = store.apply(conn, station_id=STATION, conditions=[stage(5)], now=T0, policy=POLICY)
        assert store.remind_pending(conn, now=T0 + timedelta(minutes=4), policy=POLICY) == []
        listener.execute(f"LISTEN {db.ALERTS_CHANNEL}")
        [reminded] = store.remind_pending(conn, now=T0 + timedelta(minutes=5), policy=POLICY)
        assert reminded.remind and reminded.after.notified_at == T0 + timedelta(minutes=5)
        assert [n.payload for n in listener.notifies(timeout=2, stop_after=1)] == [str(t.after.id)]
        assert store.remind_pending(conn, now=T0 + timedelta(minutes=6), policy=POLICY) == []
        assert [e.action for e in actions.get_alert(conn, alert_id=t.after.id).audit] == [
            "opened",
            "proposed",
            "reminded",
        ]


def test_exercise_and_staff_only_alerts_never_write_public_rows(demo_db):
    with db.connect(demo_db) as conn:
        conn.execute("UPDATE stations SET alert_status = 'Test' WHERE id = 'kyoden-chiwara'")
        store.apply(
            conn, station_id="kyoden-chiwara", conditions=[stage(2, "kyoden-chiwara")], now=T0, policy=POLICY
        )
        offline = Condition(station_id=STATION, kind=Kind.offline, details={"silent_for_s": 3600})
        store.apply(conn, station_id=STATION, conditions=[offline], now=T0, policy=POLICY)
        rows = conn.execute("SELECT status, public, payload->>'status' FROM alert_outbox").fetchall()
        assert rows == [("Test", False, "Test")]
        assert conn.execute("SELECT count(*) FROM alerts WHERE public").fetchone()[0] == 0


def test_ten_thousand_stations_in_one_batch(database_url):
    n = 10_000
    with db.connect(database_url) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY stations (id, name_ja, name_en, river_ja, river_en, latitude, longitude,"
                " mount_height_m, level_min_m, level_max_m) FROM STDIN"
            ) as copy,
        ):
            for i in range(n):
                copy.write_row((f"s{i:05d}", "局", "Station", "川", "River", 38.0, 139.0, 10.0, 0.0, 9.0))
        ids = [f"s{i:05d}" for i in range(n)]
        quiet = {s: [] for s in ids}
        flooding = {s: [stage(2, s)] if i % 10 == 0 else [] for i, s in enumerate(ids)}

        def apply(conditions, now):
            return store.apply_many(conn, conditions=conditions, now=now, policy=POLICY)

        assert apply(quiet, T0) == []
        assert len(apply(flooding, T0)) == n // 10
        assert apply(flooding, T0 + timedelta(seconds=30)) == []
        held = apply(quiet, T0 + timedelta(minutes=1))  # it went up under 6 h ago: held, says until when
        assert len(held) == n // 10 and not any(t.message or t.audit for t in held)
        assert counts(conn)["alert_outbox"] == n // 10
        assert len(apply(quiet, T0 + POLICY.flap_hold)) == n // 10
        assert counts(conn)["alert_outbox"] == 2 * (n // 10)


def test_an_exercise_made_public_is_refused(demo_db):
    with db.connect(demo_db) as conn:
        conn.execute("UPDATE stations SET alert_status = 'Exercise' WHERE id = %s", (STATION,))
        [t] = store.apply(conn, station_id=STATION, conditions=[stage(2)], now=T0, policy=POLICY)
        forged = replace(t, before=None, after=replace(t.after, id=None, public=True, fingerprint="x"))
        with pytest.raises(NotAllowed):
            store.write(conn, [forged], now=T0, sender="kawamori")


def test_two_evaluators_racing_open_one_alert(demo_db):
    import threading

    barrier = threading.Barrier(4)
    results: list[int] = []

    def evaluate():
        with db.connect(demo_db) as conn:
            barrier.wait()
            results.append(
                len(store.apply(conn, station_id=STATION, conditions=[stage(2)], now=T0, policy=POLICY))
            )

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 0, 1]
    with db.connect(demo_db) as conn:
        assert counts(conn) == {"alerts": 1, "alert_audit": 2, "alert_outbox": 1, "alert_approvals": 0}


def test_a_staff_action_between_deciding_and_writing_is_taken_into_account(demo_db, monkeypatch):
    with db.connect(demo_db) as conn, db.connect(demo_db) as staff_conn:
        op = add_staff(conn, "op", Role.operator)
        [t] = store.apply(conn, station_id=STATION, conditions=[stage(4)], now=T0, policy=POLICY)
        load_live_areas = store.load_live_areas

        def approve_meanwhile(conn, area_ids, *, lock=False):
            found = load_live_areas(conn, area_ids, lock=lock)
            if not lock:  # the evaluator has decided "withdraw": an operator approves just now
                actions.approve(staff_conn, alert_id=t.after.id, actor=op, now=T0)
            return found

        monkeypatch.setattr(store, "load_live_areas", approve_meanwhile)
        [ended] = store.apply(
            conn, station_id=STATION, conditions=[], now=T0 + timedelta(minutes=1), policy=POLICY
        )
        # not "withdrawn": it had gone out, and lifting level 4 is a person's decision
        assert (ended.after.state, ended.after.alert_level) == (AlertState.active, 4)
        assert ended.after.proposal is Proposal.lift
        rows = conn.execute("SELECT msg_type FROM alert_outbox ORDER BY version").fetchall()
        assert rows == [("Alert",)]


def forecast(level: int) -> Condition:
    return Condition(STATION, Kind.forecast, level, "caution", details={"eta": "2026-07-01T04:00:00+00:00"})


def test_a_forecast_whose_stage_arrives_is_the_same_issuance(demo_db):
    with db.connect(demo_db) as conn:
        store.apply(conn, station_id=STATION, conditions=[forecast(2)], now=T0, policy=POLICY)
        later = T0 + timedelta(minutes=20)
        store.apply(conn, station_id=STATION, conditions=[stage(2)], now=later, policy=POLICY)
        rows = conn.execute(
            """SELECT a.kind, a.state, a.details->>'basis', o.msg_type FROM alerts a
               LEFT JOIN alert_outbox o ON o.alert_id = a.id ORDER BY a.id, o.version"""
        ).fetchall()
        # one issuance: the observed crossing is new evidence for the same level, no message
        assert rows == [("area", "active", "observed", "Alert")]


def test_a_forecast_that_does_not_come_true_is_cleared(demo_db):
    with db.connect(demo_db) as conn:
        store.apply(conn, station_id=STATION, conditions=[forecast(2)], now=T0, policy=POLICY)
        store.apply(conn, station_id=STATION, conditions=[], now=T0 + timedelta(minutes=30), policy=POLICY)
        rows = conn.execute("SELECT msg_type, payload->>'response' FROM alert_outbox ORDER BY id").fetchall()
        assert rows == [("Alert", "Monitor")]  # residents keep it 6 h: no all-clear and re-issue
        store.apply(conn, station_id=STATION, conditions=[], now=T0 + POLICY.flap_hold, policy=POLICY)
        rows = conn.execute("SELECT msg_type, payload->>'response' FROM alert_outbox ORDER BY id").fetchall()
        assert rows == [("Alert", "Monitor"), ("Update", "AllClear")]
