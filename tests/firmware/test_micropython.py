"""The firmware under real MicroPython (1.27, WebAssembly port, in Node) and under
CPython: the same scenarios give the same transcript, byte for byte, and the bytes
are what the server's contract accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kawamori import contract
from tests.firmware.helpers import HERE, run_cpython, run_micropython, transcript

T0 = 1763880000


@pytest.fixture(scope="module")
def outputs() -> tuple[str, str]:
    return run_micropython(HERE / "scenarios.py"), run_cpython(HERE / "scenarios.py")


@pytest.fixture(scope="module")
def values(outputs) -> dict:
    return transcript(outputs[0])


def test_micropython_and_cpython_agree_line_by_line(outputs):
    micro, cpython = outputs
    assert micro.count("\n") > 40
    assert micro.splitlines() == cpython.splitlines()


def test_reading_bytes_are_exact_and_accepted_by_the_contract(values):
    single = values["single"]
    assert single == (
        b'{"v":1,"seq":1742,"t":1763880000,"level":0.552,"dist":15.248,"bat":3.91,"rssi":-71,'
        b'"q":0,"sd":0.004,"n":20}'
    )
    received = datetime.fromtimestamp(T0 + 5, UTC)
    decoded = contract.decode_readings(single, received_at=received)
    assert isinstance(decoded, contract.DecodedBatch) and not decoded.rejections
    (reading,) = decoded.readings
    assert (reading.seq, reading.level_m, reading.distance_m, reading.battery_v, reading.rssi_dbm) == (
        1742,
        0.552,
        15.248,
        3.91,
        -71,
    )
    assert reading.time == datetime.fromtimestamp(T0, UTC)

    batch, count, last = values["batch"]
    assert (count, last) == (2, 1743)
    decoded = contract.decode_readings(batch, received_at=received)
    assert isinstance(decoded, contract.DecodedBatch) and not decoded.rejections
    first, aged = decoded.readings
    assert first.rssi_dbm == -70 and aged.clock_unset and aged.quality == 2
    assert aged.time == received - timedelta(seconds=600)


def test_batches_stay_within_the_contract_limits(values):
    size, count, last = values["big"]
    assert size <= 16384 < contract.MAX_BATCH * 70 and count <= contract.MAX_BATCH and last == count - 1


def test_status_is_accepted_with_its_extra_keys(values):
    status = contract.decode_status(values["status"])
    assert isinstance(status, contract.Status)
    assert (status.online, status.firmware, status.battery_v, status.uptime_s, status.config_version) == (
        True,
        "0.1.0",
        3.91,
        86400,
        3,
    )
    assert status.extra == {"reset": "deepsleep", "err": 'bad "x"\n'}
    assert values["offline"] == contract.OFFLINE_WILL
    assert values["ack"] == [1744, None, None, None, None]


def test_measurement_rejects_outliers_and_flags_quality(values):
    assert values["burst"] == (12001, 3799, 0, 16, 0, 19060)  # 900 and 4600 dropped; 20 s burst
    assert values["robust"] == (3800, 2, 10)
    assert values["dead"] is None
    assert values["blind"] == (15770, 30, 0, 1 | 2)  # OUT_OF_RANGE | FEW_SAMPLES
    assert values["few"] == (12000, 7, 2 | 4)  # FEW_SAMPLES | SENSOR_ERROR


def test_remote_config_validation(values):
    assert values["config0"] == (3, [900, 13.0, 15.8], None)
    assert values["config1"] is None  # the version in force: nothing to do
    rejected = {name: values[name][2] for name in values if name.startswith("config") and values[name]}
    assert rejected["config2"] == "cfg 2 is older than 3 in force"
    assert rejected["config3"] == "config is not valid JSON"
    assert rejected["config6"] == "slow_s=1 is outside 60..86400"
    assert rejected["config7"] == "slow_s must be a number"
    assert rejected["config8"] == "samples must be a number"
    assert rejected["config10"] == "fast_s must not exceed slow_s"
    assert rejected["config12"] == "unknown key 'password'"
    assert values["config14"] == (4, [600, 12.5, 16.0], None)


def test_ring_buffer_on_flash(values):
    depth, dropped, segments, oldest = values["ring_full"]
    assert (depth, dropped, segments) == (172, 128, [1, 2])  # 300 into 256: the oldest segment dropped
    assert [r[0] for r in oldest] == [128, 129] and oldest[1][4] is None
    assert values["ring_ack"][0] == 99 and values["ring_reopen"] == (99, 299, values["ring_ack"][2])
    assert values["ring_torn"][:2] == (45, 301)  # torn record ignored, appends go to a new segment
    assert values["ring_acked"] == (0, [3])


def test_cycle_bytes_on_the_wire(values):
    wire = values["wire1"]
    connect = (
        b"\x10o\x00\x04MQTT\x04\xee\x00<\x00\nkw-demo-01"
        b'\x00\x1dkawamori/v1/kw-demo-01/status\x00\x16{"v":1,"online":false}'
        b"\x00\nkw-demo-01\x00\x14s3cret-s3cret-s3cret"
    )
    assert wire.startswith(connect)
    assert b"\x82\x22\x00\x01\x00\x1dkawamori/v1/kw-demo-01/config\x01" in wire
    assert wire.endswith(b"@\x02\x00\x01\xe0\x00")  # PUBACK of the ack message, DISCONNECT
    (status_topic, status, retained), (reading_topic, reading, _) = values["published1"]
    assert retained and status_topic == "kawamori/v1/kw-demo-01/status"
    decoded = contract.decode_status(status)
    assert isinstance(decoded, contract.Status)
    assert decoded.extra["cfg_error"] == "cfg 1 rejected: slow_s=1 is outside 60..86400"
    assert decoded.extra["mem"] == 91234 and decoded.buffered == 1 and decoded.config_version == 0
    assert reading_topic.endswith("/reading") and b'"seq":0,"t":1763880019,"level":12.000' in reading
    assert values["cfg2"] == (2, 900, None)
    assert values["sleep1"] == [581]


def test_adaptive_reporting_switches_to_fast_mode(values):
    modes = values["modes"]
    assert [m for m, _, _ in modes[:4]] == [0, 0, 0, 0] and modes[0][1] == 881  # slow_s 900 from cfg 2
    assert all(mode == 1 and sleep == 101 for mode, sleep, _ in modes[4:])  # rising: every 2 minutes


def test_outage_buffers_then_sends_the_backlog_oldest_first(values):
    depth, _, error, attempts = values["outage"]
    assert depth == 8 and error.startswith("Wi-Fi") and attempts < 9  # backoff skipped attempts
    seqs = []
    received = datetime.fromtimestamp(T0 + 20000, UTC)
    for payload in values["backlog"]:
        decoded = contract.decode_readings(payload, received_at=received)
        assert isinstance(decoded, contract.DecodedBatch) and not decoded.rejections
        seqs += [r.seq for r in decoded.readings]
        assert all(r.time.timestamp() == T0 + 19 + 600 * r.seq for r in decoded.readings)
    assert seqs == list(range(len(seqs))) and len(seqs) >= 9
    assert values["drained"] == (0, 0, None)


def test_readings_before_the_clock_was_set_carry_their_age(values):
    (payload,) = values["unset"]
    assert b'"age":1800' in payload and b'"t":' not in payload
    received = datetime.fromtimestamp(T0, UTC)
    decoded = contract.decode_readings(payload, received_at=received)
    assert isinstance(decoded, contract.DecodedBatch)
    assert [r.clock_unset for r in decoded.readings] == [True] * 4
    assert values["unset_clock"][0] > T0  # NTP set the clock


def test_unacknowledged_readings_stay_until_the_server_confirms(values):
    assert values["noack"] == (3, "no ack for seq 2")
    assert values["acked"] == (0, None, 4)
    assert values["reboot_seq"] == (4, 0)  # seq is never reused after a restart


def test_a_wiped_board_renumbers_above_the_servers_watermark(values):
    (payload,), next_seq = values["wiped"]
    assert payload.startswith(b'{"v":1,"seq":501,"t":1763880019,') and next_seq == 502


def test_refused_connection_backs_off(values):
    error, wait, depth = values["refused"]
    assert error == "connection refused (code 5)" and wait == 120 and depth == 1


def test_mqtt_client_bytes(values):
    assert values["mqtt"] == (
        b"\x10]\x00\x04MQTT\x04\xee\x00<\x00\nkw-demo-01\x00\x1dkawamori/v1/kw-demo-01/status"
        b'\x00\x16{"v":1,"online":false}\x00\nkw-demo-01\x00\x02pw'
        b"\x82\x1f\x00\x01\x00\x1akawamori/v1/kw-demo-01/ack\x01"
        b'36\x00\x1dkawamori/v1/kw-demo-01/status\x00\x02{"v":1,"online":true}'
        b"\xc0\x00\xe0\x00"
    )


def test_heap_under_micropython():
    figures = transcript(run_micropython(HERE / "heap.py"))
    print("MicroPython heap figures:", figures)
    assert figures["backlog_left"] == 0
    assert figures["heap_firmware"] < 64 * 1024  # the firmware and a gauge's state, compiled from source
    assert figures["heap_after"] - figures["heap_firmware"] < 4096  # nothing left behind by a cycle
