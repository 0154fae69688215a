"""The evaluator against a real database: flagged readings never drive a judgement,
and a notification from ingest wakes it within moments."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from alerts.service import evaluate, run
from ingest.plan import plan_batch
from ingest.store import load_devices, write_plan
from kawamori import contract, db
from kawamori.model import Quality
from kawamori.mqtt import Message
from tests.helpers import wait_for


def insert(conn, station: str, when: datetime, level: float, quality: int = 0) -> None:
    conn.execute(
        "INSERT INTO readings (station_id, time, level_m, quality) VALUES (%s, %s, %s, %s)",
        (station, when, level, quality),
    )


def test_judges_the_latest_usable_reading(demo_db):
    now = datetime.now(UTC)
    with db.connect(demo_db) as conn:
        insert(conn, "kyoden-chiwara", now - timedelta(minutes=2), 12.9)  # caution
        insert(conn, "kyoden-chiwara", now - timedelta(minutes=1), 15.0, int(Quality.SENSOR_ERROR))
        insert(conn, "kyoden-jumonji", now - timedelta(minutes=1), 8.0)  # danger
        insert(conn, "kyoden-kanehiro", now - timedelta(minutes=1), 2.0)  # below every stage
        insert(conn, "kyoden-kanehiro", now + timedelta(minutes=1), 9.0)  # the future is ignored
        judgements = {j.station_id: j for j in evaluate(conn, now=now)}
        assert judgements["kyoden-chiwara"].stage_key == "caution"
        assert judgements["kyoden-chiwara"].level_m == 12.9
        assert (judgements["kyoden-jumonji"].stage_key, judgements["kyoden-jumonji"].alert_level) == (
            "danger",
            4,
        )
        assert judgements["kyoden-kanehiro"].stage_key is None
        assert "fujishima-fujikawa" not in judgements  # no readings yet
        rows = conn.execute("SELECT count(*) FROM station_status").fetchone()[0]
        assert rows == 3
        # evaluating again gives the same result (idempotent)
        again = {j.station_id: j.stage_key for j in evaluate(conn, now=now)}
        assert again == {k: v.stage_key for k, v in judgements.items()}


def test_notification_from_ingest_wakes_the_evaluator(demo_db):
    stopping = threading.Event()
    thread = threading.Thread(target=run, args=(demo_db,), kwargs={"tick_s": 3600, "stopping": stopping})
    thread.start()
    try:
        now = datetime.now(UTC)
        payload = contract.encode_batch([contract.encode_reading(seq=1, time=now, level_m=7.9)])
        message = Message(contract.topic("kw-demo-02", "reading"), payload, 1, False, 1, now)
        with db.connect(demo_db) as conn:
            write_plan(conn, plan_batch([message], load_devices(conn), max_payload_bytes=65_536))

            def judged():
                return conn.execute(
                    "SELECT stage_key FROM station_status WHERE station_id = 'kyoden-jumonji'"
                ).fetchone()

            assert wait_for(judged, timeout=10) == ("danger",)
    finally:
        stopping.set()
        thread.join(10)
