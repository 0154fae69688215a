"""Firmware in the loop: the firmware's main loop (fake sensor, accelerated clock,
unchanged code) against a real Mosquitto, a real ingest worker and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kawamori import contract, db
from simulator.mqtt import Connection, Inbox
from simulator.firmware import FIRMWARE, firmware, virtual_gauge
from tests.helpers import running_ingest, wait_for

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "kw-demo-01"  # kyoden-chiwara, levels 8.25–15.5 m
LEVEL_MM = 10_000


@pytest.fixture
def loop_db(demo_db):
    with db.connect(demo_db) as conn:
        conn.execute("UPDATE devices SET installed_at = now() - interval '30 days'")
    return demo_db


@pytest.fixture
def worker(loop_db, broker):
    broker.accounts.ensure(DEVICE)
    broker.reload()
    with running_ingest(loop_db, broker, "ingest-fw") as service:
        yield service


def site(broker, password: str | None = None, **extra) -> dict:
    return {
        "device": DEVICE,
        "password": password or broker.accounts.ensure(DEVICE),
        "broker_host": "127.0.0.1",
        "broker_port": broker.port,
        "tls": False,
        "mount_m": 13.0,
        "send_s": 600,
        **extra,
    }


def stored(database_url: str) -> list[tuple[int, float, float]]:
    with db.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT seq, extract(epoch FROM time)::float8, level_m FROM readings
               WHERE device_id = %s ORDER BY seq""",
            (DEVICE,),
        ).fetchall()
    return [(seq, t, level) for seq, t, level in rows]


def recorder(gauge) -> list[tuple[int, int]]:
    """Every (seq, t) the firmware puts on its flash buffer."""
    taken: list[tuple[int, int]] = []
    append = gauge.buffer.append

    def record(item):
        taken.append((item[0], item[1]))
        append(item)

    gauge.buffer.append = record
    return taken


