"""The ingest worker: MQTT in, PostgreSQL out, acknowledgements after commit.

One thread drives everything. It reads every MQTT packet that is ready (far faster
than paho's own loop), collects messages into a batch (by count and age), plans the
batch (pure: ``ingest.plan``), writes it in one transaction (``ingest.store``) and
only then acknowledges the messages, in arrival order, and publishes each device's
acknowledgement watermark. While PostgreSQL is unavailable nothing is acknowledged —
the broker keeps the backlog — the write is retried with capped backoff, the
network is kept alive meanwhile, and ``/health`` answers 503.

Workers share the load through a shared subscription. Mosquitto keeps routing a
share of the messages to a worker's persistent session after that worker dies, until
the session ends; so workers heartbeat in ``ingest_workers`` and a live worker takes
over the session of one silent for ``dead_after_s``: it drains what was queued there
and ends that session. The delay of those messages is bounded by ``dead_after_s`` plus
one heartbeat.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import structlog

from ingest.lorawan import translate
from ingest.metrics import IngestMetrics, serve_health
from ingest.plan import DeadLetter, DeviceInfo, Plan, plan_batch
from ingest.store import Written, load_dev_euis, load_devices, write_plan
from kawamori import contract, lorawan
from kawamori.broker_auth import service_url
from kawamori.clock import REAL, Clock
from kawamori.contract import DEAD_LETTER_PAYLOAD_LIMIT, Reason
from kawamori.db import DEVICES_CHANNEL, connect
from kawamori.messages import Message, MqttError
from kawamori.mqtt_direct import DirectConnection
from kawamori.waiting import StopWaiting, until_ready

log = structlog.get_logger(__name__)

SHARE_GROUP = "kawamori-ingest"


def subscriptions() -> list[str]:
    """Readings (and LoRaWAN network servers' uplink events) shared between the workers;
    every worker sees every status."""
    shared = [contract.subscription("reading"), *lorawan.UP_FILTERS]
    return [*(f"$share/{SHARE_GROUP}/{topic}" for topic in shared), contract.subscription("status")]


@dataclass(frozen=True, slots=True)
class IngestConfig:
    database_url: str
    mqtt_url: str
    client_id: str
    max_batch: int = 1000  # messages per transaction
    # unacknowledged messages the broker may send us (MQTT 5 Receive Maximum): bounds memory;
    # more than max_batch lets the next batch arrive while one is being committed
    max_inflight: int = 2000
    max_wait_s: float = 0.05
    max_payload_bytes: int = 65_536
    registry_refresh_s: float = 30.0
    heartbeat_s: float = 5.0
    dead_after_s: float = 30.0
    metrics_port: int | None = None


class Stopped(Exception):
    """The worker was asked to stop while waiting for the database."""


class _Refused(Exception):
    """The database refused a batch's data (not its availability) more than once."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


REFUSALS_BEFORE_ISOLATING = 2
# rejections a device just registered or re-installed gets from a stale registry (not
# out_of_range: a faulty sensor sends those all the time, and station edits NOTIFY)
_REGISTRY_REASONS = frozenset({Reason.unknown_device, Reason.unassigned_device, Reason.before_install})
REGISTRY_RECHECK_S = 5.0  # at most this often for the rejections above


def _merge(parts: list[Written]) -> Written:
    watermarks: dict[str, int] = {}
    for part in parts:
        for device_id, seq in part.watermarks.items():
            watermarks[device_id] = max(seq, watermarks.get(device_id, seq))
    return Written(
        stored=sum(p.stored for p in parts),
        duplicates=sum(p.duplicates for p in parts),
        dead_letters=sum(p.dead_letters for p in parts),
        stations=tuple(sorted({s for p in parts for s in p.stations})),
        watermarks=watermarks,
        rejected=tuple(d for p in parts for d in p.rejected),
    )


class IngestWorker:
    """``clock`` stamps each message's receive time, which decides whether a reading's
    time stamp is plausible (not too far in the future) and is stored as ``received_at``;
    batching and liveness use the process's real monotonic clock whatever it is."""

    def __init__(
        self, config: IngestConfig, metrics: IngestMetrics | None = None, *, clock: Clock = REAL
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics or IngestMetrics()
        self.stopping = threading.Event()
        self.pending: list[Message] = []
        self._conn: psycopg.Connection | None = None
        self._devices: dict[str, DeviceInfo] = {}
        self._dev_euis: dict[str, str] = {}  # LoRaWAN DevEUI → device id
        self._devices_loaded = 0.0
        self._devices_changed = True
        self._database_ok_since: float | None = None
        self._last_heartbeat = 0.0
        self._reported_connected = False
        self._problem = "starting"
        self._batch_since: float | None = None  # real monotonic time the pending batch began
        self.mqtt = DirectConnection(
            service_url(config.mqtt_url, config.client_id),  # its own account (= client id)
            config.client_id,
            subscriptions=subscriptions(),
            on_message=self.pending.append,  # nothing else per message
            persistent=True,
            receive_maximum=config.max_inflight,
            clock=clock,
        )

    # -- health ------------------------------------------------------------------------
    def health(self) -> tuple[bool, str]:
        if not self.mqtt.connected.is_set():
            return False, "not connected to the broker"
        if self._problem:
            return False, self._problem
        return True, ""

    # -- database ----------------------------------------------------------------------
    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.config.database_url, application_name=self.config.client_id)
            self._conn.add_notify_handler(self._on_devices_changed)
            self._conn.execute(f"LISTEN {DEVICES_CHANNEL}".encode())
            self._devices_changed = True  # whatever changed while we were away
        return self._conn

    def _on_devices_changed(self, _notify: psycopg.Notify) -> None:
        self._devices_changed = True

    def _poll_notifications(self, conn: psycopg.Connection) -> None:
        """Read notifications that arrived since the last statement, without a round trip."""
        pgconn = conn.pgconn
        pgconn.consume_input()
        while pgconn.notifies() is not None:
            self._devices_changed = True

    def _drop_db(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._database_ok_since = None
        self.metrics.database_up.set(0)

    def _registry(self, messages: list[Message], *, force: bool = False) -> dict[str, DeviceInfo]:
        stale = time.monotonic() - self._devices_loaded > self.config.registry_refresh_s
        unknown = any(
            (parsed := contract.parse_topic(m.topic)) and parsed[0] not in self._devices for m in messages
        )
        conn = self._db()
        self._poll_notifications(conn)
        if self._devices_changed:  # NOTIFY from the devices/stations trigger (migration 0012)
            self._devices_changed = False
            force = True
        if force or stale or unknown:
            self._devices = load_devices(conn)
            self._dev_euis = load_dev_euis(conn)
            self._devices_loaded = time.monotonic()
        return self._devices

    def _plan(self, messages: list[Message], *, force: bool) -> Plan:
        plan = self._plan_with(messages, self._registry(messages, force=force))
        # a rejection that depends on the registry, from a cache a few seconds old: the
        # device may just have been registered or re-installed; look again once
        if time.monotonic() - self._devices_loaded > REGISTRY_RECHECK_S and any(
            d.reason in _REGISTRY_REASONS for d in plan.dead_letters
        ):
            plan = self._plan_with(messages, self._registry(messages, force=True))
        return plan

    def _plan_with(self, messages: list[Message], devices: dict[str, DeviceInfo]) -> Plan:
        """LoRaWAN uplinks become their gauges' readings first, then one plan for all."""
        readings, dead = translate(messages, self._dev_euis)
        plan = plan_batch(readings, devices, max_payload_bytes=self.config.max_payload_bytes)
        plan.dead_letters.extend(dead)
        return plan

    def _write(self, messages: list[Message], network: DirectConnection) -> Written:
        """Plan and write, retrying until it commits; a batch the database keeps refusing
        is split until the messages it refuses are found and dead-lettered."""
        try:
            return self._attempt(network, lambda force: self._plan(messages, force=force))
        except _Refused as refused:
            log.error("ingest.batch_refused", messages=len(messages), error=refused.error)
            return self._isolate(messages, network, refused.error)

    def _attempt(self, network: DirectConnection, make_plan: Callable[[bool], Plan]) -> Written:
        """Plan (``make_plan(force_registry_reload)``) and write one transaction. While the
        database is unavailable: retry with capped exponential backoff, keeping the network
        alive, acknowledging nothing.
        When it refuses the data (a constraint, a value out of range) it is re-planned
        with a fresh registry (a device deleted meanwhile) and, refused again, given up
        (:class:`_Refused`): retrying the same data at once would never end."""
        delay = 0.2
        refusals = 0
        while True:
            try:
                plan = make_plan(refusals > 0)
                started = time.perf_counter()
                written = write_plan(self._db(), plan)
                self.metrics.commit_seconds.observe(time.perf_counter() - started)
                if self._database_ok_since is None:
                    self._database_ok_since = time.monotonic()
                self.metrics.database_up.set(1)
                self._problem = ""
                for dead in written.rejected:
                    self.metrics.dead_letters.labels(dead.reason.value).inc()
                return written
            except (psycopg.IntegrityError, psycopg.DataError) as error:
                refusals += 1
                log.warning("ingest.refused", error=str(error).strip()[:200], attempt=refusals)
                if refusals >= REFUSALS_BEFORE_ISOLATING:
                    raise _Refused(str(error).strip()[:400]) from error
            except psycopg.OperationalError as error:
                self._problem = "database unavailable"
                self._drop_db()
                log.warning("ingest.database_unavailable", error=str(error).strip()[:200], retry_in_s=delay)
                deadline = time.monotonic() + delay * (0.5 + random.random())
                while time.monotonic() < deadline:
                    if self.stopping.is_set():
                        raise Stopped from None
                    network.poll(min(0.2, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 10.0)

    def _isolate(self, messages: list[Message], network: DirectConnection, error: str) -> Written:
        """Write halves of a refused batch apart, down to the single messages the database
        refuses, which go to ``dead_letters`` (reason ``rejected_by_database``)."""
        if len(messages) == 1:
            return self._reject(messages[0], network, error)
        half = len(messages) // 2
        parts = []
        for part in (messages[:half], messages[half:]):
            try:
                parts.append(self._attempt(network, lambda force, part=part: self._plan(part, force=force)))
            except _Refused as refused:
                parts.append(self._isolate(part, network, refused.error))
        return _merge(parts)

    def _reject(self, message: Message, network: DirectConnection, error: str) -> Written:
        parsed = contract.parse_topic(message.topic)
        device_id = parsed[0] if parsed else None
        dead = DeadLetter(
            topic=message.topic[:256],
            device_id=device_id,
            reason=Reason.rejected_by_database,
            detail=error.replace("\x00", "")[:500],
            payload=message.payload[:DEAD_LETTER_PAYLOAD_LIMIT],
            payload_size=len(message.payload),
            received_at=message.received_at,
        )
        # the device's watermark moves past it, so its buffer does not resend it forever
        watermarks = plan_batch(
            [message], self._devices, max_payload_bytes=self.config.max_payload_bytes
        ).watermarks
        try:
            return self._attempt(network, lambda _: Plan(dead_letters=[dead], watermarks=watermarks))
        except _Refused:  # e.g. the device was deleted: the dead letter alone
            return self._attempt(network, lambda _: Plan(dead_letters=[dead]))

    # -- one batch ---------------------------------------------------------------------
    def commit(self, messages: list[Message], network: DirectConnection) -> Written:
        written = self._write(messages, network)
        for message in messages:  # arrival order, only after commit
            network.ack(message)
        now = self.clock.now()
        for device_id, seq in written.watermarks.items():
            network.publish(contract.topic(device_id, "ack"), contract.encode_ack(seq, now), retain=True)
        self.metrics.received.inc(len(messages))
        self.metrics.batch_size.observe(len(messages))
        self.metrics.stored.inc(written.stored)
        self.metrics.duplicates.inc(written.duplicates)
        if messages:  # the oldest message of the batch (one observation per batch, not per message)
            lag = (self.clock.now() - messages[0].received_at).total_seconds()
            self.metrics.lag_seconds.observe(max(0.0, lag))
        return written

    def _flush(self) -> None:
        batch = self.pending[: self.config.max_batch]
        del self.pending[: len(batch)]
        if not self.pending:
            self._batch_since = None  # what is left (if anything) is older still
        self.commit(batch, self.mqtt)
        self.metrics.pending.set(len(self.pending))

    # -- liveness of workers and takeover of dead ones' sessions -----------------------------
    def _heartbeat(self) -> None:
        now = time.monotonic()
        connected = self.mqtt.connected.is_set()
        # at once when the broker connection changed: /api/health reads it from here
        if now - self._last_heartbeat < self.config.heartbeat_s and connected == self._reported_connected:
            return
        self._last_heartbeat = now
        self._reported_connected = connected
        try:
            conn = self._db()
            conn.execute(
                """INSERT INTO ingest_workers (client_id, host, pid, broker_connected) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (client_id) DO UPDATE SET last_seen = now(), host = EXCLUDED.host,
                       pid = EXCLUDED.pid, broker_connected = EXCLUDED.broker_connected""",
                (self.config.client_id, socket.gethostname(), os.getpid(), connected),
            )
            if self._database_ok_since is None:
                self._database_ok_since = now
            if self._problem in {"starting", "database unavailable"}:
                self._problem = ""
            self._take_over_dead_sessions(conn)
        except psycopg.OperationalError:
            self._problem = "database unavailable"
            self._drop_db()

    def _take_over_dead_sessions(self, conn: psycopg.Connection) -> None:
        # Only judge others after we ourselves have been able to heartbeat for a while:
        # after a database outage everybody's heartbeat is old.
        if (
            self._database_ok_since is None
            or time.monotonic() - self._database_ok_since < self.config.dead_after_s
        ):
            return
        dead = conn.execute(
            """SELECT client_id FROM ingest_workers
               WHERE client_id <> %s AND last_seen < now() - make_interval(secs => %s)""",
            (self.config.client_id, self.config.dead_after_s),
        ).fetchall()
        for (client_id,) in dead:
            locked = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (client_id,)).fetchone()
            if not locked or not locked[0]:
                continue
            try:
                drained = self._drain(client_id)
                conn.execute(
                    """DELETE FROM ingest_workers
                       WHERE client_id = %s AND last_seen < now() - make_interval(secs => %s)""",
                    (client_id, self.config.dead_after_s),
                )
                self.metrics.taken_over.inc()
                log.warning("ingest.session_taken_over", dead_worker=client_id, messages=drained)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (client_id,))

    def _drain(self, client_id: str, *, idle_s: float = 1.0, max_s: float = 60.0) -> int:
        """Connect as a dead worker, store what its session holds, then end the session."""
        inbox: list[Message] = []
        other = DirectConnection(
            service_url(self.config.mqtt_url, client_id),  # the dead worker's account
            client_id,
            on_message=inbox.append,
            persistent=True,
            receive_maximum=self.config.max_inflight,
            clock=self.clock,
        )
        try:
            other.open(wait_s=10)
        except MqttError as error:
            log.warning("ingest.takeover_failed", dead_worker=client_id, error=str(error))
            return 0
        drained = 0
        started = last_message = time.monotonic()
        while other.connected.is_set() and time.monotonic() - started < max_s:
            other.poll(0.05)
            if inbox:
                batch = inbox[: self.config.max_batch]
                del inbox[: len(batch)]
                self.commit(batch, other)
                drained += len(batch)
                last_message = time.monotonic()
            elif time.monotonic() - last_message > idle_s:
                break
        other.close(end_session=other.connected.is_set())  # if it came back, leave its session alone
        return drained

    # -- main loop ---------------------------------------------------------------------
    def run(self) -> None:
        server = None
        if self.config.metrics_port is not None:
            try:
                server = serve_health(self.config.metrics_port, self.metrics, self.health)
            except OSError as error:  # metrics are not worth losing readings over
                log.warning("ingest.metrics_unavailable", port=self.config.metrics_port, error=str(error))
        try:
            # a worker that starts while the broker is down waits for it (its /health says so)
            until_ready(
                lambda: self.mqtt.open(wait_s=10), what="broker", errors=(MqttError,), stopping=self.stopping
            )
        except StopWaiting:
            self.mqtt.close()
            if server is not None:
                server.shutdown()
            return
        self.metrics.broker_up.set(1)
        log.info("ingest.started", client_id=self.config.client_id)
        try:
            while not self.stopping.is_set():
                timeout = 0.5
                if self.pending and self._batch_since is None:  # read while a write was retried
                    self._batch_since = time.monotonic()
                if self._batch_since is not None:
                    age = time.monotonic() - self._batch_since
                    timeout = max(0.0, self.config.max_wait_s - age)
                self.mqtt.poll(timeout)
                self.metrics.broker_up.set(1 if self.mqtt.connected.is_set() else 0)
                if self.pending:
                    if self._batch_since is None:
                        self._batch_since = time.monotonic()
                    age = time.monotonic() - self._batch_since
                    if len(self.pending) >= self.config.max_batch or age >= self.config.max_wait_s:
                        self._flush()
                self._heartbeat()
        except Stopped:
            pass
        finally:
            self.mqtt.close()
            if self._conn is not None:
                self._conn.close()
            if server is not None:
                server.shutdown()
            log.info("ingest.stopped", client_id=self.config.client_id, unacknowledged=len(self.pending))

    def stop(self) -> None:
        self.stopping.set()
