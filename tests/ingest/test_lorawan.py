"""LoRaWAN gauges through a network server (issue #22): the compact payload and its
JavaScript twin for the network server, the ChirpStack v4 and The Things Stack v3
uplink events (recorded in ``tests/ingest/lorawan/`` from each server's documented
format), and those events replayed through a real Mosquitto into the real ingest
worker and PostgreSQL, duplicates and replays included."""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.lorawan import translate
from kawamori import contract, db, lorawan
from kawamori.contract import Reason, Rejection
from simulator.mqtt import Connection, Message
from tests.helpers import running_ingest, wait_for

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CODEC = ROOT / "firmware" / "lorawan"
DEV_EUI = "70B3D57ED0052C1A"
DEVICE = "kw-demo-01"  # kyoden-chiwara, levels 8.25–15.5 m
CHIRPSTACK_TOPIC = "application/3f0b6c0e-8a4d-4a53-9c8e-6b1f0c2d7e51/device/70b3d57ed0052c1a/event/up"
TTS_TOPIC = "v3/river-gauges@ttn/devices/kyoden-chiwara-lora/up"


def event(name: str, **changes) -> dict:
    document = json.loads((HERE / "lorawan" / name).read_text())
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = document
        for parent in parents:
            target = target[parent]
        target[key] = value
    return document


def message(topic: str, document: dict | bytes, at: datetime | None = None) -> Message:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    return Message(topic, payload, 1, False, 1, at or datetime(2026, 11, 30, 5, 30, tzinfo=UTC))


# -- the recorded events ------------------------------------------------------------------
def test_a_chirpstack_v4_uplink_event():
    uplink = lorawan.parse_event(CHIRPSTACK_TOPIC, json.dumps(event("chirpstack_v4_up.json")).encode())
    assert uplink == lorawan.Uplink(
        "chirpstack",
        DEV_EUI,
        1,
        183,
        base64.b64decode("AQAAEmcAKAq/AAA="),
        datetime(2026, 11, 30, 5, 12, 43, 518624, tzinfo=UTC),
    )
    assert lorawan.decode_reading(uplink.payload) == lorawan.Reading(4711, 10250, 3910, 0, 0)


def test_a_things_stack_v3_uplink_event():
    uplink = lorawan.parse_event(TTS_TOPIC, json.dumps(event("tts_v3_up.json")).encode())
    assert isinstance(uplink, lorawan.Uplink)
    assert (uplink.server, uplink.dev_eui, uplink.f_port, uplink.f_cnt) == ("tts", DEV_EUI, 1, 184)
    assert uplink.received_at == datetime(2026, 11, 30, 5, 22, 44, 12000, tzinfo=UTC)  # the NS's time
    assert lorawan.decode_reading(uplink.payload) == lorawan.Reading(4712, 10310, 3900, 2, 10)


def test_zero_counters_left_out_of_the_json_are_zero():
    document = event("tts_v3_up.json")
    del document["uplink_message"]["f_cnt"]  # "empty fields are omitted" (TTS data formats)
    uplink = lorawan.parse_event(TTS_TOPIC, json.dumps(document).encode())
    assert isinstance(uplink, lorawan.Uplink) and uplink.f_cnt == 0


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (CHIRPSTACK_TOPIC, b"{not json", Reason.invalid_json),
        (CHIRPSTACK_TOPIC, b"[1]", Reason.not_an_object),
        (
            CHIRPSTACK_TOPIC,
            json.dumps(event("chirpstack_v4_up.json", deviceInfo={})).encode(),
            Reason.missing_field,
        ),
        (
            CHIRPSTACK_TOPIC.replace("70b3d57ed0052c1a", "0000000000000001"),
            json.dumps(event("chirpstack_v4_up.json")).encode(),
            Reason.bad_topic,
        ),
        (
            CHIRPSTACK_TOPIC,
            json.dumps(event("chirpstack_v4_up.json", data="not base64!")).encode(),
            Reason.bad_type,
        ),
        (CHIRPSTACK_TOPIC, json.dumps(event("chirpstack_v4_up.json", fCnt=-1)).encode(), Reason.bad_type),
        (TTS_TOPIC, json.dumps({"end_device_ids": {"dev_eui": DEV_EUI}}).encode(), Reason.missing_field),
        (
            TTS_TOPIC,
            json.dumps(event("tts_v3_up.json", end_device_ids__dev_eui="70B3")).encode(),
            Reason.missing_field,
        ),
    ],
)
def test_a_bad_event_is_a_rejection_with_a_reason(topic, payload, reason):
    rejected = lorawan.parse_event(topic, payload)
    assert isinstance(rejected, Rejection) and rejected.reason is reason


