"""The ingest worker: MQTT in, PostgreSQL out, acknowledgements after commit.

The network thread puts messages in an inbox; this loop takes them in batches
(by count and age), plans them (pure), writes the plan in one transaction and
only then acknowledges the messages, in arrival order, and publishes each
device's acknowledgement watermark. While PostgreSQL is unavailable nothing is
acknowledged — the broker keeps the backlog — and the write is retried with backoff.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass

import psycopg
import structlog

from ingest.plan import DeviceInfo, plan_batch
from ingest.store import Written, load_devices, write_plan
from kawamori import contract
from kawamori.db import connect
from kawamori.mqtt import Connection, Inbox, Message

log = structlog.get_logger(__name__)

SHARE_GROUP = "kawamori-ingest"


@dataclass(frozen=True, slots=True)
class IngestConfig:
    database_url: str
    mqtt_url: str
    client_id: str
    max_batch: int = 500
    max_wait_s: float = 0.05
    max_payload_bytes: int = 65_536
    registry_refresh_s: float = 30.0


@dataclass(slots=True)
class Totals:
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0


class IngestWorker:
    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.inbox = Inbox()
        self.totals = Totals()
        self.stopping = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._devices: dict[str, DeviceInfo] = {}
        self._devices_loaded = 0.0
        self.mqtt = Connection(
            config.mqtt_url,
            config.client_id,
            subscriptions=[
                f"$share/{SHARE_GROUP}/{contract.subscription('reading')}",
                contract.subscription("status"),
            ],
            on_message=self.inbox.put,
            manual_ack=True,
            persistent=True,
        )

    # -- database ----------------------------------------------------------------------
    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.config.database_url, application_name="kawamori-ingest")
        return self._conn

    def _registry(self, messages: list[Message], *, force: bool = False) -> dict[str, DeviceInfo]:
        stale = time.monotonic() - self._devices_loaded > self.config.registry_refresh_s
        unknown = any(
            (parsed := contract.parse_topic(m.topic)) and parsed[0] not in self._devices for m in messages
        )
        if force or stale or unknown:
            self._devices = load_devices(self._db())
            self._devices_loaded = time.monotonic()
        return self._devices

    def _write(self, messages: list[Message]) -> Written:
        """Plan and write, retrying with capped exponential backoff until it commits."""
        delay = 0.2
        force = False
        while True:
            try:
                devices = self._registry(messages, force=force)
                plan = plan_batch(messages, devices, max_payload_bytes=self.config.max_payload_bytes)
                return write_plan(self._db(), plan)
            except psycopg.errors.IntegrityError:
                # the registry changed under us (e.g. a device was deleted): reload and re-plan
                log.warning("ingest.registry_changed")
                force = True
            except psycopg.OperationalError as error:
                log.warning("ingest.database_unavailable", error=str(error).strip()[:200], retry_in_s=delay)
                if self._conn is not None:
                    self._conn.close()
                if self.stopping.wait(delay * (0.5 + random.random())):
                    raise
                delay = min(delay * 2, 10.0)

    # -- loop --------------------------------------------------------------------------
    def handle(self, messages: list[Message]) -> Written:
        written = self._write(messages)
        for message in messages:  # arrival order
            self.mqtt.ack(message)
        for device_id, seq in written.watermarks.items():
            self.mqtt.publish(contract.topic(device_id, "ack"), contract.encode_ack(seq), retain=True)
        self.totals.messages += len(messages)
        self.totals.stored += written.stored
        self.totals.duplicates += written.duplicates
        self.totals.dead_letters += written.dead_letters
        if written.dead_letters:
            log.info("ingest.dead_letters", count=written.dead_letters)
        return written

    def run(self) -> None:
        self.mqtt.start(wait_s=30)
        log.info("ingest.started", client_id=self.config.client_id)
        last_report = time.monotonic()
        try:
            while not self.stopping.is_set():
                batch = self.inbox.take(max_items=self.config.max_batch, max_wait_s=self.config.max_wait_s)
                if batch:
                    self.handle(batch)
                if time.monotonic() - last_report > 60:
                    log.info("ingest.totals", **asdict(self.totals))
                    last_report = time.monotonic()
        except psycopg.OperationalError:
            if not self.stopping.is_set():
                raise
        finally:
            self.mqtt.stop()
            if self._conn is not None:
                self._conn.close()
            log.info("ingest.stopped", messages=self.totals.messages, stored=self.totals.stored)

    def stop(self) -> None:
        self.stopping.set()
