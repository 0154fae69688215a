"""LoRaWAN uplinks into the ingest pipeline: each network-server event (ChirpStack v4,
The Things Stack v3; :mod:`kawamori.lorawan`) becomes the ``reading`` message its gauge
would have sent over MQTT, so the same plan stores it exactly once per (device, seq)
and dead-letters what it cannot store. Pure: the DevEUI → device map is passed in.

The reading's time is the network server's receive time minus the payload's age (the
event's own time, so a replayed or redelivered event is the same reading again: a
duplicate, never a second one). An event that is not a reading (another port, no
payload, a DevEUI nobody provisioned, a payload that is not ours) is a dead letter.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta

from ingest.plan import DeadLetter, _dead
from kawamori import contract, lorawan
from kawamori.contract import Reason, Rejection
from kawamori.messages import Message


def reading_message(message: Message, uplink: lorawan.Uplink, device_id: str) -> Message | Rejection:
    """The contract ``reading`` message for one uplink of ``device_id``."""
    if uplink.f_port != lorawan.FPORT_READING or not uplink.payload:
        return Rejection(Reason.unknown_schema, f"fPort {uplink.f_port} with {len(uplink.payload)} bytes")
    reading = lorawan.decode_reading(uplink.payload)
    if isinstance(reading, Rejection):
        return reading
    heard = uplink.received_at or message.received_at
    taken = heard - timedelta(minutes=reading.age_min)
    document: dict[str, object] = {
        "v": contract.SCHEMA_VERSION,
        "seq": reading.seq,
        "t": round(taken.timestamp(), 3),
        "level": reading.level_mm / 1000,
        "q": reading.quality,
    }
    if reading.battery_mv is not None:
        document["bat"] = reading.battery_mv / 1000
    return dataclasses.replace(
        message,
        topic=contract.topic(device_id, "reading"),
        payload=json.dumps(document, separators=(",", ":")).encode(),
    )


def _lorawan(rejection: Rejection) -> Rejection:
    return Rejection(rejection.reason, f"LoRaWAN: {rejection.detail}")


def translate(
    messages: Sequence[Message], dev_euis: Mapping[str, str]
) -> tuple[list[Message], list[DeadLetter]]:
    """Messages with every LoRaWAN uplink replaced by its gauge's ``reading`` message
    (others unchanged, in order), and the dead letters of uplinks that are not one."""
    out: list[Message] = []
    dead: list[DeadLetter] = []
    for message in messages:
        uplink = lorawan.parse_event(message.topic, message.payload)
        if uplink is None:
            out.append(message)
            continue
        if isinstance(uplink, Rejection):
            dead.append(_dead(message, None, _lorawan(uplink)))
            continue
        device_id = dev_euis.get(uplink.dev_eui)
        if device_id is None:
            rejection = Rejection(Reason.unknown_device, f"DevEUI {uplink.dev_eui} is not provisioned")
            dead.append(_dead(message, None, _lorawan(rejection)))
            continue
        translated = reading_message(message, uplink, device_id)
        if isinstance(translated, Rejection):
            dead.append(_dead(message, device_id, _lorawan(translated)))
        else:
            out.append(translated)
    return out, dead
