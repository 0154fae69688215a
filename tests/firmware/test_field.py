"""Gauges in the field (issue #22): the failures a review found, each reproduced under
real MicroPython 1.27 and CPython (``field_scenarios.py``, the same transcript on both)
with fake hardware and a virtual clock, and the pure parts checked exhaustively."""

from __future__ import annotations

import sys
import tracemalloc
import types
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kawamori import contract
from simulator.firmware import firmware
from tests.firmware.helpers import HERE, run_cpython, run_micropython, transcript

T0 = 1763880000
firmware()
import hw  # noqa: E402  (the firmware's modules, on sys.path now)
import policy  # noqa: E402
import sensors  # noqa: E402
import wire  # noqa: E402


@pytest.fixture(scope="module")
def outputs() -> tuple[str, str]:
    return run_micropython(HERE / "field_scenarios.py"), run_cpython(HERE / "field_scenarios.py")


@pytest.fixture(scope="module")
def values(outputs) -> dict:
    return transcript(outputs[0])


def test_micropython_and_cpython_agree(outputs):
    micro, cpython = outputs
    assert micro.count("\n") >= 15
    assert micro.splitlines() == cpython.splitlines()


def test_a_dead_sensor_is_given_up_within_seconds_and_reported_at_once(values):
    """Before: 20 samples × (0.5 s warm-up + 40 UART time-outs of 0.21 s) ≈ 180 s awake
    per burst (measured 178 s) and the fault waited for the daily status (≤ 21.6 h)."""
    result, burst_ms = values["dead_burst"]
    assert result is None and burst_ms <= 25_000
    assert values["dead_awake_ms"] <= 25_000
    level, valid, q, alive_ms = values["alive_burst"]
    assert (level, valid, q) == (12000, 20, 0) and 19_000 <= alive_ms <= 21_000  # a live one: unchanged
    assert values["dead_status"] == [("sensor", 1, "sensor: no valid sample")]  # in the same cycle
    assert values["dead_again"] == 0  # no news, no radio
    assert values["dead_back"] == [(None, 2)]  # recovery is news too


def test_the_supply_switch_follows_its_polarity_and_is_held_off(values):
    for on_level in (1, 0):
        log, level, held = values[f"switch{on_level}"]
        off = 1 - on_level
        assert log[:3] == ["free", off, "hold"]  # off and held from the start
        assert log.count(on_level) == 2  # on for each of the two samples only
        assert (level, held) == (off, True)  # off and held when the board sleeps


def test_a_weak_battery_keeps_the_radio_off_and_an_empty_one_skips_measuring(values):
    log, depth, error, _ = values["weak"]
    assert log == [] and depth == 7 and error == "battery 3.25 V: radio off"
    log, depth, sleep, samples = values["empty"]
    assert log == [] and depth == 7 and sleep == 3600 and samples == 160  # no new samples
    depth, lowbat, error, messages = values["recovered"]
    assert depth == 0 and lowbat == 8 and error == "battery 3.25 V: radio off" and messages == 1


def test_resets_during_uplinks_back_off_instead_of_boot_looping(values):
    """Before: every start after a brown-out (a power-on reset on an ESP32) connected at
    once: 144 connections an hour on a battery resetting every 25 s."""
    starts, connects, brown = values["brownout"]
    assert connects <= 8 and starts > connects and brown == connects
    reported, error, after, depth = values["brownout_status"]
    assert reported == connects and error.startswith("reset during uplink") and after == 0 and depth == 0


def test_without_ntp_the_clock_is_a_proven_lower_bound_before_tls_then_the_servers(values):
    (tls_time,) = values["nontp_tls_time"]
    assert hw.CLOCK_SET_AFTER <= tls_time <= T0 + 50_000  # not 2000-01-01; never ahead of the truth
    now, clock_set, guess = values["nontp_clock"]
    assert now >= T0 + 50_000 and clock_set and not guess  # from the server's acknowledgement
    (payload,) = values["nontp_readings"]
    decoded = contract.decode_readings(payload, received_at=datetime.fromtimestamp(now, UTC))
    assert isinstance(decoded, contract.DecodedBatch) and not decoded.rejections
    assert decoded.readings[-1].clock_unset  # measured on the guessed clock: sent with its age


def test_a_broker_that_keeps_talking_cannot_keep_the_gauge_awake(values):
    sent, error, depth = values["babble"]
    assert sent <= 20 * 10 and error == "no ack for seq 0" and depth == 1  # before: all 100,000