def test_other_topics_are_not_lorawan():
    assert lorawan.parse_event(contract.topic(DEVICE, "reading"), b"{}") is None
    assert lorawan.parse_event("application/x/device/70b3d57ed0052c1a/event/join", b"{}") is None


# -- the payload codec --------------------------------------------------------------------
readings = st.builds(
    lorawan.Reading,
    seq=st.integers(0, lorawan.SEQ_LIMIT),
    level_mm=st.integers(-lorawan.LEVEL_LIMIT_MM, lorawan.LEVEL_LIMIT_MM),
    battery_mv=st.one_of(st.none(), st.integers(2010, 4550).map(lambda mv: mv - mv % 10)),
    quality=st.integers(0, 255),
    age_min=st.integers(0, 255),
)


def in_unit(name: str, wire: int) -> float:
    scale = lorawan.CONFIG_KEYS[lorawan.KEY_NUMBERS[name]][1]
    return wire / scale if scale != 1 else wire


configs = st.tuples(
    st.integers(0, 0xFFFF),
    st.dictionaries(st.sampled_from(sorted(lorawan.KEY_NUMBERS)), st.integers(0, 1_000_000), max_size=2).map(
        lambda wires: {name: in_unit(name, wire) for name, wire in wires.items()}
    ),
)


@given(readings)
def test_a_reading_fits_in_11_bytes_and_decodes_to_itself(reading):
    data = lorawan.encode_reading(reading)
    assert len(data) == lorawan.PAYLOAD_SIZE == 11
    assert lorawan.decode_reading(data) == reading


@given(configs)
def test_a_configuration_downlink_fits_in_11_bytes_and_decodes_to_itself(config):
    cfg, values = config
    data = lorawan.encode_config(cfg, values)
    assert len(data) <= lorawan.MAX_DOWNLINK
    version, decoded = lorawan.decode_config(data)
    assert version == cfg and decoded == pytest.approx(values)


def test_settings_the_downlink_cannot_carry_are_refused():
    with pytest.raises(ValueError, match="at most two"):
        lorawan.encode_config(1, {"slow_s": 600, "fast_s": 120, "send_s": 600})
    with pytest.raises(ValueError, match="cannot be set"):
        lorawan.encode_config(1, {"password": 1})


