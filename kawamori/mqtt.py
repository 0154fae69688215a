"""The only module that imports the MQTT library (paho-mqtt 2).

It turns broker messages into a small frozen :class:`Message` and owns connecting,
reconnecting and re-subscribing. Services use :class:`Connection`:

* persistent sessions (MQTT 5 ``clean_start=False`` with a session expiry), so a
  restarted service gets what was queued for it while it was away — paho's own
  default would start clean on the first connect and drop that backlog;
* manual acknowledgement: a QoS 1 message is acknowledged only when the caller
  says so (after its data is committed), in arrival order;
* a handler's exception is logged and never stops the network loop.
"""

from __future__ import annotations

import queue
import select
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as paho
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kawamori.settings import MqttEndpoint

log = structlog.get_logger(__name__)


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


class Connection:
    """One MQTT 5 client connection with a background network loop."""

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        subscriptions: Iterable[str] = (),
        on_message: Callable[[Message], None] | None = None,
        persistent: bool = True,
        session_expiry_s: int = 2 * 24 * 3600,
        manual_ack: bool = False,
        will: Will | None = None,
        keepalive_s: int = 30,
    ) -> None:
        self.endpoint = MqttEndpoint(url)
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.on_message = on_message
        self.persistent = persistent
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.connected = threading.Event()
        # set once the broker granted the subscriptions of the newest connection
        self.subscribed = threading.Event()
        self.last_refusal: str | None = None
        self._client = paho.Client(
            callback_api_version=paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=manual_ack,
        )
        self._client.max_inflight_messages_set(100)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        if self.endpoint.username:
            password = self.endpoint.password.get_secret_value() if self.endpoint.password else None
            self._client.username_pw_set(self.endpoint.username, password)
        if self.endpoint.tls:
            self._client.tls_set()
        if will is not None:
            self._client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    # -- paho callbacks (network thread) -------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_refusal = str(reason_code)
            log.warning("mqtt.refused", client_id=self.client_id, reason=str(reason_code))
            return
        self.last_refusal = None
        self.subscribed.clear()
        if self.subscriptions:
            client.subscribe([(topic, paho.SubscribeOptions(qos=1)) for topic in self.subscriptions])
        log.info(
            "mqtt.connected",
            client_id=self.client_id,
            broker=repr(self.endpoint),
            session_present=flags.session_present,
        )
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if not any(code.is_failure for code in reason_codes):
            self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set():
            level = log.info if reason_code == 0 else log.warning
            level("mqtt.disconnected", client_id=self.client_id, reason=str(reason_code))
        self.connected.clear()

    def _on_message(self, client, userdata, msg: paho.MQTTMessage) -> None:
        message = Message(
            topic=msg.topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            retain=bool(msg.retain),
            mid=msg.mid,
            received_at=datetime.now(UTC),
        )
        if self.on_message is None:
            return
        try:
            self.on_message(message)
        except Exception:
            log.exception("mqtt.handler_failed", topic=msg.topic)

    # -- public API ----------------------------------------------------------------------
    def start(self, *, wait_s: float | None = 10) -> None:
        """Connect and run the network loop in a thread (reconnecting by itself)."""
        self._client.connect_async(
            self.endpoint.host,
            self.endpoint.port,
            keepalive=self.keepalive_s,
            clean_start=not self.persistent,
            properties=self._connect_properties(),
        )
        self._client.loop_start()
        if wait_s is None:
            return
        deadline = time.monotonic() + wait_s
        while not self.connected.wait(0.05):
            if self.last_refusal is not None or time.monotonic() > deadline:
                self.stop()
                raise MqttError(
                    f"could not connect to {self.endpoint!r} as {self.client_id}"
                    + (f": {self.last_refusal}" if self.last_refusal else "")
                )

    # -- driving the network from the caller's own thread (high-throughput consumers) -------
    def open(self, *, wait_s: float = 10) -> None:
        """Connect without a network thread; the caller then drives all I/O with
        :meth:`poll` from one thread (paho's writes are not thread-safe). Reading every
        packet that is ready per wake-up is far faster than paho's own loop, which
        reads one packet per ``select``."""
        self._next_attempt = 0.0
        self._delay = 0.5
        self.last_refusal = None
        try:
            self._client.connect(
                self.endpoint.host,
                self.endpoint.port,
                keepalive=self.keepalive_s,
                clean_start=not self.persistent,
                properties=self._connect_properties(),
            )
        except OSError as error:
            raise MqttError(f"could not reach {self.endpoint!r}: {error}") from None
        deadline = time.monotonic() + wait_s
        while not self.connected.is_set():
            self.poll(0.05)
            if self.last_refusal is not None or time.monotonic() > deadline:
                raise MqttError(
                    f"could not connect to {self.endpoint!r} as {self.client_id}"
                    + (f": {self.last_refusal}" if self.last_refusal else "")
                )

    def poll(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for network events, then handle every packet
        that is ready, pending writes and keep-alive; reconnect (with backoff) if lost."""
        sock = self._client.socket()
        if sock is None:
            self._reconnect(timeout)
            return
        wants = [sock] if self._client.want_write() else []
        try:
            readable, _, _ = select.select([sock], wants, [], timeout)
        except (OSError, ValueError):
            readable = []
        if readable:
            for _ in range(10_000):  # bounded: never starve the caller
                if self._client.loop_read() != paho.MQTT_ERR_SUCCESS or self._client.socket() is None:
                    break
                pending = getattr(sock, "pending", lambda: 0)()
                if not pending and not select.select([sock], [], [], 0)[0]:
                    break
        if self._client.socket() is not None:
            if self._client.want_write():
                self._client.loop_write()
            self._client.loop_misc()

    def _reconnect(self, timeout: float) -> None:
        now = time.monotonic()
        if now < self._next_attempt:
            time.sleep(min(timeout, self._next_attempt - now))
            return
        self._next_attempt = now + self._delay
        self._delay = min(self._delay * 2, 30.0)
        try:
            self._client.reconnect()
        except OSError as error:
            log.warning("mqtt.reconnect_failed", client_id=self.client_id, error=str(error))
            return
        self._delay = 0.5

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry_s if self.persistent else 0
        return properties

    def close(self, *, end_session: bool = False) -> None:
        """Disconnect a connection driven by :meth:`poll`. With ``end_session`` the
        broker discards the session (and stops queueing messages for it)."""
        properties = None
        if end_session:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
        if self._client.socket() is not None:
            self._client.disconnect(properties=properties)
            for _ in range(20):
                if self._client.socket() is None:
                    break
                self.poll(0.05)
        self.connected.clear()

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        wait_s: float | None = None,
    ) -> None:
        """Publish; with ``wait_s`` block until the broker has acknowledged it."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == paho.MQTT_ERR_NO_CONN and wait_s is None:
            raise MqttError(f"not connected to {self.endpoint!r}")
        if wait_s is not None:
            deadline = time.monotonic() + wait_s
            try:
                while not info.is_published():
                    if time.monotonic() > deadline:
                        raise MqttError(f"publish to {topic} was not acknowledged in {wait_s} s")
                    info.wait_for_publish(0.1)
            except (RuntimeError, ValueError) as error:  # paho: not connected / queue full
                raise MqttError(f"publish to {topic} failed: {error}") from None

    def ack(self, message: Message) -> None:
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()


class Inbox:
    """A thread-safe queue of received messages for a consumer that works in batches."""

    def __init__(self, maxsize: int = 0) -> None:
        self._queue: queue.Queue[Message] = queue.Queue(maxsize)

    def put(self, message: Message) -> None:
        self._queue.put(message)

    def take(self, *, max_items: int, max_wait_s: float) -> list[Message]:
        """Up to ``max_items`` messages: waits ``max_wait_s`` for the first, then takes
        whatever else arrives within ``max_wait_s`` of it."""
        try:
            first = self._queue.get(timeout=max_wait_s)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + max_wait_s
        while len(batch) < max_items:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def qsize(self) -> int:
        return self._queue.qsize()
