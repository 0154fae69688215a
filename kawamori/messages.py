"""What an MQTT client hands over, whichever client it is (the services' own in
:mod:`kawamori.mqtt_direct`, the virtual gauges' paho one in :mod:`simulator.mqtt`): no
MQTT library here, so that pure code (``ingest.plan``) can take messages without one."""

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
