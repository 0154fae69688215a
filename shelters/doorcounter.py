"""Door counters: optional people counters at a shelter's entrance that publish over
MQTT through the same device pipeline (same broker, one account and ACL per device).
Pure decoder; :func:`shelters.occupancy.apply_door_count` stores the result.

Topic ``kawamori/v1/<device>/count`` (QoS 1, not retained). Payload (JSON)::

    {"v": 1, "seq": 812, "t": 1788912000.5, "in": 3, "out": 1}

``seq`` increases with every message the device sends (kept across reboots), ``t`` is
Unix seconds, ``in`` / ``out`` are the people who passed since the previous message.
The stored event's id is derived from the device and ``seq`` (UUID 5), so a message
delivered twice is counted once. Rejections use the contract's reasons, so ingest
can dead-letter them like any other message.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kawamori.contract import PREFIX, SCHEMA_VERSION, Reason, Rejection

TOPIC = re.compile(rf"{PREFIX}/(?P<device>[A-Za-z0-9][A-Za-z0-9_.-]{{0,63}})/count")
NAMESPACE = uuid.UUID("5b0c2a52-8f4e-4c53-9d0e-6b61776d6f72")
MAX_PEOPLE = 1000
MAX_FUTURE = timedelta(minutes=10)
MAX_AGE = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DoorCount:
    device_id: str
    seq: int
    time: datetime
    entered: int
    left: int

    @property
    def delta(self) -> int:
        return self.entered - self.left

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"{self.device_id}/{self.seq}")


def count_topic(device_id: str) -> str:
    return f"{PREFIX}/{device_id}/count"


def encode(*, seq: int, time: datetime, entered: int, left: int) -> bytes:
    document = {"v": SCHEMA_VERSION, "seq": seq, "t": round(time.timestamp(), 3), "in": entered, "out": left}
    return json.dumps(document, separators=(",", ":")).encode()


def _whole(document: dict, key: str, low: int, high: int) -> int:
    value = document.get(key)
    if value is None:
        raise _Bad(Reason.missing_field, f"'{key}' is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(Reason.bad_type, f"'{key}' must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise _Bad(Reason.bad_type, f"'{key}' must be between {low} and {high}")
    return value


class _Bad(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason, self.detail = reason, detail


def decode(
    topic: str, payload: bytes, *, received_at: datetime, max_bytes: int = 4096
) -> DoorCount | Rejection:
    """A door-counter message, or why it is rejected. Never raises."""
    try:
        match = TOPIC.fullmatch(topic)
        if match is None:
            raise _Bad(Reason.bad_topic, f"{topic!r} is not a count topic")
        if len(payload) > max_bytes:
            raise _Bad(Reason.oversized, f"{len(payload)} bytes > {max_bytes}")
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError) as error:
            raise _Bad(Reason.invalid_json, str(error)[:200]) from None
        if not isinstance(document, dict):
            raise _Bad(Reason.not_an_object, f"top level is {type(document).__name__}")
        version = document.get("v")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise _Bad(Reason.unknown_schema, f"v={version!r}, this server speaks v={SCHEMA_VERSION}")
        seq = _whole(document, "seq", 0, 2**62)
        entered = _whole(document, "in", 0, MAX_PEOPLE)
        left = _whole(document, "out", 0, MAX_PEOPLE)
        stamp = document.get("t")
        if stamp is None:
            raise _Bad(Reason.missing_field, "'t' (Unix seconds) is required")
        if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not math.isfinite(stamp):
            raise _Bad(Reason.bad_type, "'t' must be a number of Unix seconds")
        try:
            time = datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            raise _Bad(Reason.bad_type, "'t' is out of range") from None
        if time > received_at + MAX_FUTURE:
            raise _Bad(Reason.future_time, f"{time.isoformat()} is ahead of the server clock")
        if time < received_at - MAX_AGE:
            raise _Bad(Reason.too_old, f"{time.isoformat()} is more than 7 days old")
    except _Bad as bad:
        return Rejection(bad.reason, bad.detail)
    return DoorCount(match["device"], seq, min(time, received_at), entered, left)
