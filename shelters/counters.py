"""The door-counter listener: ``kawamori shelters listen``.

Door counters publish on ``kawamori/v1/<device>/count`` with their own broker
account, like gauges. This process takes those messages from a persistent shared
subscription, stores each as a count event of the counter's shelter (once, however
often it is delivered) or as a dead letter with the reason, and acknowledges the
message only after that transaction has committed. While PostgreSQL is unavailable it
acknowledges nothing and retries.
"""

from __future__ import annotations

import threading
import time

import psycopg
import structlog

from kawamori import contract
from kawamori.broker_auth import service_url
from kawamori.db import connect, insert_dead_letters
from kawamori.messages import Message, MqttError
from kawamori.mqtt_direct import DirectConnection
from kawamori.waiting import StopWaiting, until_ready
from shelters.doorcounter import decode
from shelters.errors import UnassignedCounter
from shelters.occupancy import apply_door_count

log = structlog.get_logger(__name__)

SHARE_GROUP = "kawamori-shelters"


class CounterListener:
    def __init__(self, database_url: str, mqtt_url: str, client_id: str) -> None:
        self.database_url = database_url
        self.pending: list[Message] = []
        self.stopping = threading.Event()
        self.stored = 0
        self.rejected = 0
        self._conn: psycopg.Connection | None = None
        self.mqtt = DirectConnection(
            service_url(mqtt_url, client_id),  # its own broker account, named as its client id
            client_id,
            subscriptions=[f"$share/{SHARE_GROUP}/{contract.subscription('count')}"],
            on_message=self.pending.append,
            persistent=True,
        )

    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.database_url, application_name="kawamori-shelters-listen")
        return self._conn

    def store(self, conn: psycopg.Connection, message: Message) -> bool:
        """Store one message (count event or dead letter); True if it was counted."""
        parsed = contract.parse_topic(message.topic)
        device_id = parsed[0] if parsed else None
        decoded = decode(message.topic, message.payload, received_at=message.received_at)
        if isinstance(decoded, contract.Rejection):
            reason, detail = decoded.reason, decoded.detail
        else:
            try:
                with conn.transaction():
                    apply_door_count(conn, decoded)
                return True
            except UnassignedCounter:
                reason, detail = contract.Reason.unassigned_device, f"{device_id} is not a door counter"
        with conn.transaction(), conn.cursor() as cur:
            insert_dead_letters(
                cur,
                [
                    (
                        message.received_at,
                        message.topic,
                        device_id,
                        reason.value,
                        detail,
                        message.payload,
                        len(message.payload),
                    )
                ],
            )
        return False

    def _handle(self, message: Message) -> None:
        delay = 0.2
        while True:
            try:
                counted = self.store(self._db(), message)
                break
            except psycopg.OperationalError as error:
                if self._conn is not None:
                    self._conn.close()
                log.warning("shelters.listen.database_unavailable", error=str(error)[:200], retry_in_s=delay)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    if self.stopping.is_set():
                        raise
                    self.mqtt.poll(0.2)
                delay = min(delay * 2, 10.0)
        self.mqtt.ack(message)  # only after commit
        if counted:
            self.stored += 1
        else:
            self.rejected += 1

    def run(self) -> None:
        try:  # started while the broker is down: wait for it
            until_ready(
                lambda: self.mqtt.open(wait_s=10), what="broker", errors=(MqttError,), stopping=self.stopping
            )
        except StopWaiting:
            return
        log.info("shelters.listen.started", client_id=self.mqtt.client_id)
        try:
            while not self.stopping.is_set():
                self.mqtt.poll(0.5)
                while self.pending and not self.stopping.is_set():
                    self._handle(self.pending.pop(0))
        except psycopg.OperationalError:
            if not self.stopping.is_set():
                raise
        finally:
            self.mqtt.close()
            if self._conn is not None:
                self._conn.close()
            log.info("shelters.listen.stopped", stored=self.stored, rejected=self.rejected)

    def stop(self) -> None:
        self.stopping.set()
