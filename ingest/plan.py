"""Pure ingest logic: turn a batch of MQTT messages into what to write.

No I/O here. :func:`plan_batch` takes the messages, what is known about each
device and the current time, and returns rows for ``readings``, rows for
``dead_letters`` and device status updates. Every message ends up in exactly
one of those places (a batch message may split between readings and dead letters).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from kawamori import contract
from kawamori.contract import DEAD_LETTER_PAYLOAD_LIMIT, Reason, Rejection
from kawamori.messages import Message
from kawamori.model import Quality

INSTALL_GRACE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    station_id: str | None
    installed_at: datetime
    retired: bool
    level_min_m: float
    level_max_m: float


class ReadingRow(NamedTuple):
    """One row for ``readings``; a tuple in the order ``ingest.store`` copies it."""

    station_id: str
    time: datetime
    level_m: float
    device_id: str
    seq: int
    distance_m: float | None
    battery_v: float | None
    rssi_dbm: int | None
    quality: int
    received_at: datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    device_id: str | None
    reason: Reason
    detail: str
    payload: bytes
    payload_size: int
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    device_id: str
    status: contract.Status
    received_at: datetime


@dataclass(slots=True)
class Plan:
    readings: list[ReadingRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    # highest sequence number handled per device (stored, duplicate or dead-lettered)
    watermarks: dict[str, int] = field(default_factory=dict)
    # the message each row of ``readings`` came from (for a dead letter the database finds)
    sources: list[Message] = field(default_factory=list)
    duplicates: int = 0  # readings repeated within the batch itself (same device, seq and time)


def _dead(message: Message, device_id: str | None, rejection: Rejection) -> DeadLetter:
    detail = rejection.detail
    if rejection.index is not None:
        detail = f"reading #{rejection.index}: {detail}"
    return DeadLetter(
        topic=message.topic[:256],
        device_id=device_id,
        reason=rejection.reason,
        detail=detail[:500],
        payload=message.payload[:DEAD_LETTER_PAYLOAD_LIMIT],
        payload_size=len(message.payload),
        received_at=message.received_at,
    )


def check_reading(device: DeviceInfo, reading: contract.WireReading) -> Rejection | None:
    """Checks that need the device's station: physical range and installation time."""
    if not device.level_min_m <= reading.level_m <= device.level_max_m:
        return Rejection(
            Reason.out_of_range,
            f"level {reading.level_m} m is outside {device.level_min_m}–{device.level_max_m} m",
        )
    if reading.time < device.installed_at - INSTALL_GRACE:
        return Rejection(
            Reason.before_install,
            f"{reading.time.isoformat()} is before installation at {device.installed_at.isoformat()}",
        )
    return None


def _reused(seq: int, first: datetime) -> str:
    return f"seq {seq} was already sent with time {first.isoformat()}"


def plan_batch(
    messages: Sequence[Message], devices: Mapping[str, DeviceInfo], *, max_payload_bytes: int
) -> Plan:
    plan = Plan()
    seen: dict[tuple[str, int], datetime] = {}  # (device, seq) → time, within this batch
    for message in messages:
        parsed = contract.parse_topic(message.topic)
        if parsed is None:
            plan.dead_letters.append(_dead(message, None, Rejection(Reason.bad_topic, "not a v1 topic")))
            continue
        device_id, kind = parsed
        device = devices.get(device_id)
        if device is None:
            plan.dead_letters.append(
                _dead(message, device_id, Rejection(Reason.unknown_device, f"{device_id} is not registered"))
            )
            continue
        if kind is contract.Kind.status:
            status = contract.decode_status(message.payload)
            if isinstance(status, Rejection):
                plan.dead_letters.append(_dead(message, device_id, status))
            else:
                plan.statuses.append(StatusUpdate(device_id, status, message.received_at))
            continue
        if kind is not contract.Kind.reading:
            plan.dead_letters.append(
                _dead(message, device_id, Rejection(Reason.bad_topic, f"devices do not send {kind}"))
            )
            continue
        if device.station_id is None or device.retired:
            plan.dead_letters.append(
                _dead(message, device_id, Rejection(Reason.unassigned_device, "device has no station"))
            )
            continue
        decoded = contract.decode_readings(
            message.payload, received_at=message.received_at, max_bytes=max_payload_bytes
        )
        if isinstance(decoded, Rejection):
            plan.dead_letters.append(_dead(message, device_id, decoded))
            continue
        plan.dead_letters.extend(_dead(message, device_id, r) for r in decoded.rejections)
        watermark = plan.watermarks.get(device_id, -1)
        level_min, level_max = device.level_min_m, device.level_max_m
        earliest = device.installed_at - INSTALL_GRACE
        for reading in decoded.readings:
            if reading.seq > watermark:
                watermark = reading.seq
            # the common case inline; check_reading says what is wrong otherwise
            if not (level_min <= reading.level_m <= level_max and reading.time >= earliest):
                problem = check_reading(device, reading)
                assert problem is not None
                plan.dead_letters.append(
                    _dead(
                        message, device_id, Rejection(problem.reason, f"seq {reading.seq}: {problem.detail}")
                    )
                )
                continue
            key = (device_id, reading.seq)
            first = seen.get(key)
            if first is not None:  # the seq again within this batch
                if first == reading.time:
                    plan.duplicates += 1
                else:
                    plan.dead_letters.append(
                        _dead(message, device_id, Rejection(Reason.seq_reused, _reused(reading.seq, first)))
                    )
                continue
            seen[key] = reading.time
            quality = reading.quality
            if reading.clock_unset:
                quality |= Quality.CLOCK_UNSET
            plan.readings.append(
                ReadingRow(
                    device.station_id,
                    reading.time,
                    reading.level_m,
                    device_id,
                    reading.seq,
                    reading.distance_m,
                    reading.battery_v,
                    reading.rssi_dbm,
                    int(quality),
                    message.received_at,
                )
            )
            plan.sources.append(message)
        if watermark >= 0:
            plan.watermarks[device_id] = watermark
    return plan
