from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kawamori.contract import Reason, Rejection
from shelters.doorcounter import DoorCount, count_topic, decode, encode

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
TOPIC = count_topic("kw-door-01")


def test_round_trip_and_stable_event_id():
    payload = encode(seq=812, time=NOW - timedelta(seconds=5), entered=3, left=1)
    count = decode(TOPIC, payload, received_at=NOW)
    assert isinstance(count, DoorCount)
    assert (count.device_id, count.seq, count.entered, count.left, count.delta) == (
        "kw-door-01",
        812,
        3,
        1,
        2,
    )
    again = decode(TOPIC, payload, received_at=NOW + timedelta(seconds=30))
    assert isinstance(again, DoorCount) and again.event_id == count.event_id  # redelivery: same event
    other = decode(count_topic("kw-door-02"), payload, received_at=NOW)
    assert isinstance(other, DoorCount) and other.event_id != count.event_id


def doc(**changes) -> bytes:
    base = {"v": 1, "seq": 1, "t": NOW.timestamp(), "in": 1, "out": 0}
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("kawamori/v1/kw-door-01/reading", doc(), Reason.bad_topic),
        (TOPIC, b"x" * 5000, Reason.oversized),
        (TOPIC, b"{", Reason.invalid_json),
        (TOPIC, b"[1]", Reason.not_an_object),
        (TOPIC, doc(v=2), Reason.unknown_schema),
        (TOPIC, doc(seq=None), Reason.missing_field),
        (TOPIC, doc(**{"in": -1}), Reason.bad_type),
        (TOPIC, doc(out=1.5), Reason.bad_type),
        (TOPIC, doc(**{"in": True}), Reason.bad_type),
        (TOPIC, doc(t=None), Reason.missing_field),
        (TOPIC, doc(t="now"), Reason.bad_type),
        (TOPIC, doc(t=1e20), Reason.bad_type),
        (TOPIC, doc(t=(NOW + timedelta(hours=1)).timestamp()), Reason.future_time),
        (TOPIC, doc(t=(NOW - timedelta(days=8)).timestamp()), Reason.too_old),
    ],
)
def test_rejections(topic, payload, reason):
    result = decode(topic, payload, received_at=NOW)
    assert isinstance(result, Rejection) and result.reason is reason and result.detail


@given(st.binary(max_size=200))
def test_never_raises_on_any_bytes(payload):
    assert isinstance(decode(TOPIC, payload, received_at=NOW), DoorCount | Rejection)
