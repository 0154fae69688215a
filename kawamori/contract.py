"""The MQTT contract, version 1: topics and payloads between devices and the server.

Documented for people in ``docs/mqtt.md``; this module is the executable form.
Everything is a pure function: bytes in, values or a rejection reason out. The
decoder never raises on any input.

Topics (``<device>`` is the device's hardware id, which is also its MQTT user)::

    kawamori/v1/<device>/reading   device → server   QoS 1   one reading or a batch
    kawamori/v1/<device>/status    device → server   QoS 1   retained; last will = offline
    kawamori/v1/<device>/config    server → device   QoS 1   retained
    kawamori/v1/<device>/ack       server → device   QoS 1   retained; highest stored seq
    kawamori/v1/<device>/count     door counter → server  QoS 1   people in/out at a shelter
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

SCHEMA_VERSION = 1
PREFIX = "kawamori/v1"
MAX_BATCH = 1000
DEAD_LETTER_PAYLOAD_LIMIT = 4096  # bytes of a rejected payload kept for review
MAX_FUTURE = timedelta(minutes=10)
MAX_AGE = timedelta(days=366)

_DEVICE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_TOPIC = re.compile(rf"{PREFIX}/(?P<device>{_DEVICE})/(?P<kind>reading|status|config|ack|count)")


class Kind(StrEnum):
    reading = "reading"
    status = "status"
    config = "config"
    ack = "ack"
    count = "count"  # door counters at shelters (payload: shelters.doorcounter)


def topic(device_id: str, kind: Kind | str) -> str:
    return f"{PREFIX}/{device_id}/{Kind(kind)}"


def subscription(kind: Kind | str) -> str:
    """The wildcard filter for one kind of message from every device."""
    return f"{PREFIX}/+/{Kind(kind)}"


@functools.lru_cache(maxsize=65_536)  # a topic per device and kind: parsed once
def parse_topic(name: str) -> tuple[str, Kind] | None:
    match = _TOPIC.fullmatch(name)
    if match is None:
        return None
    return match["device"], Kind(match["kind"])


class Reason(StrEnum):
    """Why a message or a reading was rejected to the dead-letter table."""

    bad_topic = "bad_topic"
    oversized = "oversized"
    invalid_json = "invalid_json"
    not_an_object = "not_an_object"
    unknown_schema = "unknown_schema"
    missing_field = "missing_field"
    bad_type = "bad_type"
    not_finite = "not_finite"
    empty_batch = "empty_batch"
    batch_too_large = "batch_too_large"
    future_time = "future_time"
    too_old = "too_old"
    unknown_device = "unknown_device"
    unassigned_device = "unassigned_device"
    out_of_range = "out_of_range"
    before_install = "before_install"
    # the device already sent this seq with another time (a resend with a re-estimated
    # clock, or a device that reuses numbers): the first one stays stored
    seq_reused = "seq_reused"
    # PostgreSQL refused the message however often it was retried (a poison message):
    # kept here so the rest of its batch is stored and acknowledged
    rejected_by_database = "rejected_by_database"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str
    index: int | None = None  # the reading's position in a batch, if only it was bad


class WireReading(NamedTuple):
    """A reading as the device sent it, decoded and checked for shape only."""

    seq: int
    time: datetime
    level_m: float
    distance_m: float | None = None
    battery_v: float | None = None
    rssi_dbm: int | None = None
    quality: int = 0
    clock_unset: bool = False


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    readings: tuple[WireReading, ...] = ()
    rejections: tuple[Rejection, ...] = field(default_factory=tuple)


class _Bad(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason, self.detail = reason, detail


def _reject_constant(name: str) -> Any:
    raise _Bad(Reason.not_finite, f"{name} is not a number")


_INT_LIMIT = 2**62
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # one decoder, reused: it is stateless


def _load(payload: bytes, max_bytes: int) -> dict[str, Any]:
    if len(payload) > max_bytes:
        raise _Bad(Reason.oversized, f"{len(payload)} bytes > {max_bytes}")
    try:
        document = _DECODER.decode(payload.decode("utf-8"))
    except _Bad:
        raise
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise _Bad(Reason.invalid_json, str(error)[:200]) from None
    if not isinstance(document, dict):
        raise _Bad(Reason.not_an_object, f"top level is {type(document).__name__}")
    version = document.get("v")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise _Bad(Reason.unknown_schema, f"v={version!r}, this server speaks v={SCHEMA_VERSION}")
    return document


def _number(obj: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    value = obj.get(key)
    if type(value) is float and value - value == 0.0:  # the common case: a finite float
        return value
    if value is None:
        if required:
            raise _Bad(Reason.missing_field, f"'{key}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(Reason.bad_type, f"'{key}' must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a double
        number = math.inf
    if not math.isfinite(number):
        raise _Bad(Reason.not_finite, f"'{key}' is not finite")
    return number


def _integer(obj: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = obj.get(key)
    if type(value) is int and -_INT_LIMIT < value < _INT_LIMIT:  # the common case
        return value
    if value is None:
        if required:
            raise _Bad(Reason.missing_field, f"'{key}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(Reason.bad_type, f"'{key}' must be an integer, not {type(value).__name__}")
    if not -_INT_LIMIT < value < _INT_LIMIT:
        raise _Bad(Reason.bad_type, f"'{key}' is out of the integer range")
    return value


def _reading(
    obj: Any, defaults: dict[str, Any], received_at: datetime, latest: datetime, earliest: datetime
) -> WireReading:
    """One reading; ``latest`` and ``earliest`` are the accepted times (computed once per message)."""
    if not isinstance(obj, dict):
        raise _Bad(Reason.not_an_object, f"reading is {type(obj).__name__}")
    merged = {**defaults, **obj} if defaults else obj
    seq = _integer(merged, "seq", required=True)
    if seq is not None and seq < 0:
        raise _Bad(Reason.bad_type, "'seq' must not be negative")
    level = _number(merged, "level", required=True)
    stamp = _number(merged, "t")
    age = _number(merged, "age")
    if stamp is None and age is None:
        raise _Bad(Reason.missing_field, "a reading needs 't' (Unix seconds) or 'age' (seconds)")
    clock_unset = stamp is None
    try:
        if stamp is not None:
            time = datetime.fromtimestamp(stamp, UTC)
        else:
            assert age is not None
            if age < 0:
                raise _Bad(Reason.bad_type, "'age' must not be negative")
            time = received_at - timedelta(seconds=age)
    except (OverflowError, OSError, ValueError):
        raise _Bad(Reason.bad_type, "time is out of range") from None
    if time > latest:
        raise _Bad(Reason.future_time, f"{time.isoformat()} is ahead of the server clock")
    if time < earliest:
        raise _Bad(Reason.too_old, f"{time.isoformat()} is more than a year old")
    rssi = _integer(merged, "rssi")
    quality = _integer(merged, "q") or 0
    if not 0 <= quality < 2**15:
        raise _Bad(Reason.bad_type, "'q' must be a small non-negative bit set")
    assert seq is not None and level is not None
    return WireReading(
        seq, time, level, _number(merged, "dist"), _number(merged, "bat"), rssi, quality, clock_unset
    )


def decode_readings(
    payload: bytes, *, received_at: datetime, max_bytes: int = 65_536
) -> DecodedBatch | Rejection:
    """Decode a ``reading`` message: either a batch (some readings may be rejected
    one by one) or a rejection of the whole message. Never raises."""
    latest, earliest = received_at + MAX_FUTURE, received_at - MAX_AGE
    try:
        document = _load(payload, max_bytes)
        batch = document.get("r")
        if batch is None:
            return DecodedBatch(readings=(_reading(document, {}, received_at, latest, earliest),))
        if not isinstance(batch, list):
            raise _Bad(Reason.bad_type, "'r' must be a list of readings")
        if not batch:
            raise _Bad(Reason.empty_batch, "'r' is empty")
        if len(batch) > MAX_BATCH:
            raise _Bad(Reason.batch_too_large, f"{len(batch)} readings > {MAX_BATCH}")
        defaults = {k: document[k] for k in ("bat", "rssi") if k in document}
    except _Bad as bad:
        return Rejection(bad.reason, bad.detail)
    readings: list[WireReading] = []
    rejections: list[Rejection] = []
    for index, item in enumerate(batch):
        try:
            readings.append(_reading(item, defaults, received_at, latest, earliest))
        except _Bad as bad:
            rejections.append(Rejection(bad.reason, bad.detail, index))
    return DecodedBatch(readings=tuple(readings), rejections=tuple(rejections))


def _compact(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def encode_reading(
    *,
    seq: int,
    level_m: float,
    time: datetime | None = None,
    age_s: float | None = None,
    distance_m: float | None = None,
    battery_v: float | None = None,
    rssi_dbm: int | None = None,
    quality: int = 0,
) -> dict[str, Any]:
    """One reading as a dict for :func:`encode_batch` (or, with ``"v"``, alone)."""
    item: dict[str, Any] = {"seq": seq, "level": round(level_m, 4)}
    if time is not None:
        item["t"] = round(time.timestamp(), 3)
    elif age_s is not None:
        item["age"] = round(age_s, 1)
    if distance_m is not None:
        item["dist"] = round(distance_m, 4)
    if battery_v is not None:
        item["bat"] = round(battery_v, 2)
    if rssi_dbm is not None:
        item["rssi"] = rssi_dbm
    if quality:
        item["q"] = quality
    return item


def encode_batch(readings: list[dict[str, Any]]) -> bytes:
    if len(readings) == 1:
        return _compact({"v": SCHEMA_VERSION, **readings[0]})
    return _compact({"v": SCHEMA_VERSION, "r": readings})


@dataclass(frozen=True, slots=True)
class Status:
    """A device's retained status. ``online=False`` is also its last will."""

    online: bool
    firmware: str | None = None
    battery_v: float | None = None
    rssi_dbm: int | None = None
    uptime_s: int | None = None
    buffered: int | None = None
    dropped: int | None = None
    config_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_STATUS_FIELDS = {
    "fw": "firmware",
    "bat": "battery_v",
    "rssi": "rssi_dbm",
    "up": "uptime_s",
    "buf": "buffered",
    "drop": "dropped",
    "cfg": "config_version",
}