def run_codec(vectors: list) -> list:
    path = CODEC / "vectors.tmp.json"
    path.write_text(json.dumps(vectors))
    try:
        done = subprocess.run(
            ["node", "check.mjs", str(path)], cwd=CODEC, capture_output=True, text=True, timeout=60
        )
    finally:
        path.unlink()
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@settings(max_examples=5, deadline=None)
@given(st.lists(readings, min_size=50, max_size=50), st.lists(configs, min_size=50, max_size=50))
def test_the_javascript_codec_agrees_with_the_python_one(some_readings, some_configs):
    vectors: list = []
    for reading in some_readings:
        vectors.append(["decodeUplink", {"bytes": list(lorawan.encode_reading(reading)), "fPort": 1}])
    for cfg, values in some_configs:
        vectors.append(["encodeDownlink", {"data": {"cfg": cfg, **values}}])
        vectors.append(["decodeDownlink", {"bytes": list(lorawan.encode_config(cfg, values)), "fPort": 2}])
    vectors.append(["decodeUplink", {"bytes": [2, *[0] * 10], "fPort": 1}])
    vectors.append(["decodeUplink", {"bytes": [1, 0], "fPort": 1}])
    vectors.append(["decodeUplink", {"bytes": [1, *[0] * 10], "fPort": 3}])
    vectors.append(["encodeDownlink", {"data": {"cfg": 1, "password": "x"}}])
    results = iter(run_codec(vectors))
    for reading in some_readings:
        data = next(results)["data"]
        assert (data["seq"], data["level_mm"], data["battery_mv"], data["quality"], data["age_min"]) == (
            reading.seq,
            reading.level_mm,
            reading.battery_mv,
            reading.quality,
            reading.age_min,
        )
    for cfg, values in some_configs:
        encoded = next(results)
        assert bytes(encoded["bytes"]) == lorawan.encode_config(cfg, values) and encoded["fPort"] == 2
        assert next(results)["data"] == {"cfg": cfg, **values}
    assert all(result.get("errors") for result in results)  # the bad ones: an error, never a guess


# -- translation into readings ------------------------------------------------------------
def test_uplinks_become_their_gauges_readings_and_the_rest_dead_letters():
    plain = message(contract.topic(DEVICE, "reading"), b'{"v":1}')
    chirpstack = message(CHIRPSTACK_TOPIC, event("chirpstack_v4_up.json"))
    tts = message(TTS_TOPIC, event("tts_v3_up.json"))
    stranger = message(CHIRPSTACK_TOPIC, event("chirpstack_v4_up.json"))
    wrong_port = message(TTS_TOPIC, event("tts_v3_up.json", uplink_message__f_port=5))
    not_ours = message(TTS_TOPIC, event("tts_v3_up.json", uplink_message__frm_payload="AQID"))
    out, dead = translate([plain, chirpstack, tts, wrong_port, not_ours], {DEV_EUI: DEVICE})
    assert out[0] is plain and [m.topic for m in out[1:]] == [contract.topic(DEVICE, "reading")] * 2
    assert [(d.reason, d.device_id) for d in dead] == [(Reason.unknown_schema, DEVICE)] * 2
    assert dead[0].payload == wrong_port.payload and dead[0].detail.startswith("LoRaWAN: fPort 5")
    received = datetime(2026, 11, 30, 5, 30, tzinfo=UTC)
    first, second = (contract.decode_readings(m.payload, received_at=received) for m in out[1:])
    assert isinstance(first, contract.DecodedBatch) and isinstance(second, contract.DecodedBatch)
    (one,), (two,) = first.readings, second.readings
    assert (one.seq, one.level_m, one.battery_v, one.time) == (
        4711,
        10.25,
        3.91,
        datetime(2026, 11, 30, 5, 12, 43, 519000, tzinfo=UTC),
    )
    assert (two.seq, two.level_m, two.quality, two.time) == (
        4712,
        10.31,
        2,
        datetime(2026, 11, 30, 5, 12, 44, 12000, tzinfo=UTC),  # 10 minutes before the uplink
    )
    _, dead = translate([stranger], {})
    assert [(d.reason, d.device_id) for d in dead] == [(Reason.unknown_device, None)]


def test_downlinks_in_each_servers_documented_form():
    data = lorawan.encode_config(7, {"slow_s": 900, "fast_on_m": 12.5})
    topic, body = lorawan.downlink(
        "chirpstack", application="3f0b6c0e", dev_eui=DEV_EUI, device=None, data=data
    )
    assert topic == "application/3f0b6c0e/device/70b3d57ed0052c1a/command/down"
    assert json.loads(body) == {
        "devEui": "70b3d57ed0052c1a",
        "confirmed": False,
        "fPort": 2,
        "data": base64.b64encode(data).decode(),
    }
    topic, body = lorawan.downlink(
        "tts", application="river-gauges@ttn", dev_eui=DEV_EUI, device="kyoden-chiwara-lora", data=data
    )
    assert topic == "v3/river-gauges@ttn/devices/kyoden-chiwara-lora/down/push"
    assert json.loads(body) == {
        "downlinks": [{"f_port": 2, "frm_payload": base64.b64encode(data).decode(), "priority": "NORMAL"}]
    }


