"""Flood scenarios through the real stack: gauges publish over a real Mosquitto with
their own credentials, the ingest worker stores the readings in PostgreSQL, and the
evaluator judges them, stepped through the event with an explicit ``now``.

Hours pass in seconds honestly: each gauge flushes its buffer — readings stamped at
realistic spacing over the last three hours, as a device that was offline would — and
the evaluator is then stepped through those hours, seeing at each step only the
readings stamped up to then (exactly what it would have seen live).

The asserted timeline (minutes from the start of the event, default rules):

* rise: its area (藤島川流域) gets a level-4 proposal while the water rises (forecast,
  then observed), an operator approves it (outbox: Alert, Evacuate); the level drops
  below the exit threshold (110), and only after the 30-minute dwell is lifting proposed;
  the operator lifts it (outbox: Update, AllClear);
* stuck sensor: a staff-only ``sensor`` alert (flat line) 50 minutes after the freeze;
* false spike: staff-only ``unverified`` (rate) and ``sensor`` at 60, the unverified
  one ended at 70 when the next reading fell back; never a stage or forecast alert;
* silent gauge: caution (level 2) goes out by itself for its area (~100); silent after
  110, it is ``offline`` (critical) at 125 and the area's level stays, marked stale, with
  a proposal to staff to verify it;
* calm river: no alert at all.

The demo network (two rivers in Tsuruoka), with one event each:

* 藤川橋 ``fujishima-fujikawa``: a real rise through the danger level and back; it is set
  up as a crisis-management gauge (observation start and danger level only);
* 千原橋 ``kyoden-chiwara``: a stuck sensor;
* 家根広橋 ``kyoden-kanehiro``: a single false spike far above the danger level;
* 十文字橋 ``kyoden-jumonji``: rises to the caution level, then goes silent;
* 富沢橋 ``fujishima-tomizawa``: a calm river (nothing at all must happen).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from alerts import actions
from alerts.model import Status
from alerts.service import Evaluator
from alerts.station_settings import update_settings
from kawamori import contract, db, staff
from kawamori.model import Actor, Role, crisis_gauge_stages
from kawamori.mqtt import Connection
from tests.helpers import running_ingest, wait_for

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=205)
STEP = timedelta(minutes=5)
RISE_AREA, STUCK_AREA, SILENT_AREA = "area-fujishima", "area-kyoden-upper", "area-kyoden-lower"
END_MIN = 200
DWELL = timedelta(minutes=30)  # RuleSettings.dwell_min
RISE, STUCK, SPIKE, SILENT, CALM = (
    "fujishima-fujikawa",
    "kyoden-chiwara",
    "kyoden-kanehiro",
    "kyoden-jumonji",
    "fujishima-tomizawa",
)
DEVICES = {
    "kw-demo-01": STUCK,
    "kw-demo-02": SILENT,
    "kw-demo-03": SPIKE,
    "kw-demo-04": CALM,
    "kw-demo-05": RISE,
}


def ripple(minute: float) -> float:
    """A few millimetres of natural variation, so a healthy sensor is never flat."""
    return 0.01 * math.sin(minute / 7)


def rise(minute: float) -> float:
    """Danger level 7.43 m: from 5.2 m up to 7.8 m at 90 minutes (1.7 m/h) and back."""
    return 5.2 + 2.6 * (1 - abs(minute - 90) / 90) if minute <= 180 else 5.2 + ripple(minute)


def hydrographs() -> dict[str, list[tuple[float, float]]]:
    """(minute, level) per station."""
    every = lambda step, until=END_MIN: range(0, until + 1, step)  # noqa: E731
    return {
        RISE: [(m, round(rise(m), 3)) for m in every(5)],
        # the sensor freezes at 10.900 m after 30 minutes, for two and a half hours
        STUCK: [(m, round(10.88 + ripple(m), 3) if m < 30 else 10.9) for m in every(10)],
        # one reading 4.5 m above its neighbours (danger level 7.82 m)
        SPIKE: [(m, round(4.0 + ripple(m) + (4.5 if m == 60 else 0), 3)) for m in every(10)],
        # 10-minutely, then every 2 minutes at high water, up past caution (7.07 m); silent after 110
        SILENT: [(m, round(5.0 + m / 60, 3)) for m in range(0, 60, 10)]
        + [(m, round(6.3 + 1.1 * (m - 60) / 50, 3)) for m in range(60, 111, 2)],
        CALM: [(m, round(10.5 + ripple(m), 3)) for m in every(10)],
    }


@dataclass(frozen=True)
class Seen:
    """One alert as the evaluator left it at one step."""

    minute: int
    id: int
    kind: str
    state: str
    alert_level: int | None
    pending_level: int | None
    stale: bool
    public: bool
    details: dict


@pytest.fixture
def people(demo_db) -> dict[str, Actor]:
    out = {}
    with db.connect(demo_db) as conn:
        for username, role in (("admin", Role.admin), ("op", Role.operator)):
            account = staff.create_user(
                conn,
                username=username,
                display_name=username,
                role=role,
                password="river-watch-2026",
                now=datetime.now(UTC),
            )
            out[username] = Actor(account.id, account.username, account.display_name, account.role)
    return out


@pytest.fixture
def ingest_worker(demo_db, broker):
    with db.connect(demo_db) as conn:  # the boards were installed before the event
        conn.execute("UPDATE devices SET installed_at = %s", (START - timedelta(days=30),))
    with running_ingest(demo_db, broker, "kawamori-ingest-sc") as worker:
        yield worker


def flush_buffers(broker, series: dict[str, list[tuple[float, float]]]) -> int:
    """Each board publishes its whole buffer (QoS 1), as after a connection outage."""
    for device in DEVICES:
        broker.accounts.ensure(device)
    broker.reload()
    total = 0
    for device, station in DEVICES.items():
        readings = [
            contract.encode_reading(seq=seq, time=START + timedelta(minutes=minute), level_m=level)
            for seq, (minute, level) in enumerate(series[station])
        ]
        url = f"mqtt://{device}:{broker.accounts.password(device)}@127.0.0.1:{broker.port}"
        connection = Connection(url, device, persistent=False)
        connection.start()
        try:
            connection.publish(contract.topic(device, "reading"), contract.encode_batch(readings), wait_s=10)
        finally:
            connection.stop()
        total += len(readings)
    return total


def step_through(conn, evaluator: Evaluator, on_step: Callable[[int, list[Seen]], None]) -> list[Seen]:
    timeline: list[Seen] = []
    for minute in range(0, END_MIN + 1, int(STEP.total_seconds() // 60)):
        now = START + timedelta(minutes=minute, seconds=30)
        evaluator.evaluate(now=now)
        seen = [
            Seen(minute, *row)
            for row in conn.execute(
                """SELECT id, kind, state, alert_level, pending_level, stale, public, details
                   FROM alerts ORDER BY id"""
            )
        ]
        timeline += seen
        on_step(minute, seen)
    return timeline


def test_a_flood_with_a_stuck_sensor_a_false_spike_and_a_silent_gauge(demo_db, broker, ingest_worker, people):
    series = hydrographs()
    with db.connect(demo_db) as conn:
        # 藤川橋 as a crisis-management gauge: observation start and danger level only
        update_settings(
            conn,
            station_id=RISE,
            stages=crisis_gauge_stages(4.21, 7.43),
            alert_rules={},
            alert_status=Status.actual,
            by=people["admin"],
            now=datetime.now(UTC),
        )
        total = flush_buffers(broker, series)
        wait_for(
            lambda: conn.execute("SELECT count(*) FROM readings").fetchone()[0] == total,
            explain=lambda: conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY 1").fetchall(),
        )
        assert conn.execute("SELECT count(*) FROM readings WHERE quality <> 0").fetchone()[0] == 0

        station_of: dict[int, str] = {}  # staff notices: their station; issuances: their area
        approved: dict[str, int] = {}

        def on_step(minute: int, seen: list[Seen]) -> None:
            # an operator acts on each proposal for the rise's area as soon as it appears:
            # the raise to level 4, later the lift
            for alert in seen:
                station_of.setdefault(
                    alert.id,
                    conn.execute(
                        "SELECT coalesce(area_id, station_id) FROM alerts WHERE id = %s", (alert.id,)
                    ).fetchone()[0],
                )
                if (
                    station_of[alert.id] == RISE_AREA
                    and alert.kind == "area"
                    and alert.pending_level is not None
                ):
                    if alert.state not in ("pending", "active"):
                        continue
                    now = START + timedelta(minutes=minute, seconds=45)
                    what = "lift" if alert.pending_level == 0 else "raise"
                    actions.approve(conn, alert_id=alert.id, actor=people["op"], now=now)
                    approved[what] = minute
                    approved["id"] = alert.id

        timeline = step_through(conn, Evaluator(conn), on_step)

        def of(place: str, kind: str | None = None) -> list[Seen]:
            return [s for s in timeline if station_of[s.id] == place and kind in (None, s.kind)]

        # -- calm river: nothing at all
        assert of(CALM) == []
        # -- stuck sensor: staff-only, and nothing for its area
        assert {s.kind for s in of(STUCK)} == {"sensor"}
        assert not any(s.public for s in of(STUCK)) and of(STUCK_AREA) == []
        first_sensor = min(s.minute for s in of(STUCK))
        assert 70 <= first_sensor <= 90  # six equal readings over 50 minutes after the freeze at 30
        assert "flat_line" in of(STUCK)[-1].details["tests"]

        # -- the false spike: at most staff-only conditions, never evidence for a level
        assert {s.kind for s in of(SPIKE)} <= {"unverified", "sensor"}
        assert not any(s.public for s in of(SPIKE))
        unverified = of(SPIKE, "unverified")
        assert (unverified[0].minute, unverified[0].details["reason"]) == (60, "rate")
        assert min(s.minute for s in unverified if s.state == "resolved") == 70  # the next reading fell back

        # -- offline at high water: a critical `offline` notice; the area's level kept, stale,
        # and staff asked to verify — never cleared unseen
        silent = of(SILENT_AREA, "area")
        issued = [s for s in silent if s.state == "active"]
        assert issued and {s.alert_level for s in issued} == {2}  # caution goes out by itself
        assert silent[-1].state == "active"  # never cleared unseen
        assert not any(s.stale for s in silent if s.minute <= 110)
        offline = of(SILENT, "offline")
        assert offline and not offline[0].public and offline[0].details["critical"] is True
        went_offline = min(s.minute for s in offline)
        assert 125 <= went_offline <= 130  # fast mode: 3 × 2 min, at least 15 min after 110
        after = [s for s in silent if s.minute >= went_offline]
        assert after and all(s.stale and s.pending_level is not None for s in after)  # staff must look

        # -- the real rise: level 4 proposed (forecast, then observed), approved, never lowered,
        # lifted by a person after the water fell below the exit threshold and the dwell
        rise = of(RISE_AREA, "area")
        assert rise[0].state == "pending" and rise[0].pending_level == 4 and rise[0].public
        # this test's operator approves every proposal at once, lifts included: if the
        # forecast flickers out before the crossing, that lift ends a first issuance (with
        # an all-clear) and the crossing opens the next; each ends with an all-clear
        ids = sorted({s.id for s in rise})
        assert ids[-1] == approved["id"] and len(ids) <= 2
        for alert_id in ids:
            last = conn.execute(
                "SELECT msg_type, payload->>'response' FROM alert_outbox WHERE alert_id = %s"
                " ORDER BY version DESC LIMIT 1",
                (alert_id,),
            ).fetchone()
            assert last == ("Update", "AllClear"), (alert_id, last)
        rise = [s for s in rise if s.id == approved["id"]]
        issued = [s.alert_level for s in rise if s.state == "active"]
        assert issued and set(issued) == {4}
        below = min(m for m, level in series[RISE] if m > 90 and level < 7.43 - 0.1)
        assert approved["lift"] >= below + DWELL.total_seconds() / 60
        assert rise[-1].state == "resolved"
        outbox = conn.execute(
            "SELECT msg_type, version, public, payload->>'response' FROM alert_outbox WHERE alert_id = %s "
            "ORDER BY version",
            (approved["id"],),
        ).fetchall()
        assert outbox == [("Alert", 1, True, "Evacuate"), ("Update", 2, True, "AllClear")]

        # nothing public ever came from the faults; only the real rise reached residents
        public_areas = {
            station_of[a]
            for (a,) in conn.execute("SELECT DISTINCT alert_id FROM alert_outbox WHERE public").fetchall()
        }
        assert public_areas <= {RISE_AREA, SILENT_AREA}