@given(
    failures=st.integers(min_value=0, max_value=100),
    permille=st.integers(min_value=-10, max_value=1010),
    fast_s=st.integers(min_value=30, max_value=3600),
    cap=st.integers(min_value=60, max_value=86400),
)
def test_backoff_is_jittered_within_the_upper_half_of_its_window(failures, permille, fast_s, cap):
    cfg = {"fast_s": fast_s, "backoff_max_s": cap}
    wait = policy.backoff_s(failures, cfg, permille)
    if failures == 0:
        assert wait == 0
        return
    window = min(fast_s << min(failures - 1, 16), cap)
    assert window // 2 <= wait <= window
    assert policy.backoff_s(failures, cfg, 1000) == window
    assert policy.backoff_s(failures, cfg, min(1000, max(0, permille)) + 1) >= wait  # monotone


@given(mm=st.integers(min_value=0, max_value=10_000), temp=st.integers(min_value=-400, max_value=850))
def test_temperature_compensation(mm, temp):
    corrected = sensors.compensate(mm, temp)
    exact = mm * (331.3 + 0.0606 * temp) / 343.3
    assert abs(corrected - exact) <= 1  # the integer form of 331.3 + 0.606 T
    assert sensors.compensate(mm, None) == mm
    assert sensors.compensate(mm, temp + 1) >= corrected


def test_the_jsn_sr04t_error_the_issue_quotes_is_corrected():
    """A sensor assuming 20 °C reads about 140 mm long at 4 m when the air is at 0 °C."""
    raw = 4000
    assert 135 <= raw - sensors.compensate(raw, 0) <= 145
    assert abs(sensors.compensate(raw, 200) - raw) <= 2


def test_ds18b20_in_tenths_of_a_degree_or_none(monkeypatch):
    readings = iter([21.4375, -3.0625, None, 85.5])

    class DS18X20:
        def __init__(self, bus):
            pass

        def scan(self):
            return [b"rom"]

        def convert_temp(self):
            pass

        def read_temp(self, rom):
            value = next(readings)
            if value is None:
                raise OSError("CRC error")
            return value

    monkeypatch.setitem(sys.modules, "ds18x20", types.SimpleNamespace(DS18X20=DS18X20))
    monkeypatch.setitem(sys.modules, "onewire", types.SimpleNamespace(OneWire=lambda pin: pin))

    class Clock:
        def sleep_ms(self, ms):
            pass

    probe = sensors.DS18B20(object(), Clock())
    assert [probe(), probe(), probe(), probe()] == [214, -31, None, None]  # 85.5 °C: out of range


records = st.lists(
    st.tuples(
        st.integers(0, 2**32 - 1),
        st.one_of(st.just(0), st.integers(T0, T0 + 10**8)),
        st.integers(0, 10**8),
        st.integers(-(10**6), 10**6),
        st.one_of(st.none(), st.integers(0, 10**5)),
        st.integers(0, 5000),
        st.integers(0, 7),
        st.integers(0, 65535),
        st.integers(0, 120),
    ),
    min_size=1,
    max_size=300,
)


@given(records=records, rssi=st.one_of(st.none(), st.integers(-120, 0)))
def test_a_streamed_batch_is_the_announced_size_and_a_valid_payload(records, rssi):
    batch = wire.Batch(records, 10**8, rssi)
    pieces: list[bytes] = []
    batch.write(pieces.append)
    payload = b"".join(pieces)
    assert len(payload) == batch.size <= 16384
    assert payload == wire.readings(records, 10**8, rssi)[0]
    assert batch.last == records[batch.count - 1][0]
    document = hw.loads(payload)
    items = document.get("r", [document])
    assert [item["seq"] for item in items] == [r[0] for r in records[: batch.count]]
    assert max(len(p) for p in pieces) < 200  # one reading at a time


class MicroPython122ssl:
    """The ssl module of MicroPython 1.22/1.23: client contexts check nothing unless told."""

    CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED = 0, 1, 2
    PROTOCOL_TLS_CLIENT = 0

    class SSLContext:
        def __init__(self, protocol, sticky=True):
            self.verify_mode = 0
            self.cafile = None

        def load_verify_locations(self, cafile=None):
            self.cafile = cafile


def test_tls_always_checks_the_certificate():
    context = hw.tls_context(MicroPython122ssl, "ca.crt")
    assert context.verify_mode == MicroPython122ssl.CERT_REQUIRED and context.cafile == "ca.crt"

    class Stuck(MicroPython122ssl.SSLContext):
        verify_mode = property(lambda self: 0, lambda self, value: None)

    stuck = types.SimpleNamespace(**{**vars(MicroPython122ssl), "SSLContext": Stuck})
    with pytest.raises(hw.NetError, match="refusing"):
        hw.tls_context(stuck, "ca.crt")
    with pytest.raises(hw.NetError, match="1.22 or newer"):
        hw.tls_context(types.SimpleNamespace(wrap_socket=None), "ca.crt")


