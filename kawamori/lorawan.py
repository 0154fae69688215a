"""Gauges on LoRaWAN, through an existing network server: the compact payload, the
network servers' MQTT events and downlinks. Pure functions, bytes in and values or a
rejection out; they never raise on any input.

A LoRaWAN gauge sends its reading as one uplink on ``FPORT_READING``, 11 bytes
(AS923 with the 400-ms dwell time Japan requires allows 11 bytes at DR2), big-endian::

    0      version (1)
    1–4    seq, unsigned: the same never-reused number as on MQTT
    5–7    level in mm, signed 24 bit (±8,388 m)
    8      battery: (mV − 2000) / 10, 0 = unknown (2.01–4.55 V)
    9      quality flags (``kawamori.model.Quality``: 1 out of range, 2 few samples, 4 sensor error)
    10     age in minutes (0–255): how long before the uplink the reading was taken

Configuration goes down on ``FPORT_CONFIG`` (≤ 11 bytes too): version, ``cfg`` (16 bit,
grows with every change) and up to two settings, each a key number and a signed 24-bit
value in the unit of ``CONFIG_KEYS``. A downlink changes only the keys it names.

The network servers publish each uplink to MQTT (ChirpStack v4's MQTT integration on
``application/<application id>/device/<DevEUI>/event/up``; The Things Stack v3's MQTT
server on ``v3/<application id>[@<tenant>]/devices/<device id>/up``); ``parse_event``
turns either into an :class:`Uplink`. ``firmware/lorawan/codec.js`` is the same codec
for the network server's payload formatter (LoRaWAN Payload Codec API).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime

from kawamori.contract import Reason, Rejection

VERSION = 1
FPORT_READING = 1
FPORT_CONFIG = 2
PAYLOAD_SIZE = 11
MAX_DOWNLINK = 11
LEVEL_LIMIT_MM = 2**23 - 1
SEQ_LIMIT = 2**32 - 1
SERVERS = ("chirpstack", "tts")

# downlink key number → (setting, unit multiplier from the firmware's value to the wire's)
CONFIG_KEYS: dict[int, tuple[str, int]] = {
    1: ("slow_s", 1),
    2: ("fast_s", 1),
    3: ("send_s", 1),
    4: ("fast_on_m", 1000),
    5: ("fast_off_m", 1000),
    6: ("mount_m", 1000),
    7: ("rise_m_h", 1000),
    8: ("samples", 1),
    9: ("burst_s", 1),
    10: ("health_s", 1),
}
KEY_NUMBERS = {name: number for number, (name, _) in CONFIG_KEYS.items()}

# topic filters the ingest workers subscribe to (the network server publishes there)
CHIRPSTACK_UP = "application/+/device/+/event/up"
TTS_UP = "v3/+/devices/+/up"
UP_FILTERS = (CHIRPSTACK_UP, TTS_UP)
# where a downlink is queued
CHIRPSTACK_DOWN = "application/{application}/device/{dev_eui}/command/down"
TTS_DOWN = "v3/{application}/devices/{device}/down/push"

_CHIRPSTACK_TOPIC = re.compile(r"application/[^/]+/device/(?P<eui>[0-9A-Fa-f]{16})/event/up")
_TTS_TOPIC = re.compile(r"v3/[^/]+/devices/[^/]+/up")
_EUI = re.compile(r"[0-9A-Fa-f]{16}")


@dataclass(frozen=True, slots=True)
class Reading:
    seq: int
    level_mm: int
    battery_mv: int | None
    quality: int
    age_min: int


@dataclass(frozen=True, slots=True)
class Uplink:
    server: str
    dev_eui: str  # 16 upper-case hex digits
    f_port: int
    f_cnt: int
    payload: bytes
    received_at: datetime | None  # the network server's time, if it gave one


def encode_reading(reading: Reading) -> bytes:
    if not 0 <= reading.seq <= SEQ_LIMIT:
        raise ValueError(f"seq {reading.seq} does not fit 32 bits")
    if not -LEVEL_LIMIT_MM <= reading.level_mm <= LEVEL_LIMIT_MM:
        raise ValueError(f"level {reading.level_mm} mm does not fit 24 bits")
    battery = 0
    if reading.battery_mv is not None:
        battery = max(1, min(255, (reading.battery_mv - 2000 + 5) // 10))
    return (
        bytes((VERSION,))
        + reading.seq.to_bytes(4, "big")
        + reading.level_mm.to_bytes(3, "big", signed=True)
        + bytes((battery, reading.quality & 0xFF, max(0, min(255, reading.age_min))))
    )


def decode_reading(data: bytes) -> Reading | Rejection:
    if len(data) != PAYLOAD_SIZE:
        return Rejection(Reason.unknown_schema, f"a reading is {PAYLOAD_SIZE} bytes, not {len(data)}")
    if data[0] != VERSION:
        return Rejection(Reason.unknown_schema, f"unknown payload version {data[0]}")
    return Reading(
        seq=int.from_bytes(data[1:5], "big"),
        level_mm=int.from_bytes(data[5:8], "big", signed=True),
        battery_mv=2000 + 10 * data[8] if data[8] else None,
        quality=data[9],
        age_min=data[10],
    )


def encode_config(cfg: int, values: dict[str, float]) -> bytes:
    """A configuration downlink: ``cfg`` and up to two settings of ``CONFIG_KEYS``."""
    if not 0 <= cfg <= 0xFFFF:
        raise ValueError(f"cfg {cfg} does not fit 16 bits")
    if len(values) > (MAX_DOWNLINK - 3) // 4:
        raise ValueError("a downlink carries at most two settings; send the rest in the next")
    out = bytes((VERSION,)) + cfg.to_bytes(2, "big")
    for name, value in values.items():
        if name not in KEY_NUMBERS:
            raise ValueError(f"{name!r} cannot be set over LoRaWAN")
        number = KEY_NUMBERS[name]
        wire = round(value * CONFIG_KEYS[number][1])
        if not -LEVEL_LIMIT_MM <= wire <= LEVEL_LIMIT_MM:
            raise ValueError(f"{name}={value} does not fit 24 bits")
        out += bytes((number,)) + wire.to_bytes(3, "big", signed=True)
    return out


def decode_config(data: bytes) -> tuple[int, dict[str, float]] | Rejection:
    if len(data) < 3 or (len(data) - 3) % 4 or data[0] != VERSION:
        return Rejection(Reason.unknown_schema, "not a configuration downlink v1")
    values: dict[str, float] = {}
    for at in range(3, len(data), 4):
        number = data[at]
        if number not in CONFIG_KEYS:
            return Rejection(Reason.unknown_schema, f"unknown setting number {number}")
        name, scale = CONFIG_KEYS[number]
        raw = int.from_bytes(data[at + 1 : at + 4], "big", signed=True)
        values[name] = raw / scale if scale != 1 else raw
    return int.from_bytes(data[1:3], "big"), values


# -- the network servers' events -------------------------------------------------------
def _time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    # RFC 3339 with up to nanoseconds ("2022-07-18T09:34:15.775023242+00:00", "…Z")
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if match is None:
        return None
    stamp, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    try:
        return datetime.fromisoformat(f"{stamp}.{micro}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        return None


def _uint(document: dict, key: str) -> int | Rejection:
    value = document.get(key, 0)  # both servers leave zero out of their JSON
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return Rejection(Reason.bad_type, f"{key!r} must be a non-negative integer")
    return value


def _payload(text: object, key: str) -> bytes | Rejection:
    if text is None:
        return b""
    if not isinstance(text, str):
        return Rejection(Reason.bad_type, f"{key!r} must be base64")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return Rejection(Reason.bad_type, f"{key!r} is not valid base64")


def parse_event(topic: str, payload: bytes) -> Uplink | Rejection | None:
    """An uplink event of ChirpStack v4 or The Things Stack v3; None when ``topic`` is
    neither's uplink topic (not a LoRaWAN message at all)."""
    if not topic.startswith(("application/", "v3/")):  # the common case: a gauge's own topic
        return None
    chirpstack = _CHIRPSTACK_TOPIC.fullmatch(topic)
    if chirpstack is None and _TTS_TOPIC.fullmatch(topic) is None:
        return None
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return Rejection(Reason.invalid_json, "the network server's event is not JSON")
    if not isinstance(document, dict):
        return Rejection(Reason.not_an_object, "the network server's event is not a JSON object")
    if chirpstack is not None:
        info = document.get("deviceInfo")
        eui = info.get("devEui") if isinstance(info, dict) else None
        if not isinstance(eui, str) or not _EUI.fullmatch(eui):
            return Rejection(Reason.missing_field, "deviceInfo.devEui missing or not 16 hex digits")
        if eui.upper() != chirpstack["eui"].upper():
            return Rejection(Reason.bad_topic, f"the topic names {chirpstack['eui']}, the event {eui}")
        server, body, data_key, time = "chirpstack", document, "data", document.get("time")
        port_key, count_key = "fPort", "fCnt"
    else:
        ids = document.get("end_device_ids")
        body = document.get("uplink_message")
        eui = ids.get("dev_eui") if isinstance(ids, dict) else None
        if not isinstance(body, dict):
            return Rejection(Reason.missing_field, "no uplink_message")
        if not isinstance(eui, str) or not _EUI.fullmatch(eui):
            return Rejection(Reason.missing_field, "end_device_ids.dev_eui missing or not 16 hex digits")
        server, data_key = "tts", "frm_payload"
        time = body.get("received_at", document.get("received_at"))
        port_key, count_key = "f_port", "f_cnt"
    port = _uint(body, port_key)
    count = _uint(body, count_key)
    data = _payload(body.get(data_key), data_key)
    for value in (port, count, data):
        if isinstance(value, Rejection):
            return value
    assert isinstance(port, int) and isinstance(count, int) and isinstance(data, bytes)
    return Uplink(server, eui.upper(), port, count, data, _time(time))


def downlink(
    server: str, *, application: str, dev_eui: str, device: str | None, data: bytes
) -> tuple[str, bytes]:
    """The topic and JSON a downlink is queued with on ``server``'s MQTT."""
    encoded = base64.b64encode(data).decode()
    if server == "chirpstack":
        topic = CHIRPSTACK_DOWN.format(application=application, dev_eui=dev_eui.lower())
        body = {"devEui": dev_eui.lower(), "confirmed": False, "fPort": FPORT_CONFIG, "data": encoded}
    elif server == "tts":
        if not device:
            raise ValueError("The Things Stack addresses a downlink to its own device id")
        topic = TTS_DOWN.format(application=application, device=device)
        body = {"downlinks": [{"f_port": FPORT_CONFIG, "frm_payload": encoded, "priority": "NORMAL"}]}
    else:
        raise ValueError(f"unknown network server {server!r} (chirpstack or tts)")
    return topic, json.dumps(body, separators=(",", ":")).encode()
