"""Pure ingest planning (ingest/plan.py): which messages become readings, device
statuses or dead letters. Messages are built by hand; nothing touches a broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.plan import (
    DEAD_LETTER_PAYLOAD_LIMIT,
    INSTALL_GRACE,
    DeadLetter,
    DeviceInfo,
    Plan,
    ReadingRow,
    StatusUpdate,
    check_reading,
    plan_batch,
)
from kawamori.contract import (
    OFFLINE_WILL,
    Kind,
    Reason,
    Status,
    WireReading,
    decode_readings,
    encode_batch,
    encode_reading,
    encode_status,
    parse_topic,
    topic,
)
from kawamori.messages import Message
from kawamori.model import Quality

NOW = datetime(2025, 9, 1, 3, 0, tzinfo=UTC)
INSTALLED = NOW - timedelta(days=30)
MAX_PAYLOAD = 65_536


def device(**overrides) -> DeviceInfo:
    values = {
        "station_id": "kyoden-jumonji",
        "installed_at": INSTALLED,
        "retired": False,
        "level_min_m": 1.85,
        "level_max_m": 10.0,
    }
    return DeviceInfo(**{**values, **overrides})


DEVICES = {
    "gauge-1": device(),
    "gauge-2": device(station_id="kyoden-kanehiro", level_min_m=0.9),
    "spare": device(station_id=None),
    "retired": device(retired=True),
}


def message(
    payload: bytes, *, to: str = "gauge-1", kind: str = "reading", name: str | None = None, **kw
) -> Message:
    values = {"qos": 1, "retain": False, "mid": 1, "received_at": NOW} | kw
    return Message(topic=name if name is not None else topic(to, kind), payload=payload, **values)


def readings(*items: dict) -> bytes:
    return encode_batch([encode_reading(**item) for item in items])


def one(seq: int = 1, level_m: float = 4.0, **kw) -> dict:
    return {"seq": seq, "level_m": level_m, "time": NOW - timedelta(minutes=1)} | kw


def plan(*messages: Message, devices=DEVICES) -> Plan:
    return plan_batch(messages, devices, max_payload_bytes=MAX_PAYLOAD)


def only_dead_letter(result: Plan) -> DeadLetter:
    assert result.readings == []
    assert result.statuses == []
    (dead,) = result.dead_letters
    return dead


# -- readings ----------------------------------------------------------------------------


def test_good_reading_becomes_a_row():
    sent = one(seq=42, level_m=4.35, distance_m=5.95, battery_v=3.71, rssi_dbm=-77, quality=2)
    result = plan(message(readings(sent), received_at=NOW))
    assert result.dead_letters == []
    assert result.readings == [
        ReadingRow(
            station_id="kyoden-jumonji",
            time=NOW - timedelta(minutes=1),
            level_m=4.35,
            device_id="gauge-1",
            seq=42,
            distance_m=5.95,
            battery_v=3.71,
            rssi_dbm=-77,
            quality=int(Quality.FEW_SAMPLES),
            received_at=NOW,
        )
    ]
    assert result.watermarks == {"gauge-1": 42}


def test_readings_keep_message_order_and_go_to_each_devices_station():
    result = plan(
        message(readings(one(1), one(2))),
        message(readings(one(7, level_m=1.0)), to="gauge-2"),
        message(readings(one(3))),
    )
    assert [(r.device_id, r.station_id, r.seq) for r in result.readings] == [
        ("gauge-1", "kyoden-jumonji", 1),
        ("gauge-1", "kyoden-jumonji", 2),
        ("gauge-2", "kyoden-kanehiro", 7),
        ("gauge-1", "kyoden-jumonji", 3),
    ]


def test_unknown_device():
    dead = only_dead_letter(plan(message(readings(one()), to="ghost")))
    assert dead.reason is Reason.unknown_device
    assert dead.device_id == "ghost"
    assert dead.topic == "kawamori/v1/ghost/reading"


@pytest.mark.parametrize(
    "name",
    [
        "kawamori/v2/gauge-1/reading",
        "kawamori/v1/gauge-1/reading/extra",
        "kawamori/v1/gauge-1/command",
        "kawamori/v1/+/reading",
        "sensors/gauge-1",
        "",
    ],
)
def test_bad_topic(name):
    dead = only_dead_letter(plan(message(readings(one()), name=name)))
    assert dead.reason is Reason.bad_topic
    assert dead.device_id is None
    assert dead.topic == name


def test_bad_topic_is_cut_to_256_characters():
    dead = only_dead_letter(plan(message(b"{}", name="x" * 1000)))
    assert dead.topic == "x" * 256


@pytest.mark.parametrize("kind", [Kind.config, Kind.ack])
def test_device_publishing_to_a_server_topic(kind):
    dead = only_dead_letter(plan(message(readings(one()), kind=kind)))
    assert dead.reason is Reason.bad_topic
    assert dead.device_id == "gauge-1"
    assert kind.value in dead.detail


@pytest.mark.parametrize("device_id", ["spare", "retired"])
def test_reading_from_a_device_without_a_station(device_id):
    dead = only_dead_letter(plan(message(readings(one(seq=5)), to=device_id)))
    assert dead.reason is Reason.unassigned_device
    assert dead.device_id == device_id


@pytest.mark.parametrize(
    ("level", "stored"),
    [(1.84, False), (1.85, True), (10.0, True), (10.01, False), (-3.0, False), (25.0, False)],
)
def test_level_outside_the_stations_range(level, stored):
    result = plan(message(readings(one(seq=9, level_m=level))))
    assert [r.level_m for r in result.readings] == ([level] if stored else [])
    if not stored:
        dead = only_dead_letter(result)
        assert dead.reason is Reason.out_of_range
        assert "seq 9" in dead.detail
    assert result.watermarks == {"gauge-1": 9}  # handled either way: the device may drop it


@pytest.mark.parametrize(
    ("before_install", "stored"),
    [
        (INSTALL_GRACE + timedelta(seconds=1), False),
        (timedelta(days=2), False),
        (INSTALL_GRACE, True),
        (timedelta(minutes=4), True),
        (timedelta(0), True),
    ],
    ids=["just beyond grace", "days before", "at grace", "within grace", "at installation"],
)
def test_reading_before_installation(before_install, stored):
    reading = one(seq=3, time=INSTALLED - before_install)
    result = plan(message(readings(reading)))
    assert len(result.readings) == int(stored)
    if not stored:
        assert only_dead_letter(result).reason is Reason.before_install


@pytest.mark.parametrize(
    ("sent", "quality"),
    [
        ({"age_s": 30}, Quality.CLOCK_UNSET),
        ({"age_s": 30, "quality": int(Quality.FEW_SAMPLES)}, Quality.CLOCK_UNSET | Quality.FEW_SAMPLES),
        ({"time": NOW, "quality": int(Quality.SENSOR_ERROR)}, Quality.SENSOR_ERROR),
        ({"time": NOW}, Quality.OK),
    ],
    ids=["age", "age with flags", "time with flags", "time"],
)
def test_clock_unset_reading_is_flagged(sent, quality):
    (row,) = plan(message(readings({"seq": 1, "level_m": 4.0} | sent))).readings
    assert row.quality == int(quality)
    if "age_s" in sent:
        assert row.time == NOW - timedelta(seconds=30)


def test_batch_with_one_bad_reading_stores_the_rest():
    bad = {"seq": 2, "age": 0, "level": "high"}
    payload = json.dumps({"v": 1, "r": [encode_reading(**one(1)), bad, encode_reading(**one(3))]}).encode()
    result = plan(message(payload))
    assert [r.seq for r in result.readings] == [1, 3]
    (dead,) = result.dead_letters
    assert dead.reason is Reason.bad_type
    assert dead.detail.startswith("reading #1: ")
    assert dead.payload == payload  # the whole message, for diagnosis
    assert result.watermarks == {"gauge-1": 3}


def test_batch_with_one_reading_out_of_range_stores_the_rest():
    result = plan(message(readings(one(1), one(2, level_m=99.0), one(3))))
    assert [r.seq for r in result.readings] == [1, 3]
    (dead,) = result.dead_letters
    assert (dead.reason, dead.detail.split(":")[0]) == (Reason.out_of_range, "seq 2")


def test_whole_message_rejection_is_one_dead_letter():
    dead = only_dead_letter(plan(message(b"not json")))
    assert dead.reason is Reason.invalid_json
    assert dead.device_id == "gauge-1"


def test_max_payload_bytes_is_passed_to_the_decoder():
    payload = readings(one())
    result = plan_batch([message(payload)], DEVICES, max_payload_bytes=len(payload) - 1)
    assert only_dead_letter(result).reason is Reason.oversized


def test_watermarks_are_the_highest_seq_per_device():
    result = plan(
        message(readings(one(5), one(3))),
        message(readings(one(4, level_m=1.0)), to="gauge-2"),
        message(readings(one(9), one(2))),
        message(readings(one(12, level_m=99.0))),  # dead-lettered, but handled
        message(b"garbage", to="gauge-2"),  # no seq to count
        message(readings(one(50)), to="spare"),  # not handled as a reading at all
    )
    assert result.watermarks == {"gauge-1": 12, "gauge-2": 4}


def test_a_redelivery_within_the_batch_is_counted_not_stored_twice():
    first = message(readings(one(1), one(2)))
    again = message(readings(one(2)), mid=2)  # a single reading, as the gauge resends it
    reused = message(readings(one(1, time=NOW - timedelta(minutes=5))))
    result = plan(first, again, reused)
    assert [r.seq for r in result.readings] == [1, 2]
    assert result.duplicates == 1
    assert [d.reason for d in result.dead_letters] == [Reason.seq_reused]


# -- statuses ----------------------------------------------------------------------------


def test_status_becomes_a_status_update():
    status = Status(online=True, firmware="1.2.0", battery_v=3.9, rssi_dbm=-70, uptime_s=3600, buffered=0)
    result = plan(message(encode_status(status), kind="status", received_at=NOW))
    assert result.statuses == [StatusUpdate("gauge-1", status, NOW)]
    assert result.readings == [] and result.dead_letters == []


@pytest.mark.parametrize("device_id", ["spare", "retired"])
def test_devices_without_a_station_still_report_status(device_id):
    result = plan(message(OFFLINE_WILL, to=device_id, kind="status"))
    assert result.statuses == [StatusUpdate(device_id, Status(online=False), NOW)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"v":1}', Reason.missing_field),
        (b'{"v":2,"online":true}', Reason.unknown_schema),
        (b"offline", Reason.invalid_json),
        (b'{"v":1,"online":true,"bat":"full"}', Reason.bad_type),
    ],
)
def test_bad_status_becomes_a_dead_letter(payload, reason):
    dead = only_dead_letter(plan(message(payload, kind="status")))
    assert dead.reason is reason
    assert dead.device_id == "gauge-1"


def test_status_from_an_unknown_device():
    assert (
        only_dead_letter(plan(message(OFFLINE_WILL, to="ghost", kind="status"))).reason
        is Reason.unknown_device
    )


# -- dead letters ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [DEAD_LETTER_PAYLOAD_LIMIT - 1, DEAD_LETTER_PAYLOAD_LIMIT, 10_000, 100_000])
def test_dead_letter_payload_is_truncated_but_its_size_kept(size):
    payload = bytes(i % 251 for i in range(size))
    dead = only_dead_letter(plan(message(payload, received_at=NOW)))
    assert dead.payload == payload[:DEAD_LETTER_PAYLOAD_LIMIT]
    assert dead.payload_size == size
    assert dead.received_at == NOW
    assert dead.reason is (Reason.oversized if size > MAX_PAYLOAD else Reason.invalid_json)


# -- check_reading -----------------------------------------------------------------------


def wire(level_m: float = 4.0, time: datetime = NOW) -> WireReading:
    return WireReading(seq=1, time=time, level_m=level_m)


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        (wire(), None),
        (wire(level_m=1.85), None),
        (wire(level_m=10.0), None),
        (wire(level_m=10.000001), Reason.out_of_range),
        (wire(level_m=float("nan")), Reason.out_of_range),
        (wire(time=INSTALLED - INSTALL_GRACE), None),
        (wire(time=INSTALLED - INSTALL_GRACE - timedelta(microseconds=1)), Reason.before_install),
        (wire(level_m=0.0, time=INSTALLED - timedelta(days=1)), Reason.out_of_range),  # range first
    ],
)
def test_check_reading(reading, reason):
    problem = check_reading(device(), reading)
    assert (problem.reason if problem else None) is reason


# -- any messages ------------------------------------------------------------------------

KNOWN = [*DEVICES, "ghost"]
valid_topics = st.builds(
    topic,
    st.sampled_from(KNOWN),
    st.sampled_from([Kind.reading, Kind.reading, Kind.status, Kind.config, Kind.ack]),
)
invalid_topics = st.one_of(
    st.sampled_from(["", "kawamori/v1/+/reading", "kawamori/v2/gauge-1/reading", "kawamori/v1/gauge-1"]),
    st.text(max_size=40),
)
topics = st.integers(min_value=0, max_value=9).flatmap(lambda n: valid_topics if n < 8 else invalid_topics)
wire_readings = st.builds(
    lambda seq, level, minutes, age: encode_reading(
        seq=seq,
        level_m=level,
        time=None if age else NOW - timedelta(minutes=minutes),
        age_s=minutes * 60 if age else None,
    ),
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=12),  # mostly in range
    st.integers(min_value=-30, max_value=60 * 24 * 35),  # some in the future, some before installation
    st.booleans(),
)
payloads = st.one_of(
    st.binary(max_size=300),
    st.lists(wire_readings, min_size=1, max_size=5).map(encode_batch),
    st.builds(Status, online=st.booleans(), battery_v=st.none() | st.floats(3, 4.2)).map(encode_status),
    st.sampled_from([b"{}", b'{"v":1,"r":[]}', b'{"v":1,"online":"yes"}', OFFLINE_WILL]),
)


@settings(deadline=None)
@given(st.lists(st.tuples(topics, payloads), min_size=1, max_size=12))
def test_every_message_ends_up_somewhere(pairs):
    # each message gets its own receive time, so every output can be traced back to it
    messages = [
        message(payload, name=name, mid=i, received_at=NOW + timedelta(milliseconds=i))
        for i, (name, payload) in enumerate(pairs)
    ]
    result = plan(*messages)
    stored = {(r.device_id, r.seq, r.time) for r in result.readings}
    repeats = 0
    for m in messages:
        rows = [r for r in result.readings if r.received_at == m.received_at]
        dead = [d for d in result.dead_letters if d.received_at == m.received_at]
        statuses = [s for s in result.statuses if s.received_at == m.received_at]
        if not rows and not dead and not statuses:
            # a redelivery: every reading in it repeats one already planned in this batch
            device_id, _ = parse_topic(m.topic)
            decoded = decode_readings(m.payload, received_at=m.received_at)
            assert decoded.readings and not decoded.rejections
            assert all((device_id, r.seq, r.time) in stored for r in decoded.readings)
            repeats += len(decoded.readings)
        assert len(statuses) <= 1
        if statuses:
            assert rows == [] and dead == []
        for d in dead:
            assert d.topic == m.topic[:256]
            assert d.payload == m.payload[:DEAD_LETTER_PAYLOAD_LIMIT]
            assert d.payload_size == len(m.payload)
    for row in result.readings:
        info = DEVICES[row.device_id]
        assert info.station_id is not None and not info.retired
        assert row.station_id == info.station_id
        assert info.level_min_m <= row.level_m <= info.level_max_m
        assert row.time >= info.installed_at - INSTALL_GRACE
        assert result.watermarks[row.device_id] >= row.seq
    assert result.duplicates >= repeats