class NullStream:
    """A broker that acknowledges the first publish and keeps nothing it is sent."""

    def __init__(self) -> None:
        self.inbox = b"\x40\x02\x00\x01"  # PUBACK for packet id 1
        self.size = 0

    def readable(self, wait_ms: int) -> bool:
        return bool(self.inbox)

    def read(self, n: int) -> bytes:
        data, self.inbox = self.inbox[:n], self.inbox[n:]
        return data

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)

    def close(self) -> None:
        pass


def peak_bytes(send) -> tuple[int, int]:
    import mqtt

    client = mqtt.Client("kw-demo-01")
    client.stream = NullStream()
    tracemalloc.start()
    try:
        send(client)
        return tracemalloc.get_traced_memory()[1], client.stream.size if client.stream else 0
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("count", [50, 200])
def test_a_flush_sends_within_a_fixed_memory_budget(count):
    """The peak heap of sending one batch (CPython's tracemalloc; MicroPython 1.27's
    WebAssembly port cannot collect while Python runs, so it shows totals only): the
    whole-message path held the payload three times over; the streamed one holds one
    reading, whatever the batch size."""
    records = [(i, T0 + 600 * i, 0, 12000 + i, 3800 - i, 3900, 0, 3, 20) for i in range(count)]
    topic = wire.topic("kw-demo-01", "reading")

    def whole(client):
        client.publish(topic, wire.readings(records, 0, -70)[0])

    def streamed(client):
        batch = wire.Batch(records, 0, -70)
        client.publish_stream(topic, batch.size, batch.write)

    whole_peak, whole_sent = peak_bytes(whole)
    stream_peak, stream_sent = peak_bytes(streamed)
    print(f"{count} readings: whole message peak {whole_peak} B, streamed peak {stream_peak} B")
    assert stream_sent == whole_sent  # the same bytes on the wire
    assert stream_peak < 4096 < whole_peak and stream_peak * 4 < whole_peak


def test_a_cellular_modem_comes_up_with_at_commands_then_ppp(values):
    sent, rssi, ppp, power, seconds = values["cellular_up"]
    assert sent == [
        'AT+CGDCONT=1,"IP","iot.example.jp"',
        "AT+CEREG?",
        "AT+CEREG?",
        "AT+CEREG?",  # registered on the third poll
        "AT+CSQ",
        "ATD*99#",
    ]
    assert rssi == -113 + 2 * 18 and ppp == ["active True", "connect"] and power == 1 and seconds < 30
    assert values["cellular_down"] == (["disconnect", "active False"], 0)  # modem powered off
    assert values["cellular_refused"].endswith("refused: ERROR")  # one NetError, with the reason
    error, seconds = values["cellular_dead"]
    assert error == "modem: no answer in 30 s" and seconds <= 32


def test_a_lorawan_gauge_sends_the_servers_payload_and_takes_its_downlinks(values):
    from kawamori import lorawan as server

    depth, error = values["lora_unacked"]
    assert depth == 1 and error == "LoRaWAN: seq 1 not acknowledged"  # kept on flash, sent again
    sent = [bytes.fromhex(command.split('"')[1]) for command in values["lora_sent"]]
    decoded = [server.decode_reading(data) for data in sent]
    assert [(r.seq, r.level_mm, r.battery_mv, r.age_min) for r in decoded] == [
        (0, 12000, 3910, 0),
        (1, 12000, 3910, 0),  # not acknowledged …
        (1, 12000, 3910, 10),  # … so sent again, ten minutes older
        (2, 12000, 3910, 0),
    ]
    assert values["lora_state"] == (0, 7, 900, 300)  # all delivered; the downlink's cfg 7 applied
    fresh, capped = (server.decode_reading(data) for data in values["lora_payloads"])
    assert fresh == server.Reading(70000, -1234, 3910, 5, 1)
    assert capped == server.Reading(70000, -1234, 3910, 5 | 16, 255)  # 5 h old: CLOCK_SKEW
    assert values["lora_config"] == [server.decode_config(bytes([1, 0, 9, 6, 0, 0x3D, 0xB8])), None]


@given(
    cfg=st.integers(0, 0xFFFF),
    wires=st.dictionaries(st.integers(1, 10), st.integers(-(2**23 - 1), 2**23 - 1), max_size=2),
)
def test_the_firmware_reads_every_downlink_the_server_writes(cfg, wires):
    firmware()
    import lora

    from kawamori import lorawan as server

    values = {}
    for number, wire in wires.items():
        name, scale = server.CONFIG_KEYS[number]
        values[name] = wire / scale if scale != 1 else wire
    data = server.encode_config(cfg, values)
    assert lora.config(data, 0) == server.decode_config(data)
    assert lora.CONFIG_KEYS == server.CONFIG_KEYS
