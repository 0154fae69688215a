"""Which gauges need a visit (pure, ``now`` passed in: a table of cases and hypothesis),
and the sensor-health API and page over a real database and uvicorn server."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.sensor_health import DeviceHealth, Reason, Status, needs_visit, reason_text, status
from kawamori import db, texts
from kawamori.model import Quality
from tests.dashboard.test_alerts_api import server, sign_in  # noqa: F401  (the fixture)

NOW = datetime(2026, 9, 20, 3, 0, tzinfo=UTC)
FINE = DeviceHealth(
    device_id="kw-1",
    station_id="s1",
    station_name_ja="富沢橋",
    station_name_en="Tomizawa",
    retired=False,
    online=True,
    last_seen=NOW - timedelta(minutes=5),
    last_reading=NOW - timedelta(minutes=5),
    last_level_m=1.2,
    firmware="1.4.0",
    battery_v=3.9,
    rssi_dbm=-70,
    buffered=0,
    dropped=0,
    readings_24h=144,
    flagged_24h=0,
    flags_24h=0,
    lag_s=4.0,
)


@pytest.mark.parametrize(
    ("change", "reasons", "state"),
    [
        ({}, (), Status.reporting),
        ({"last_seen": NOW - timedelta(minutes=61)}, (Reason.silent,), Status.silent),
        ({"last_seen": NOW - timedelta(minutes=60)}, (), Status.reporting),  # the limit itself is fine
        ({"online": False}, (Reason.silent,), Status.offline),  # its last will
        ({"last_seen": None, "last_reading": None}, (Reason.silent,), Status.never),
        ({"retired": True, "battery_v": 2.0}, (), Status.retired),  # removed: nothing to visit
        ({"battery_v": 3.49}, (Reason.battery,), Status.reporting),
        ({"battery_v": None}, (), Status.reporting),  # unknown is not low
        ({"rssi_dbm": -101}, (Reason.signal,), Status.reporting),
        ({"buffered": 21}, (Reason.backlog,), Status.reporting),
        ({"dropped": 3}, (Reason.dropped,), Status.reporting),
        ({"flagged_24h": 15, "flags_24h": int(Quality.FLAT_LINE)}, (Reason.qc,), Status.reporting),
        ({"flagged_24h": 14, "flags_24h": int(Quality.SPIKE)}, (), Status.reporting),  # under 10 %
        ({"flagged_24h": 1, "flags_24h": int(Quality.SENSOR_ERROR)}, (Reason.qc,), Status.reporting),
        ({"flagged_24h": 2, "flags_24h": int(Quality.CLOCK_SKEW)}, (Reason.clock,), Status.reporting),
        ({"lag_s": 16 * 60.0}, (Reason.late,), Status.reporting),
        # what the gauge itself says in its status (device_status.extra)
        ({"reported": {"fault": "sensor", "serr": 4}}, (Reason.sensor,), Status.reporting),
        ({"reported": {"fault": None}}, (), Status.reporting),  # the sensor came back
        ({"reported": {"lowbat": 3}}, (Reason.battery,), Status.reporting),  # radio kept off
        ({"reported": {"lowbat": 0, "brown": 0}}, (), Status.reporting),
        ({"reported": {"brown": 2}}, (Reason.power,), Status.reporting),
        ({"reported": {"brown": True, "lowbat": "x"}}, (), Status.reporting),  # not counts
        ({"reported": {"cfg_error": "slow_s out of range"}}, (Reason.config,), Status.reporting),
        (
            {"battery_v": 3.2, "reported": {"fault": "sensor", "lowbat": 1, "brown": 5}},
            (Reason.sensor, Reason.battery, Reason.power),
            Status.reporting,
        ),
        (
            {"online": False, "battery_v": 3.1, "rssi_dbm": -115, "buffered": 400, "dropped": 12},
            (Reason.silent, Reason.battery, Reason.signal, Reason.backlog, Reason.dropped),
            Status.offline,
        ),
    ],
)
def test_needs_visit(change, reasons, state):
    device = replace(FINE, **change)
    assert needs_visit(device, now=NOW) == reasons
    assert status(device, now=NOW) is state
    for reason in reasons:  # every reason has words in every language
        assert all(reason_text(reason, device, language) for language in texts.LANGUAGES)


devices = st.builds(
    replace,
    st.just(FINE),
    online=st.none() | st.booleans(),
    last_seen=st.none() | st.integers(0, 10_000).map(lambda m: NOW - timedelta(minutes=m)),
    battery_v=st.none() | st.floats(2.5, 4.3),
    rssi_dbm=st.none() | st.integers(-130, -30),
    buffered=st.none() | st.integers(0, 1000),
    dropped=st.none() | st.integers(0, 100),
    flagged_24h=st.integers(0, 144),
    flags_24h=st.integers(0, 511),
    lag_s=st.none() | st.floats(0, 7200),
    retired=st.booleans(),
    reported=st.fixed_dictionaries(
        {},
        optional={
            "fault": st.sampled_from([None, "sensor"]),
            "brown": st.integers(0, 9),
            "lowbat": st.integers(0, 9),
            "cfg_error": st.none() | st.text(max_size=20),
        },
    ),
)


@given(devices)
def test_visits_are_ordered_unique_and_explained(device):
    reasons = needs_visit(device, now=NOW)
    order = list(Reason)
    assert list(reasons) == sorted(set(reasons), key=order.index)
    if device.retired:
        assert reasons == ()
    # silent exactly when the status is not "reporting" (and not retired)
    assert (Reason.silent in reasons) == (
        status(device, now=NOW) in (Status.silent, Status.offline, Status.never)
    )
    # later is never better: the same device an hour on needs at least the same visits
    assert set(reasons) <= set(needs_visit(device, now=NOW + timedelta(hours=1)))


@pytest.fixture
def fleet(server):  # noqa: F811
    """The demo network's five boards: one fine, one silent with a low battery, one with a
    backlog and a stuck sensor, one never heard, one retired (the staff: the alert API's)."""
    base, demo_db = server
    now = datetime.now(UTC).replace(microsecond=0)
    with db.connect(demo_db) as conn:
        status_rows = [
            ("kw-demo-01", True, now - timedelta(minutes=2), "1.4.0", 3.95, -68, 0, 0),
            ("kw-demo-02", True, now - timedelta(hours=3), "1.3.2", 3.30, -104, 0, 0),
            ("kw-demo-03", True, now - timedelta(minutes=1), "1.4.0", 3.80, -80, 250, 7),
            ("kw-demo-05", True, now - timedelta(minutes=1), "1.4.0", 3.80, -80, 0, 0),
        ]
        for row in status_rows:
            conn.execute(
                """INSERT INTO device_status (device_id, online, last_seen, firmware, battery_v, rssi_dbm,
                                              buffered, dropped) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                row,
            )
        conn.execute("UPDATE devices SET retired_at = %s WHERE id = 'kw-demo-05'", (now,))
        # what kw-demo-02 said in its last status before it fell silent (firmware extras)
        conn.execute(
            """UPDATE device_status SET extra = '{"fault": "sensor", "brown": 2, "err": "x"}'
               WHERE device_id = 'kw-demo-02'"""
        )
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO readings (station_id, time, level_m, device_id, seq, quality, received_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                [
                    (
                        "kyoden-chiwara",
                        now - timedelta(minutes=10 * i),
                        1.0,
                        "kw-demo-01",
                        100 - i,
                        0,
                        now - timedelta(minutes=10 * i) + timedelta(seconds=3),
                    )
                    for i in range(6)
                ]
                + [
                    (
                        "kyoden-kanehiro",
                        now - timedelta(minutes=10 * i),
                        2.0,
                        "kw-demo-03",
                        100 - i,
                        int(Quality.FLAT_LINE),
                        now - timedelta(minutes=10 * i) + timedelta(minutes=40),
                    )
                    for i in range(6)
                ],
            )
    return base


def test_the_api_lists_every_device_with_its_reasons(fleet):
    with httpx.Client(base_url=fleet) as anonymous:
        assert anonymous.get("/api/sensors").status_code == 401
        page = anonymous.get("/sensors")
        assert page.status_code == 303 and page.headers["location"].startswith("/staff/login")
    with sign_in(fleet, "op") as http:
        devices = {d["device"]["device_id"]: d for d in http.get("/api/sensors").json()}
        assert list(devices) == [f"kw-demo-0{i}" for i in range(1, 6)]
        assert devices["kw-demo-01"]["needs_visit"] == [] and devices["kw-demo-01"]["status"] == "reporting"
        assert (
            devices["kw-demo-01"]["device"]["readings_24h"] == 6
            and devices["kw-demo-01"]["device"]["lag_s"] == 3
        )
        assert devices["kw-demo-02"]["needs_visit"] == ["silent", "sensor", "battery", "power", "signal"]
        assert devices["kw-demo-02"]["device"]["reported"]["fault"] == "sensor"
        assert devices["kw-demo-03"]["needs_visit"] == ["backlog", "dropped", "qc", "late"]
        assert devices["kw-demo-03"]["qc_flags_24h"] == ["flat_line"]
        assert devices["kw-demo-04"]["status"] == "never" and devices["kw-demo-04"]["needs_visit"] == [
            "silent"
        ]
        assert devices["kw-demo-05"]["status"] == "retired"
        by_battery = [
            d["device"]["device_id"] for d in http.get("/api/sensors", params={"sort": "battery"}).json()
        ]
        assert (
            by_battery[:2] == ["kw-demo-02", "kw-demo-03"] and by_battery[-1] == "kw-demo-04"
        )  # unknown last
        assert http.get("/api/sensors", params={"sort": "nonsense"}).status_code == 422


def test_the_page_lists_visits_with_reasons_and_sorts(fleet):
    with sign_in(fleet, "op") as http:
        page = http.get("/sensors", params={"lang": "ja"})
        assert page.status_code == 200
        assert "点検が必要な水位計 (3)" in page.text
        assert (
            "受信が途絶えています、センサーが値を返しません（本体の報告）、電池低下 3.30 V、"
            "送信中の再起動 2 回（電池・電源の電圧低下）、電波が弱い -104 dBm"
        ) in page.text
        assert "未送信 250 件、欠測 7 件、品質フラグ 24時間で 6/6、到着の遅れ 40 分" in page.text
        assert "一度も受信していません" in page.text
        english = http.get("/sensors", params={"lang": "en", "sort": "lag"}).text
        assert "Gauges that need a visit (3)" in english and "battery low: 3.30 V" in english
        assert 'aria-sort="descending"' in english
        assert english.index('data-device="kw-demo-03"', english.index("<tbody>")) < english.index(
            'data-device="kw-demo-01"', english.index("<tbody>")
        )
        assert "content-security-policy" in page.headers
