"""What an MQTT client hands over, whichever client it is (the paho one in
:mod:`kawamori.mqtt`, ingest's own in :mod:`kawamori.mqtt_direct`): no MQTT library
here, so that pure code (``ingest.plan``) can take messages without importing one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class MqttError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    received_at: datetime = field(compare=False)


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True
