"""The MQTT contract v1 (kawamori/contract.py): topics, reading and status payloads.

The decoders face untrusted bytes from the field, so besides tables of known cases
they are checked with hypothesis: whatever arrives, they answer with a value or a
rejection reason and never raise.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from kawamori.contract import (
    MAX_AGE,
    MAX_BATCH,
    MAX_FUTURE,
    OFFLINE_WILL,
    DecodedBatch,
    Kind,
    Reason,
    Rejection,
    Status,
    WireReading,
    decode_readings,
    decode_status,
    encode_batch,
    encode_reading,
    encode_status,
    parse_topic,
    subscription,
    topic,
)

NOW = datetime(2025, 9, 1, 3, 0, tzinfo=UTC)
T = NOW.timestamp() - 60  # a plausible device timestamp, one minute before receipt

# Reasons only the ingest service can give: they need the topic or the device registry.
SERVICE_REASONS = {
    Reason.bad_topic,
    Reason.unknown_device,
    Reason.unassigned_device,
    Reason.out_of_range,
    Reason.before_install,
    Reason.seq_reused,
    Reason.rejected_by_database,
}
CODEC_REASONS = set(Reason) - SERVICE_REASONS


def doc(**fields) -> bytes:
    """A v1 payload with ``fields``; pass ``v=...`` to override the version."""
    return json.dumps({"v": 1, **fields}).encode()


def decode(payload: bytes, **kwargs) -> DecodedBatch | Rejection:
    return decode_readings(payload, received_at=NOW, **kwargs)


def single(payload: bytes) -> WireReading:
    result = decode(payload)
    assert isinstance(result, DecodedBatch), result
    assert result.rejections == ()
    (reading,) = result.readings
    return reading


# -- never raises ------------------------------------------------------------------------

# JSON-shaped payloads: each field is plausible half of the time and anything at all
# otherwise, so that the decoders' later checks are reached, not only their first one.
too_large_for_a_float = st.integers(min_value=10**308, max_value=10**330) | st.integers(
    min_value=-(10**330), max_value=-(10**308)
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # json.dumps writes NaN / Infinity / -Infinity literals for these
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)
anything = st.one_of(too_large_for_a_float, scalars, json_values)
PLAUSIBLE = {
    "seq": st.integers(min_value=0, max_value=1000),
    "level": st.floats(min_value=-5, max_value=30),
    "t": st.floats(min_value=T - 4e7, max_value=T + 4e7),
    "age": st.floats(min_value=0, max_value=1e5),
    "dist": st.floats(min_value=0, max_value=20),
    "bat": st.floats(min_value=2.5, max_value=4.5),
    "rssi": st.integers(min_value=-120, max_value=0),
    "q": st.integers(min_value=0, max_value=31),
    "online": st.booleans(),
    "fw": st.text(max_size=50),
    "up": st.integers(min_value=0, max_value=10**7),
    "drop": st.integers(min_value=0, max_value=10**4),
}


def fields(required: list[str], optional: list[str]) -> st.SearchStrategy[dict]:
    def value(key: str) -> st.SearchStrategy:
        return st.one_of(PLAUSIBLE[key], anything)

    return st.fixed_dictionaries({k: value(k) for k in required}, optional={k: value(k) for k in optional})


readings_like = fields(["seq", "level"], ["t", "age", "dist", "bat", "rssi", "q"])
documents = st.builds(
    lambda version, reading, status, batch: {
        **reading,
        **status,
        "v": version,
        **({"r": batch} if batch is not None else {}),
    },
    st.sampled_from([1, 1, 1, 1, 2, True, None]),
    readings_like,
    fields(["online"], ["fw", "bat", "up", "drop"]),
    st.none() | st.lists(readings_like | anything, max_size=4),
)


@settings(deadline=None)
@given(st.binary(max_size=2048))
def test_decode_readings_answers_any_bytes(payload):
    assert isinstance(decode(payload), DecodedBatch | Rejection)


@settings(deadline=None)
@given(st.binary(max_size=2048))
def test_decode_status_answers_any_bytes(payload):
    assert isinstance(decode_status(payload), Status | Rejection)


@settings(deadline=None, max_examples=400)  # cheap examples; more of them reach deep checks
@given(documents)
def test_decoders_answer_any_json_shaped_payload(document):
    payload = json.dumps(document).encode()
    result = decode(payload)
    assert isinstance(result, DecodedBatch | Rejection)
    if isinstance(result, DecodedBatch):
        for reading in result.readings:
            assert math.isfinite(reading.level_m)
            assert NOW - MAX_AGE <= reading.time <= NOW + MAX_FUTURE
    assert isinstance(decode_status(payload), Status | Rejection)


@pytest.mark.parametrize(
    "payload",
    [
        doc(seq=1, t=T, level=10**400),
        doc(seq=1, t=10**400, level=1.0),
        doc(seq=1, age=10**400, level=1.0),
        doc(seq=1, t=T, level=1.0, dist=10**400),
        doc(seq=1, t=T, level=1.0, bat=10**400),
        doc(bat=10**400, r=[{"seq": 1, "t": T, "level": 1.0}]),
    ],
    ids=["level", "t", "age", "dist", "bat", "batch-bat"],
)
def test_integer_too_large_for_a_float_is_rejected_not_raised(payload):
    """JSON integers have no size limit; 10**400 cannot become a float."""
    result = decode(payload)
    rejections = [result] if isinstance(result, Rejection) else list(result.rejections)
    assert [r.reason for r in rejections] in ([Reason.not_finite], [Reason.bad_type])


def test_status_integer_too_large_for_a_float_is_rejected_not_raised():
    result = decode_status(doc(online=True, bat=10**400))
    assert isinstance(result, Rejection)
    assert result.reason in {Reason.not_finite, Reason.bad_type}


def test_deeply_nested_json_is_invalid_not_a_crash():
    assert decode(b"[" * 60_000).reason is Reason.invalid_json
    assert decode_status(b"[" * 8_000).reason is Reason.invalid_json


# -- round trips -------------------------------------------------------------------------

optional_float = st.none() | st.floats(min_value=0, max_value=50, allow_nan=False)
readings_by_time = st.builds(
    dict,
    seq=st.integers(min_value=0, max_value=2**53),
    level_m=st.floats(min_value=-50, max_value=500),
    time=st.datetimes(
        min_value=(NOW - MAX_AGE + timedelta(seconds=1)).replace(tzinfo=None),
        max_value=(NOW + MAX_FUTURE - timedelta(seconds=1)).replace(tzinfo=None),
        timezones=st.just(UTC),
    ),
    distance_m=optional_float,
    battery_v=optional_float,
    rssi_dbm=st.none() | st.integers(min_value=-130, max_value=0),
    quality=st.integers(min_value=0, max_value=2**15 - 1),
)


def assert_round_trip(sent: dict, got: WireReading) -> None:
    assert got.seq == sent["seq"]
    assert got.level_m == round(sent["level_m"], 4)
    assert abs(got.level_m - sent["level_m"]) <= 5e-5 + 1e-12
    assert abs((got.time - sent["time"]).total_seconds()) <= 0.0005 + 1e-6  # milliseconds
    assert got.clock_unset is False
    for key, digits in (("distance_m", 4), ("battery_v", 2)):
        if sent[key] is None:
            assert getattr(got, key) is None
        else:
            assert getattr(got, key) == round(sent[key], digits)
    assert got.rssi_dbm == sent["rssi_dbm"]
    assert got.quality == sent["quality"]


@settings(deadline=None)
@given(readings_by_time)
def test_single_reading_round_trips(sent):
    payload = encode_batch([encode_reading(**sent)])
    assert b'"r"' not in payload  # one reading travels as a plain object
    assert_round_trip(sent, single(payload))


@settings(deadline=None)
@given(st.lists(readings_by_time, min_size=2, max_size=20))
def test_batch_round_trips_in_order(sent):
    result = decode(encode_batch([encode_reading(**r) for r in sent]))
    assert isinstance(result, DecodedBatch)
    assert result.rejections == ()
    assert len(result.readings) == len(sent)
    for one_sent, got in zip(sent, result.readings, strict=True):
        assert_round_trip(one_sent, got)


@given(st.floats(min_value=0, max_value=MAX_AGE.total_seconds() - 1), st.floats(0, 20))
def test_age_round_trips_to_a_clock_unset_time(age, level):
    reading = single(encode_batch([encode_reading(seq=7, level_m=level, age_s=age)]))
    assert reading.clock_unset is True
    assert reading.time == NOW - timedelta(seconds=round(age, 1))


def test_encoded_reading_has_documented_precision():
    item = encode_reading(
        seq=3,
        level_m=1.234567,
        time=datetime(2025, 9, 1, 2, 59, 0, 123456, tzinfo=UTC),
        distance_m=8.765432,
        battery_v=3.71828,
        rssi_dbm=-71,
        quality=2,
    )
    assert item == {
        "seq": 3,
        "level": 1.2346,
        "t": pytest.approx(NOW.timestamp() - 60 + 0.123, abs=1e-6),
        "dist": 8.7654,
        "bat": 3.72,
        "rssi": -71,
        "q": 2,
    }
    assert encode_reading(seq=1, level_m=1.0, age_s=12.345) == {"seq": 1, "level": 1.0, "age": 12.3}


# -- rejections --------------------------------------------------------------------------

REJECTIONS = [
    # invalid_json
    ("empty", b"", Reason.invalid_json),
    ("truncated", b'{"v":1,"seq":1', Reason.invalid_json),
    ("trailing garbage", doc(seq=1, t=T, level=1.0) + b"x", Reason.invalid_json),
    ("invalid utf-8", b'{"v":1,"seq":1,"t":%d,"level":1.0,"x":"\xff\xfe"}' % T, Reason.invalid_json),
    ("lone utf-8 continuation byte", b"\x80", Reason.invalid_json),
    ("single quotes", b"{'v':1}", Reason.invalid_json),
    # not_an_object
    ("array", b"[1,2]", Reason.not_an_object),
    ("number", b"1", Reason.not_an_object),
    ("string", b'"reading"', Reason.not_an_object),
    ("null", b"null", Reason.not_an_object),
    # unknown_schema
    ("no version", b'{"seq":1,"level":1.0,"age":0}', Reason.unknown_schema),
    ("v=true", doc(v=True, seq=1, level=1.0, age=0), Reason.unknown_schema),
    ("v=2", doc(v=2, seq=1, level=1.0, age=0), Reason.unknown_schema),
    ("v='1'", doc(v="1", seq=1, level=1.0, age=0), Reason.unknown_schema),
    ("v=null", doc(v=None, seq=1, level=1.0, age=0), Reason.unknown_schema),
    # missing_field
    ("no seq", doc(t=T, level=1.0), Reason.missing_field),
    ("no level", doc(seq=1, t=T), Reason.missing_field),
    ("level null", doc(seq=1, t=T, level=None), Reason.missing_field),
    ("neither t nor age", doc(seq=1, level=1.0), Reason.missing_field),
    # bad_type
    ("bool seq", doc(seq=True, t=T, level=1.0), Reason.bad_type),
    ("float seq", doc(seq=1.5, t=T, level=1.0), Reason.bad_type),
    ("string seq", doc(seq="1", t=T, level=1.0), Reason.bad_type),
    ("negative seq", doc(seq=-1, t=T, level=1.0), Reason.bad_type),
    ("seq beyond 2**62", doc(seq=2**62, t=T, level=1.0), Reason.bad_type),
    ("string level", doc(seq=1, t=T, level="1.2"), Reason.bad_type),
    ("bool level", doc(seq=1, t=T, level=False), Reason.bad_type),
    ("string t", doc(seq=1, t="2025-09-01T03:00:00Z", level=1.0), Reason.bad_type),
    ("negative age", doc(seq=1, age=-1, level=1.0), Reason.bad_type),
    ("t out of datetime range", doc(seq=1, t=1e20, level=1.0), Reason.bad_type),
    ("age out of timedelta range", doc(seq=1, age=1e20, level=1.0), Reason.bad_type),
    ("float rssi", doc(seq=1, t=T, level=1.0, rssi=-70.5), Reason.bad_type),
    ("string bat", doc(seq=1, t=T, level=1.0, bat="3.7"), Reason.bad_type),
    ("negative q", doc(seq=1, t=T, level=1.0, q=-1), Reason.bad_type),
    ("q too wide", doc(seq=1, t=T, level=1.0, q=2**15), Reason.bad_type),
    ("r not a list", doc(r={"seq": 1, "t": T, "level": 1.0}), Reason.bad_type),
    # not_finite
    ("NaN literal", b'{"v":1,"seq":1,"t":%d,"level":NaN}' % T, Reason.not_finite),
    ("Infinity literal", b'{"v":1,"seq":1,"t":%d,"level":Infinity}' % T, Reason.not_finite),
    ("-Infinity literal", b'{"v":1,"seq":1,"t":-Infinity,"level":1.0}', Reason.not_finite),
    ("NaN literal in an ignored field", b'{"v":1,"x":NaN,"seq":1,"t":%d,"level":1}' % T, Reason.not_finite),
    ("1e400 level", b'{"v":1,"seq":1,"t":%d,"level":1e400}' % T, Reason.not_finite),
    ("1e400 age", b'{"v":1,"seq":1,"age":1e400,"level":1.0}', Reason.not_finite),
    ("-1e400 dist", b'{"v":1,"seq":1,"t":%d,"level":1.0,"dist":-1e400}' % T, Reason.not_finite),
    # empty_batch, batch_too_large
    ("empty batch", doc(r=[]), Reason.empty_batch),
    (
        "batch too large",
        doc(r=[{"seq": i, "level": 1.0, "age": 0} for i in range(MAX_BATCH + 1)]),
        Reason.batch_too_large,
    ),
    # oversized
    ("oversized", doc(seq=1, t=T, level=1.0, pad="x" * 65_536), Reason.oversized),
    # future_time, too_old
    ("future time", doc(seq=1, t=T + 60 + 601, level=1.0), Reason.future_time),
    ("far future", doc(seq=1, t=4e9, level=1.0), Reason.future_time),
    ("too old", doc(seq=1, t=T + 60 - 367 * 86400, level=1.0), Reason.too_old),
    ("epoch", doc(seq=1, t=0, level=1.0), Reason.too_old),
    ("age over a year", doc(seq=1, age=367 * 86400, level=1.0), Reason.too_old),
]


@pytest.mark.parametrize(("payload", "reason"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_whole_message_rejection(payload, reason):
    result = decode(payload)
    assert isinstance(result, Rejection), result
    assert result.reason is reason
    assert result.index is None
    assert result.detail


def test_rejection_table_covers_every_codec_reason():
    assert {reason for *_, reason in REJECTIONS} == CODEC_REASONS


def test_batch_of_exactly_max_readings_is_accepted():
    result = decode(doc(r=[{"seq": i, "level": 1.0, "age": 0} for i in range(MAX_BATCH)]))
    assert isinstance(result, DecodedBatch)
    assert len(result.readings) == MAX_BATCH


def test_max_bytes_is_the_limit():
    payload = doc(seq=1, t=T, level=1.0)
    assert isinstance(decode(payload, max_bytes=len(payload)), DecodedBatch)
    assert decode(payload, max_bytes=len(payload) - 1).reason is Reason.oversized


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (MAX_FUTURE, True),
        (MAX_FUTURE + timedelta(seconds=1), False),
        (-MAX_AGE, True),
        (-MAX_AGE - timedelta(seconds=1), False),
    ],
    ids=["future edge", "past future edge", "age edge", "past age edge"],
)
def test_time_window_edges(offset, accepted):
    result = decode(doc(seq=1, t=(NOW + offset).timestamp(), level=1.0))
    assert isinstance(result, DecodedBatch) is accepted


BAD_ITEMS = [  # one reading of a batch, as JSON text
    ("not an object", "[1, 2]", Reason.not_an_object),
    ("missing level", json.dumps({"seq": 2, "t": T}), Reason.missing_field),
    ("string level", json.dumps({"seq": 2, "t": T, "level": "high"}), Reason.bad_type),
    ("bool seq", json.dumps({"seq": True, "t": T, "level": 1.0}), Reason.bad_type),
    ("1e400 level", f'{{"seq": 2, "t": {T}, "level": 1e400}}', Reason.not_finite),
    ("future", json.dumps({"seq": 2, "t": T + 3600, "level": 1.0}), Reason.future_time),
    ("too old", json.dumps({"seq": 2, "t": 1e9, "level": 1.0}), Reason.too_old),
]


@pytest.mark.parametrize(("item", "reason"), [b[1:] for b in BAD_ITEMS], ids=[b[0] for b in BAD_ITEMS])
def test_bad_reading_in_batch_keeps_the_others(item, reason):
    first, last = (json.dumps({"seq": seq, "t": T, "level": 1.0}) for seq in (1, 3))
    result = decode(f'{{"v": 1, "r": [{first}, {item}, {last}]}}'.encode())
    assert isinstance(result, DecodedBatch)
    assert [r.seq for r in result.readings] == [1, 3]
    (rejection,) = result.rejections
    assert rejection.reason is reason
    assert rejection.index == 1


def test_every_reading_in_a_batch_may_be_rejected_with_its_index():
    result = decode(doc(r=[{"seq": 1}, "x", {"seq": 3, "t": T, "level": "1"}]))
    assert isinstance(result, DecodedBatch)
    assert result.readings == ()
    assert [(r.index, r.reason) for r in result.rejections] == [
        (0, Reason.missing_field),
        (1, Reason.not_an_object),
        (2, Reason.bad_type),
    ]


def test_age_instead_of_time_counts_back_from_receipt():
    reading = single(doc(seq=1, age=90.5, level=1.0))
    assert reading.time == NOW - timedelta(seconds=90.5)
    assert reading.clock_unset is True


def test_time_wins_over_age():
    reading = single(doc(seq=1, t=T, age=3600, level=1.0))
    assert reading.time == datetime.fromtimestamp(T, UTC)
    assert reading.clock_unset is False


def test_batch_level_battery_and_rssi_are_defaults():
    result = decode(
        doc(
            bat=3.7,
            rssi=-80,
            r=[
                {"seq": 1, "t": T, "level": 1.0},
                {"seq": 2, "t": T, "level": 1.0, "bat": 3.1, "rssi": -60},
                {"seq": 3, "t": T, "level": 1.0, "rssi": -65},
            ],
        )
    )
    assert isinstance(result, DecodedBatch)
    assert [(r.battery_v, r.rssi_dbm) for r in result.readings] == [(3.7, -80), (3.1, -60), (3.7, -65)]


def test_other_batch_level_fields_are_not_defaults():
    result = decode(doc(t=T, level=1.0, r=[{"seq": 1}]))
    assert isinstance(result, DecodedBatch)
    assert [r.reason for r in result.rejections] == [Reason.missing_field]


def test_bad_batch_level_default_rejects_only_readings_that_use_it():
    result = decode(
        doc(bat="full", r=[{"seq": 1, "t": T, "level": 1.0}, {"seq": 2, "t": T, "level": 1.0, "bat": 3.6}])
    )
    assert isinstance(result, DecodedBatch)
    assert [r.seq for r in result.readings] == [2]
    assert [(r.index, r.reason) for r in result.rejections] == [(0, Reason.bad_type)]


def test_optional_fields_default():
    reading = single(doc(seq=0, t=T, level=-0.25))
    assert reading == WireReading(seq=0, time=datetime.fromtimestamp(T, UTC), level_m=-0.25)


# -- topics ------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["dev-01", "A", "9", "node.3_b", "x" * 64, "TSURUOKA-kyoden.001"])
@pytest.mark.parametrize("kind", list(Kind))
def test_topic_round_trips_valid_device_ids(device, kind):
    name = topic(device, kind)
    assert name == f"kawamori/v1/{device}/{kind.value}"
    assert parse_topic(name) == (device, kind)
    assert topic(device, kind.value) == name  # the kind may be given as a plain string


@pytest.mark.parametrize(
    "name",
    [
        "kawamori/v1/a/b/reading",  # device id with '/'
        "kawamori/v1/+/reading",
        "kawamori/v1/#",
        "kawamori/v1/dev/#",
        "kawamori/v1/de#v/reading",
        "kawamori/v1//reading",  # empty device id
        "kawamori/v1/" + "x" * 65 + "/reading",  # too long
        "kawamori/v1/-dev/reading",  # must start with a letter or digit
        "kawamori/v1/.dev/reading",
        "kawamori/v1/dév/reading",
        "kawamori/v1/dev 1/reading",
        "kawamori/v2/dev/reading",  # wrong prefix
        "kawamori/dev/reading",
        "/kawamori/v1/dev/reading",
        "xkawamori/v1/dev/reading",
        "Kawamori/v1/dev/reading",
        "kawamori/v1/dev/readings",  # wrong kind
        "kawamori/v1/dev/Reading",
        "kawamori/v1/dev/command",
        "kawamori/v1/dev/",
        "kawamori/v1/dev",
        "kawamori/v1/dev/reading/extra",
        "kawamori/v1/dev/reading\n",  # a different MQTT topic than the one without '\n'
        "",
    ],
)
def test_parse_topic_rejects(name):
    assert parse_topic(name) is None


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True), st.sampled_from(list(Kind)))
def test_any_valid_device_id_round_trips(device, kind):
    assert parse_topic(topic(device, kind)) == (device, kind)


@given(st.text(max_size=70), st.sampled_from(list(Kind)))
def test_parse_topic_never_misattributes_a_device(device, kind):
    assert parse_topic(topic(device, kind)) in (None, (device, kind))


@pytest.mark.parametrize("kind", list(Kind))
def test_subscription_matches_every_device_of_one_kind(kind):
    assert subscription(kind) == f"kawamori/v1/+/{kind.value}"
    assert subscription(kind.value) == subscription(kind)
    assert topic_matches_sub(subscription(kind), topic("dev-01", kind))
    for other in set(Kind) - {kind}:
        assert not topic_matches_sub(subscription(kind), topic("dev-01", other))


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        topic("dev-01", "command")
    with pytest.raises(ValueError):
        subscription("readings")


# -- status ------------------------------------------------------------------------------

ints = st.none() | st.integers(min_value=-(2**62) + 1, max_value=2**62 - 1)
statuses = st.builds(
    Status,
    online=st.booleans(),
    firmware=st.none() | st.text(min_size=1, max_size=40),
    battery_v=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    rssi_dbm=ints,
    uptime_s=ints,
    buffered=ints,
    dropped=ints,
    config_version=ints,
    extra=st.dictionaries(
        st.text(max_size=10).filter(
            lambda k: k not in {"v", "online", "fw", "bat", "rssi", "up", "buf", "drop", "cfg"}
        ),
        st.none()
        | st.booleans()
        | st.integers(-1000, 1000)
        | st.text(max_size=10)
        | st.lists(st.integers(), max_size=3),
        max_size=3,
    ),
)


@settings(deadline=None)
@given(statuses)
def test_status_round_trips(status):
    assert decode_status(encode_status(status)) == status


def test_offline_will_decodes_to_offline():
    assert decode_status(OFFLINE_WILL) == Status(online=False)


def test_status_firmware_is_cut_to_40_characters_and_empty_means_none():
    assert decode_status(doc(online=True, fw="x" * 100)).firmware == "x" * 40
    assert decode_status(doc(online=True, fw="")).firmware is None


STATUS_REJECTIONS = [
    ("invalid utf-8", b'{"v":1,"online":true,"fw":"\xc3\x28"}', Reason.invalid_json),
    ("not json", b"online", Reason.invalid_json),
    ("array", b"[true]", Reason.not_an_object),
    ("v=2", doc(v=2, online=True), Reason.unknown_schema),
    ("v=true", doc(v=True, online=True), Reason.unknown_schema),
    ("no online", doc(fw="1.0"), Reason.missing_field),
    ("online as string", doc(online="true"), Reason.missing_field),
    ("online as 1", doc(online=1), Reason.missing_field),
    ("fw number", doc(online=True, fw=1.2), Reason.bad_type),
    ("bat string", doc(online=True, bat="3.7"), Reason.bad_type),
    ("up float", doc(online=True, up=1.5), Reason.bad_type),
    ("drop bool", doc(online=True, drop=False), Reason.bad_type),
    ("bat NaN", b'{"v":1,"online":true,"bat":NaN}', Reason.not_finite),
    ("oversized", doc(online=True, note="x" * 8192), Reason.oversized),
]


@pytest.mark.parametrize(
    ("payload", "reason"), [r[1:] for r in STATUS_REJECTIONS], ids=[r[0] for r in STATUS_REJECTIONS]
)
def test_status_rejection(payload, reason):
    result = decode_status(payload)
    assert isinstance(result, Rejection), result
    assert result.reason is reason