# -- through a real Mosquitto, ingest worker and PostgreSQL ---------------------------------
@pytest.fixture
def lora_db(demo_db):
    with db.connect(demo_db) as conn:
        conn.execute("UPDATE devices SET installed_at = now() - interval '30 days'")
        conn.execute(
            """INSERT INTO lorawan_devices (dev_eui, device_id, network_server, application)
               VALUES (%s, %s, 'chirpstack', '3f0b6c0e-8a4d-4a53-9c8e-6b1f0c2d7e51')""",
            (DEV_EUI, DEVICE),
        )
    return demo_db


def rows(database_url: str, query: str) -> list[tuple]:
    with db.connect(database_url) as conn:
        return conn.execute(query).fetchall()


def test_recorded_events_replayed_through_mosquitto_are_stored_once(lora_db, broker):
    """A network server's MQTT integration (a service account on the services' listener)
    publishes the recorded events, each twice (a QoS 1 redelivery) and the first again
    later (a replay), plus events ingest must not store: every reading once, with the
    network server's time, and a dead letter with its reason for each of the others."""
    now = datetime.now(UTC).replace(microsecond=0)
    chirpstack = event("chirpstack_v4_up.json", time=(now - timedelta(minutes=20)).isoformat())
    tts = event(
        "tts_v3_up.json",
        received_at=now.isoformat().replace("+00:00", "Z"),
        uplink_message__received_at=(now - timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
    )
    stranger = event("tts_v3_up.json", end_device_ids__dev_eui="0000000000000001")
    broken = event("chirpstack_v4_up.json", data=base64.b64encode(b"\x07junk").decode())
    broker.allow_services("chirpstack")
    network_server = Connection(broker.url("chirpstack"), "chirpstack")
    network_server.start()
    try:
        with running_ingest(lora_db, broker, "ingest-lora"):
            for topic, document in [
                (CHIRPSTACK_TOPIC, chirpstack),
                (CHIRPSTACK_TOPIC, chirpstack),
                (TTS_TOPIC, tts),
                (TTS_TOPIC, tts),
                (TTS_TOPIC, stranger),
                (CHIRPSTACK_TOPIC, broken),
                (CHIRPSTACK_TOPIC, chirpstack),
            ]:
                network_server.publish(topic, json.dumps(document).encode(), wait_s=5)
            wait_for(lambda: len(rows(lora_db, "SELECT 1 FROM dead_letters")) == 2)
            stored = wait_for(
                lambda: (
                    (
                        found := rows(
                            lora_db,
                            "SELECT seq, time, level_m, battery_v, quality FROM readings "
                            f"WHERE device_id = '{DEVICE}' ORDER BY seq",
                        )
                    )
                    and len(found) == 2
                    and found
                )
            )
    finally:
        network_server.stop()
    assert [(seq, level, battery) for seq, _, level, battery, _ in stored] == [
        (4711, 10.25, 3.91),
        (4712, 10.31, 3.9),
    ]
    assert stored[0][1] == now - timedelta(minutes=20)
    assert stored[1][1] == now - timedelta(seconds=1) - timedelta(minutes=10)
    dead = rows(lora_db, "SELECT reason, device_id, detail FROM dead_letters ORDER BY id")
    assert [(reason, device) for reason, device, _ in dead] == [
        ("unknown_device", None),
        ("unknown_schema", DEVICE),
    ]
    assert "0000000000000001" in dead[0][2]
    status = rows(lora_db, f"SELECT last_seq FROM device_status WHERE device_id = '{DEVICE}'")
    assert status == [(4712,)]