def encode_status(status: Status) -> bytes:
    document: dict[str, Any] = {"v": SCHEMA_VERSION, "online": status.online}
    for wire, attr in _STATUS_FIELDS.items():
        value = getattr(status, attr)
        if value is not None:
            document[wire] = value
    document.update(status.extra)
    return _compact(document)


def decode_status(payload: bytes, *, max_bytes: int = 8192) -> Status | Rejection:
    try:
        document = _load(payload, max_bytes)
        online = document.get("online")
        if not isinstance(online, bool):
            raise _Bad(Reason.missing_field, "'online' must be true or false")
        values: dict[str, Any] = {}
        for wire, attr in _STATUS_FIELDS.items():
            if wire == "fw":
                firmware = document.get("fw")
                if firmware is not None and not isinstance(firmware, str):
                    raise _Bad(Reason.bad_type, "'fw' must be a string")
                values[attr] = firmware[:40] if firmware else None
            elif wire == "bat":
                values[attr] = _number(document, wire)
            else:
                values[attr] = _integer(document, wire)
    except _Bad as bad:
        return Rejection(bad.reason, bad.detail)
    extra = {k: v for k, v in document.items() if k not in _STATUS_FIELDS and k not in {"v", "online"}}
    return Status(online=online, extra=extra, **values)


OFFLINE_WILL = encode_status(Status(online=False))


def encode_ack(seq: int, now: datetime | None = None) -> bytes:
    """The acknowledgement watermark: the highest sequence number stored, and the
    server's clock (``t``, Unix seconds) for gauges whose NTP is unreachable."""
    if now is None:
        return _compact({"v": SCHEMA_VERSION, "seq": seq})
    return _compact({"v": SCHEMA_VERSION, "seq": seq, "t": int(now.timestamp())})


def encode_config(version: int, values: dict[str, Any]) -> bytes:
    return _compact({"v": SCHEMA_VERSION, "cfg": version, **values})
