"""A fleet of virtual gauges publishing over MQTT, each with its own identity
(its device id and password), status with a last will, and QoS 1 readings."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from kawamori import contract
from kawamori.model import Device, Station
from kawamori.settings import MqttEndpoint
from simulator.hydrograph import Event, distance_for, level_at
from simulator.mqtt import Connection, MqttError, Will
from simulator.typhoon import TyphoonRiver

log = structlog.get_logger(__name__)

FIRMWARE = "sim-0.1.0"


@dataclass(slots=True)
class FleetStats:
    published: int = 0
    failed: int = 0
    devices: int = 0
    per_device: dict[str, int] = field(default_factory=dict)


def device_url(broker_url: str, device_id: str, password: str) -> str:
    endpoint = MqttEndpoint(broker_url)
    scheme = "mqtts" if endpoint.tls else "mqtt"
    return f"{scheme}://{device_id}:{password}@{endpoint.host}:{endpoint.port}"


class VirtualGauge:
    def __init__(self, device: Device, station: Station, url: str, seed: int) -> None:
        self.device = device
        self.station = station
        self.rng = random.Random(seed)
        self.battery_v = 4.1 - self.rng.random() * 0.3
        self.connection = Connection(
            url,
            f"{device.id}",
            will=Will(contract.topic(device.id, "status"), contract.OFFLINE_WILL),
            persistent=False,
        )

    def start(self) -> None:
        self.connection.start(wait_s=15)
        status = contract.Status(online=True, firmware=FIRMWARE, battery_v=round(self.battery_v, 2))
        self.connection.publish(
            contract.topic(self.device.id, "status"), contract.encode_status(status), retain=True
        )

    def reading(self, when: datetime, rise_m: float = 0.0) -> bytes:
        """The quiet river (base level, daily swing, noise) plus ``rise_m`` of flood."""
        quiet = level_at(self.station, when, rng=self.rng)
        level = min(max(quiet + rise_m, self.station.level_min_m), self.station.level_max_m)
        self.battery_v = max(3.3, self.battery_v - 0.00001)
        item = contract.encode_reading(
            seq=int(when.timestamp() * 10),  # strictly increasing at ≥ 0.1 s between readings
            time=when,
            level_m=level,
            distance_m=distance_for(self.station, level),
            battery_v=self.battery_v,
            rssi_dbm=-60 - self.rng.randint(0, 25),
        )
        return contract.encode_batch([item])

    def publish(self, when: datetime, rise_m: float = 0.0) -> None:
        self.connection.publish(
            contract.topic(self.device.id, "reading"), self.reading(when, rise_m), wait_s=10
        )

    def stop(self) -> None:
        self.connection.publish(
            contract.topic(self.device.id, "status"), contract.OFFLINE_WILL, retain=True, wait_s=5
        )
        self.connection.stop()


def run_fleet(
    stations: list[Station],
    devices: list[Device],
    *,
    broker_url: str,
    password_for: Callable[[str], str],
    interval_s: float,
    events: tuple[Event, ...] | Callable[[], tuple[Event, ...]] = (),
    count: int | None = None,
    stopping: threading.Event | None = None,
    on_round: Callable[[int], None] | None = None,
) -> FleetStats:
    """Publish a reading from every device each ``interval_s`` until stopped (or for
    ``count`` rounds). Time stamps are the wall clock. ``events`` (typhoons, their
    flood computed by :mod:`simulator.typhoon`'s hydrological model) may be a callable,
    asked each round (so a running fleet can be steered)."""
    current_events = events if callable(events) else (lambda: events)
    stopping = stopping or threading.Event()
    by_id = {s.id: s for s in stations}
    gauges = [
        VirtualGauge(
            device,
            by_id[device.station_id],
            device_url(broker_url, device.id, password_for(device.id)),
            seed=index,
        )
        for index, device in enumerate(devices)
        if device.station_id in by_id
    ]
    river = TyphoonRiver(stations)
    stats = FleetStats(devices=len(gauges))
    for gauge in gauges:
        gauge.start()
    log.info("simulator.started", devices=len(gauges), interval_s=interval_s)
    rounds = 0
    try:
        next_round = time.monotonic()
        while not stopping.is_set() and (count is None or rounds < count):
            now = datetime.now(UTC)
            rises = river.rise(current_events(), now)
            for gauge in gauges:
                try:
                    gauge.publish(now, rises[gauge.station.id])
                except MqttError as error:
                    stats.failed += 1
                    log.warning("simulator.publish_failed", device=gauge.device.id, error=str(error))
                    continue
                stats.published += 1
                stats.per_device[gauge.device.id] = stats.per_device.get(gauge.device.id, 0) + 1
            rounds += 1
            if on_round is not None:
                on_round(rounds)
            next_round += interval_s
            stopping.wait(max(0.0, next_round - time.monotonic()))
    finally:
        for gauge in gauges:
            try:
                gauge.stop()
            except MqttError:
                log.warning("simulator.stop_failed", device=gauge.device.id)
    return stats
