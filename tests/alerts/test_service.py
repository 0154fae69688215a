"""The evaluator against a real database: windows fetched, states stored, quality
flags written back, alerts opened through the lifecycle, idempotent re-evaluation,
and a notification from ingest waking it within moments."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from alerts.service import Evaluator, evaluate, run
from ingest.plan import plan_batch
from ingest.store import load_devices, write_plan
from kawamori import contract, db
from kawamori.messages import Message
from kawamori.model import Quality
from tests.helpers import wait_for

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)


def insert(conn, station: str, when: datetime, level: float, quality: int = 0) -> None:
    conn.execute(
        "INSERT INTO readings (station_id, time, level_m, quality) VALUES (%s, %s, %s, %s)",
        (station, when, level, quality),
    )


def rows(conn, sql: str, *args) -> list[tuple]:
    return conn.execute(sql, args).fetchall()


def test_confirms_stages_opens_alerts_and_is_idempotent(demo_db):
    with db.connect(demo_db) as conn:
        for minutes_ago in (30, 20, 10):  # a real river moves: the same value again confirms nothing
            ripple = minutes_ago / 1000
            insert(conn, "kyoden-chiwara", NOW - timedelta(minutes=minutes_ago), 12.9 + ripple)  # caution (2)
            insert(conn, "kyoden-jumonji", NOW - timedelta(minutes=minutes_ago), 8.0 + ripple)  # danger (4)
            insert(conn, "kyoden-kanehiro", NOW - timedelta(minutes=minutes_ago), 2.0)  # below every stage
        insert(conn, "kyoden-chiwara", NOW - timedelta(minutes=5), 15.0, int(Quality.SENSOR_ERROR))
        insert(conn, "kyoden-kanehiro", NOW + timedelta(minutes=1), 9.0)  # the future is ignored

        states = {a.station_id: a.state for a in evaluate(conn, now=NOW)}
        assert states["kyoden-chiwara"].stage_key == "caution"
        assert states["kyoden-jumonji"].stage_key == "danger"
        assert states["kyoden-kanehiro"].stage_key is None
        assert rows(conn, "SELECT station_id, stage_key, alert_level FROM station_status ORDER BY 1") == [
            ("kyoden-chiwara", "caution", 2),
            ("kyoden-jumonji", "danger", 4),
            ("kyoden-kanehiro", None, None),
        ]
        # per area: level 2 goes out by itself; level 4 is proposed and waits for a person
        assert rows(
            conn,
            """SELECT area_id, station_id, state, alert_level, proposal, pending_level, public
               FROM alerts WHERE kind = 'area' ORDER BY 1""",
        ) == [
            ("area-kyoden-lower", "kyoden-jumonji", "pending", None, "raise", 4, True),
            ("area-kyoden-upper", "kyoden-chiwara", "active", 2, None, None, True),
        ]
        assert rows(conn, "SELECT msg_type, version FROM alert_outbox") == [("Alert", 1)]

        written = rows(conn, "SELECT count(*) FROM alert_audit")
        again = {a.station_id: a.state for a in evaluate(conn, now=NOW)}
        assert again == states
        assert rows(conn, "SELECT count(*) FROM alert_audit") == written


def test_quality_flags_are_stored_on_the_readings(demo_db):
    with db.connect(demo_db) as conn:
        for i in range(8):  # a stuck sensor: the same level to the millimetre for 70 minutes
            insert(conn, "kyoden-kanehiro", NOW - timedelta(minutes=70 - 10 * i), 5.123)
        evaluate(conn, now=NOW)
        flagged = rows(
            conn,
            "SELECT time FROM readings WHERE quality & %s <> 0 ORDER BY time",
            int(Quality.FLAT_LINE),
        )
        # QARTOD flags each reading that completes a flat run (6 readings over 50 minutes)
        assert [t for (t,) in flagged] == [NOW - timedelta(minutes=m) for m in (20, 10, 0)]
        kinds = {r[0] for r in rows(conn, "SELECT kind FROM alerts WHERE station_id = 'kyoden-kanehiro'")}
        assert kinds == {"sensor"}  # staff see the fault; nothing public


def test_a_silent_station_goes_offline_and_its_alert_turns_stale(demo_db):
    with db.connect(demo_db) as conn:
        evaluator = Evaluator(conn)
        for minutes_ago in (30, 20, 10):
            insert(conn, "kyoden-jumonji", NOW - timedelta(minutes=minutes_ago), 8.0 + minutes_ago / 1000)
        evaluator.evaluate(now=NOW)
        later = NOW + timedelta(hours=2)
        evaluator.evaluate(now=later)  # the periodic tick, with no new reading
        assert rows(conn, "SELECT offline FROM station_status WHERE station_id = 'kyoden-jumonji'") == [
            (True,)
        ]
        alerts = dict(rows(conn, "SELECT kind, stale FROM alerts WHERE station_id = 'kyoden-jumonji'"))
        assert alerts == {"area": True, "offline": False}
        # the proposal is kept, not dropped: its evidence is marked lost
        assert rows(conn, "SELECT state, proposal, pending_level FROM alerts WHERE kind = 'area'") == [
            ("pending", "raise", 4)
        ]


def test_notification_from_ingest_wakes_the_evaluator(demo_db):
    stopping = threading.Event()
    thread = threading.Thread(target=run, args=(demo_db,), kwargs={"tick_s": 3600, "stopping": stopping})
    thread.start()
    try:
        now = datetime.now(UTC)
        with db.connect(demo_db) as conn:
            conn.execute("UPDATE devices SET installed_at = %s", (now - timedelta(days=1),))
            for seq in range(3):
                when = now - timedelta(minutes=20 - 10 * seq)
                payload = contract.encode_batch(
                    [contract.encode_reading(seq=seq, time=when, level_m=7.9 + seq / 100)]
                )
                message = Message(contract.topic("kw-demo-02", "reading"), payload, 1, False, seq + 1, now)
                write_plan(conn, plan_batch([message], load_devices(conn), max_payload_bytes=65_536))

            def judged():
                return conn.execute(
                    "SELECT stage_key FROM station_status WHERE station_id = 'kyoden-jumonji'"
                ).fetchone()

            assert wait_for(
                lambda: judged() == ("danger",),
                timeout=10,
                explain=lambda: rows(conn, "SELECT station_id, state FROM station_status"),
            )
            assert rows(conn, "SELECT state, pending_level FROM alerts WHERE kind = 'area'") == [
                ("pending", 4)
            ]
    finally:
        stopping.set()
        thread.join(10)


def test_the_service_judges_at_its_injected_clock(demo_db):
    """A station silent for hours in simulated time goes offline although, by the wall
    clock, its readings are from long ago anyway: the service only knows its clock."""
    from simulator.clock import ManualClock

    start = datetime(2025, 9, 20, 21, 0, tzinfo=UTC)
    clock = ManualClock(start)
    with db.connect(demo_db) as conn:
        conn.execute("UPDATE devices SET installed_at = %s", (start - timedelta(days=1),))
        for seq in range(3):
            when = start - timedelta(minutes=20 - 10 * seq)
            payload = contract.encode_batch(
                [contract.encode_reading(seq=seq, time=when, level_m=7.9 + seq / 100)]
            )
            message = Message(contract.topic("kw-demo-02", "reading"), payload, 1, False, seq + 1, start)
            write_plan(conn, plan_batch([message], load_devices(conn), max_payload_bytes=65_536))
    stopping = threading.Event()
    thread = threading.Thread(
        target=run, args=(demo_db,), kwargs={"tick_s": 30, "stopping": stopping, "clock": clock}
    )
    thread.start()
    try:
        with db.connect(demo_db) as conn:

            def status():
                return conn.execute(
                    "SELECT stage_key, offline FROM station_status WHERE station_id = 'kyoden-jumonji'"
                ).fetchone()

            assert wait_for(lambda: status() == ("danger", False), timeout=10)
            clock.advance(3 * 3600)  # the next tick sees three silent hours
            assert wait_for(lambda: status() == ("danger", True), timeout=10)
    finally:
        stopping.set()
        thread.join(10)


def test_a_backlog_longer_than_the_window_is_judged_reading_by_reading(demo_db):
    """A board's four-hour backlog lands at once: the evaluator takes every reading
    since the last one it judged into account, so the stage is entered at the time of
    the reading that reached it, not at the start of the newest window."""
    station = "kyoden-jumonji"  # caution 7.07 m, danger 7.77 m
    start = NOW - timedelta(hours=5)
    with db.connect(demo_db) as conn:
        for i in range(13):  # an hour at 5.0 m
            insert(conn, station, start + timedelta(minutes=5 * i), 5.0)
        evaluate(conn, now=start + timedelta(hours=1))
        assert rows(conn, "SELECT stage_key FROM station_status WHERE station_id = %s", station) == [
            ("observation",)
        ]
        # silence for four hours, then the backlog: a steady rise of 1.5 m/h from 5.0 m (to
        # 10.0 m: further, 3 m above the danger level, a reading is suspect and holds no stage)
        for i in range(1, 41):
            when = start + timedelta(hours=1, minutes=5 * i)
            insert(conn, station, when, 5.0 + 1.5 * i * 5 / 60)
        # the station's whole area is evaluated (kyoden-kanehiro too: its fast path)
        assessments = {a.station_id: a for a in evaluate(conn, now=NOW, station_ids=[station])}
    assert set(assessments) == {station, "kyoden-kanehiro"}
    assessment = assessments[station]
    assert assessment.state.stage_key == "danger"
    # 7.77 m is reached 1 h 51 min into the rise (5.0 + 1.5 × 1.85), long before the
    # newest window (70 min back from the newest reading, 2 h 50 min into the rise) begins;
    # the confirmed level (a median of three) follows a reading later
    entered = assessment.state.stage_since - (start + timedelta(hours=1))
    assert timedelta(hours=1, minutes=50) <= entered <= timedelta(hours=2), entered