def test_broker_outage_buffers_and_every_reading_arrives_once_with_its_time(
    tmp_path, loop_db, broker, worker
):
    start = int(time.time()) - 12 * 3600
    gauge, board, _ = virtual_gauge(
        tmp_path / "flash", site(broker), start=start, level_mm=lambda t: LEVEL_MM + (t - start) // 600
    )
    taken = recorder(gauge)
    for _ in range(4):
        board.sleep(gauge.run_cycle())
    wait_for(lambda: len(stored(loop_db)) == 4)

    broker.stop()
    for _ in range(8):
        board.sleep(gauge.run_cycle())
    assert gauge.buffer.depth() == 8 and gauge.state["net_fails"] >= 1
    connects_during_outage = board.connects - 4
    assert connects_during_outage < 8  # the backoff skipped attempts

    broker.start()
    cycles = 0
    while (gauge.buffer.depth() or gauge.state["err"]) and cycles < 10:
        board.sleep(gauge.run_cycle())
        cycles += 1
    assert gauge.buffer.depth() == 0, gauge.state
    rows = wait_for(lambda: (rows := stored(loop_db)) and len(rows) == len(taken) and rows)
    assert [seq for seq, _, _ in rows] == list(range(len(taken)))  # each exactly once
    assert [(seq, int(t)) for seq, t, _ in rows] == taken  # with the time it was measured
    assert [round(level * 1000) for _, _, level in rows] == [LEVEL_MM + (t - start) // 600 for _, t in taken]
    with db.connect(loop_db) as conn:
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
        status = conn.execute(
            "SELECT online, firmware, buffered, battery_v FROM device_status WHERE device_id = %s", (DEVICE,)
        ).fetchone()
    assert status[0] is True and status[1] == "0.1.0" and status[3] == pytest.approx(3.9)


def test_power_cut_with_a_full_buffer_loses_nothing(tmp_path, loop_db, broker, worker):
    """A gauge without network fills its flash buffer and is killed mid-cycle (a power
    cut); after the restart every reading on flash reaches the database."""
    start = int(time.time()) - 10 * 86400
    spec = {
        "folder": str(tmp_path / "flash"),
        "site": site(broker, buffer_max=1024),
        "start": start,
        "level_mm": LEVEL_MM,
        "cycles": 100000,
        "wifi": False,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.firmware", str(tmp_path / "spec.json")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("seq ") and int(line.split()[1]) >= 900:
            break
    process.send_signal(signal.SIGKILL)  # mid-cycle, without any clean-up
    process.wait()

    firmware()
    import store

    on_flash = store.Buffer(spec["folder"] + "/buf", 1024)
    saved = on_flash.pending(10_000)
    assert len(saved) >= 900 and on_flash.dropped == 0
    expected = [(r[0], r[1]) for r in saved]
    assert [seq for seq, _ in expected] == list(range(len(expected)))

    last_t = expected[-1][1]
    gauge, board, _ = virtual_gauge(
        Path(spec["folder"]), spec["site"], start=last_t + 600, level_mm=lambda t: LEVEL_MM
    )
    taken = recorder(gauge)
    assert gauge.state["seq"] == len(expected)  # seq continues, never reused
    for _ in range(3):
        board.sleep(gauge.run_cycle())
    assert gauge.buffer.depth() == 0, gauge.state
    rows = wait_for(lambda: (rows := stored(loop_db)) and len(rows) == len(expected) + 3 and rows, timeout=60)
    assert [(seq, int(t)) for seq, t, _ in rows] == expected + taken


def test_wrong_credentials_are_refused(tmp_path, broker):
    broker.accounts.ensure(DEVICE)
    broker.reload()
    _, hw, _ = firmware()
    import mqtt

    client = mqtt.Client(DEVICE, DEVICE, "not-the-password-at-all")
    with pytest.raises(mqtt.Refused) as refused:
        client.connect(hw.open_stream("127.0.0.1", broker.port, False, "", 5))
    assert refused.value.code in (4, 5)

    gauge, board, _ = virtual_gauge(
        tmp_path / "flash",
        site(broker, password="wrong-password-wrong"),
        start=int(time.time()) - 3600,
        level_mm=lambda t: LEVEL_MM,
    )
    board.sleep(gauge.run_cycle())
    assert "refused" in gauge.state["err"] and gauge.buffer.depth() == 1


def test_another_devices_topics_are_refused(loop_db, broker, worker):
    password = broker.accounts.ensure(DEVICE)
    broker.accounts.ensure("kw-demo-02")
    broker.reload()
    _, hw, _ = firmware()
    import mqtt
    import wire

    watcher_inbox = Inbox()
    watcher = Connection(
        broker.url("kawamori-ingest"),
        "watcher",
        subscriptions=[contract.subscription("reading")],
        on_message=watcher_inbox.put,
    )
    watcher.start()
    try:
        for device in ("kw-demo-02", DEVICE):  # retained acks, as ingest publishes them
            watcher.publish(wire.topic(device, "ack"), b'{"v":1,"seq":77}', retain=True, wait_s=5)
        client = mqtt.Client(DEVICE, DEVICE, password)
        received: list[str] = []
        client.on_message = lambda topic, payload, retained: received.append(topic)
        client.connect(hw.open_stream("127.0.0.1", broker.port, False, "", 5))
        # Mosquitto 2.0 grants the subscription but never delivers; newer ones refuse it
        with contextlib.suppress(mqtt.Refused):
            client.subscribe(wire.topic("kw-demo-02", "ack"))
        client.subscribe(wire.topic(DEVICE, "ack"))
        while client.wait(500):
            pass
        assert received == [wire.topic(DEVICE, "ack")]  # its own ack only
        now = int(datetime.now(UTC).timestamp())
        forged = b'{"v":1,"seq":1,"t":%d,"level":9.5}' % now
        client.publish(wire.topic("kw-demo-02", "reading"), forged)  # the broker drops it
        client.publish(wire.topic(DEVICE, "reading"), b'{"v":1,"seq":1,"t":%d,"level":9.5}' % now)
        client.disconnect()
        messages = wait_for(lambda: watcher_inbox.take(max_items=10, max_wait_s=0.5))
        assert [m.topic for m in messages] == [wire.topic(DEVICE, "reading")]
        wait_for(lambda: len(stored(loop_db)) == 1)
        with db.connect(loop_db) as conn:
            assert (
                conn.execute("SELECT count(*) FROM readings WHERE device_id = 'kw-demo-02'").fetchone()[0]
                == 0
            )
    finally:
        watcher.stop()
    assert FIRMWARE.is_dir()


def test_a_gauge_without_ntp_takes_the_time_from_the_servers_ack(tmp_path, loop_db, broker, worker):
    """After a power cut the RTC reads 2000-01-01 and no NTP server answers: the first
    uplink's readings carry their age, the real ingest's acknowledgement carries the
    server's clock, and from then on the gauge's readings carry real times."""
    quick = site(broker, slow_s=60, fast_s=30, send_s=60, samples=5, burst_s=5)  # stays < 10 min ahead
    gauge, board, clock = virtual_gauge(
        tmp_path / "flash", quick, start=946684800, level_mm=lambda t: LEVEL_MM
    )
    board.sleep(gauge.run_cycle())
    assert gauge.clock_set() and abs(clock.time() - time.time()) < 60, gauge.state
    board.sleep(gauge.run_cycle())
    rows = wait_for(lambda: (rows := stored(loop_db)) and len(rows) == 2 and rows)
    with db.connect(loop_db) as conn:
        flags = [q for (q,) in conn.execute("SELECT quality FROM readings ORDER BY seq").fetchall()]
    assert [bool(q & 8) for q in flags] == [True, False]  # CLOCK_UNSET, then a real time
    assert all(abs(t - time.time()) < 3600 for _, t, _ in rows)
