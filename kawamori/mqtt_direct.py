"""An MQTT 5 client written directly on a socket, for the high-throughput consumer.

paho's network loop costs tens of microseconds of Python per incoming message: it reads
each packet with three or more ``recv()`` calls, decodes MQTT 5 properties into
objects, matches every topic against its callback filters and sends each PUBACK with
its own ``send()``. Profiled in the ingest worker, that was most of its CPU
(bench/README.md, ingest). :class:`DirectConnection` speaks only what a consumer needs —
CONNECT with a persistent session, SUBSCRIBE at QoS 1, receiving PUBLISH (QoS 0/1), PUBACK, PUBLISH
at QoS 1 (acknowledgement watermarks), PINGREQ, DISCONNECT — reads the socket in large
chunks, cuts packets out with slicing, stamps one ``received_at`` per chunk and writes
every acknowledgement queued since the last write in one ``send()``.

One thread drives it with :meth:`poll`. It reconnects by itself with capped backoff;
the broker then redelivers what the persistent session still holds unacknowledged.
Acknowledgements and publishes queued while disconnected are dropped: the messages
come again (ingest deduplicates) and the next commit publishes a fresh watermark.
Topic aliases are never enabled (no Topic Alias Maximum is sent), so every PUBLISH
carries its topic. CONNECT sends a Receive Maximum: without one, Mosquitto keeps up to
65,535 unacknowledged messages in flight to an MQTT 5 client (its
``max_inflight_messages`` applies to MQTT 3 clients), which only costs memory and
latency in the consumer.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable

import structlog

from kawamori.clock import REAL, Clock
from kawamori.messages import Message, MqttError
from kawamori.settings import MqttEndpoint

log = structlog.get_logger(__name__)

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_PINGREQ = b"\xc0\x00"
_READ_CHUNK = 256 * 1024
_READ_PER_POLL = 4 * 1024 * 1024  # bytes read per poll before returning to the caller


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(value: str) -> bytes:
    raw = value.encode()
    return _U16.pack(len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    """A variable byte integer at ``i``: (value, index after it). IndexError if cut."""
    value = shift = 0
    for _ in range(4):
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7
    raise MqttError("malformed variable byte integer")


class DirectConnection:
    """One MQTT 5 connection driven by :meth:`poll` from a single thread."""

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        subscriptions: Iterable[str] = (),
        on_message: Callable[[Message], None] | None = None,
        persistent: bool = True,
        session_expiry_s: int = 2 * 24 * 3600,
        keepalive_s: int = 30,
        receive_maximum: int = 2000,
        clock: Clock = REAL,
    ) -> None:
        self.endpoint = MqttEndpoint(url)
        self.clock = clock  # stamps each message's received_at
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.on_message = on_message
        self.persistent = persistent
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.receive_maximum = receive_maximum
        self.connected = threading.Event()
        # set once the broker granted the subscriptions of the newest connection
        self.subscribed = threading.Event()
        self._awaiting: set[int] = set()  # packet ids of publishes waiting for their PUBACK
        self.last_refusal: str | None = None
        self._sock: socket.socket | None = None
        self._out: list[bytes] = []
        self._unsent = b""
        self._partial = b""
        self._next_id = 1
        self._last_in = self._last_out = 0.0
        self._next_attempt = 0.0
        self._delay = 0.5

    # -- packets -------------------------------------------------------------------------
    def _connect_packet(self) -> bytes:
        flags = 0x00 if self.persistent else 0x02  # clean start only for throw-away sessions
        payload = _string(self.client_id)
        if self.endpoint.username:
            flags |= 0x80
            payload += _string(self.endpoint.username)
            if self.endpoint.password:
                flags |= 0x40
                payload += _string(self.endpoint.password.get_secret_value())
        properties = b"\x11" + _U32.pack(self.session_expiry_s if self.persistent else 0)
        properties += b"\x21" + _U16.pack(self.receive_maximum)
        header = _string("MQTT") + bytes([5, flags]) + _U16.pack(self.keepalive_s)
        return _packet(0x10, header + _varint(len(properties)) + properties + payload)

    def _packet_id(self) -> int:
        packet_id = self._next_id
        self._next_id = packet_id % 65535 + 1
        return packet_id

    # -- connecting ----------------------------------------------------------------------
    def _dial(self) -> None:
        sock = socket.create_connection((self.endpoint.host, self.endpoint.port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.endpoint.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.endpoint.host)
        sock.setblocking(False)
        self._sock = sock
        self._partial = self._unsent = b""
        self._out = [self._connect_packet()]
        self._last_in = self._last_out = time.monotonic()

    def open(self, *, wait_s: float = 10) -> None:
        """Connect and wait for the broker's CONNACK (and send the subscriptions)."""
        self.last_refusal = None
        try:
            self._dial()
        except OSError as error:
            raise MqttError(f"could not reach {self.endpoint!r}: {error}") from None
        deadline = time.monotonic() + wait_s
        while not self.connected.is_set():
            self.poll(0.05)
            if self.last_refusal is not None or time.monotonic() > deadline:
                self._drop()
                raise MqttError(
                    f"could not connect to {self.endpoint!r} as {self.client_id}"
                    + (f": {self.last_refusal}" if self.last_refusal else "")
                )

    def _reconnect(self, timeout: float) -> None:
        now = time.monotonic()
        if now < self._next_attempt:
            time.sleep(min(timeout, self._next_attempt - now))
            return
        self._next_attempt = now + self._delay
        self._delay = min(self._delay * 2, 30.0)
        try:
            self._dial()
        except OSError as error:
            log.warning("mqtt.reconnect_failed", client_id=self.client_id, error=str(error))

    def _drop(self, reason: str | None = None) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._out = []
        self._unsent = self._partial = b""
        if self.connected.is_set() and reason is not None:
            log.warning("mqtt.disconnected", client_id=self.client_id, reason=reason)
        self.connected.clear()

    # -- the loop ------------------------------------------------------------------------
    def poll(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for data, handle every packet that arrived,
        write what is queued, keep the connection alive; reconnect if it was lost."""
        sock = self._sock
        if sock is None:
            self._reconnect(timeout)
            return
        self.flush()
        if self._sock is None:
            return
        try:
            readable, _, _ = select.select([sock], [sock] if self._unsent else [], [], timeout)
        except (OSError, ValueError):
            readable = []
        if readable:
            received = 0
            while received < _READ_PER_POLL:
                try:
                    data = sock.recv(_READ_CHUNK)
                except (BlockingIOError, ssl.SSLWantReadError):
                    break
                except OSError as error:
                    self._drop(str(error))
                    return
                if not data:
                    self._drop("closed by the broker")
                    return
                received += len(data)
                self._last_in = time.monotonic()
                self._handle(data)
                if self._sock is None:
                    return
        now = time.monotonic()
        if self.connected.is_set() and now - self._last_out >= self.keepalive_s / 2:
            self._out.append(_PINGREQ)
        if now - self._last_in > self.keepalive_s * 1.5:
            self._drop("no answer within the keep-alive")
            return
        self.flush()

    def flush(self) -> None:
        """Write everything queued (acknowledgements, publishes) in one ``send()``."""
        if self._sock is None or not (self._out or self._unsent):
            return
        data = self._unsent + b"".join(self._out)
        self._out = []
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, ssl.SSLWantWriteError):
            sent = 0
        except OSError as error:
            self._drop(str(error))
            return
        self._unsent = data[sent:]
        self._last_out = time.monotonic()

    def _handle(self, data: bytes) -> None:
        buf = self._partial + data if self._partial else data
        end = len(buf)
        pos = 0
        received_at = self.clock.now()  # one stamp per chunk read
        on_message = self.on_message
        while pos + 2 <= end:
            first = buf[pos]
            length = buf[pos + 1]
            start = pos + 2
            if length & 0x80:
                try:
                    length, start = _read_varint(buf, pos + 1)
                except IndexError:
                    break
            stop = start + length
            if stop > end:
                break
            kind = first >> 4
            if kind == 3:  # PUBLISH
                i = start + 2 + ((buf[start] << 8) | buf[start + 1])
                topic = buf[start + 2 : i].decode("utf-8", "replace")
                qos = (first >> 1) & 3
                mid = 0
                if qos:
                    mid = (buf[i] << 8) | buf[i + 1]
                    i += 2
                properties = buf[i]
                if properties < 0x80:
                    i += 1 + properties
                else:
                    properties, i = _read_varint(buf, i)
                    i += properties
                if on_message is not None:
                    try:
                        on_message(Message(topic, buf[i:stop], qos, bool(first & 1), mid, received_at))
                    except Exception:
                        log.exception("mqtt.handler_failed", topic=topic)
            elif kind == 2:  # CONNACK
                self._connack(buf[start:stop])
            elif kind == 9:  # SUBACK
                self._suback(buf[start:stop])
            elif kind == 4 and self._awaiting:  # PUBACK of a publish someone waits for
                self._awaiting.discard((buf[start] << 8) | buf[start + 1])
            elif kind == 14:  # DISCONNECT from the broker
                reason = buf[start] if length else 0
                self._drop(f"disconnected by the broker (reason {reason:#04x})")
                return
            pos = stop  # other PUBACKs (of the watermarks), PINGRESP: nothing to do
        self._partial = buf[pos:]

    def _connack(self, body: bytes) -> None:
        session_present, reason = bool(body[0] & 1), body[1]
        if reason >= 0x80:
            self.last_refusal = f"CONNACK reason {reason:#04x}"
            log.warning("mqtt.refused", client_id=self.client_id, reason=self.last_refusal)
            self._drop()
            return
        self.last_refusal = None
        self._delay = 0.5
        self.subscribed.clear()
        if self.subscriptions:
            options = b"".join(_string(topic) + b"\x01" for topic in self.subscriptions)  # QoS 1
            self._out.append(_packet(0x82, _U16.pack(self._packet_id()) + b"\x00" + options))
        log.info(
            "mqtt.connected",
            client_id=self.client_id,
            broker=repr(self.endpoint),
            session_present=session_present,
        )
        self.connected.set()

    def _suback(self, body: bytes) -> None:
        properties, i = _read_varint(body, 2)
        refused = [code for code in body[i + properties :] if code >= 0x80]
        if refused:
            log.warning("mqtt.subscription_refused", client_id=self.client_id, reasons=refused)
        else:
            self.subscribed.set()

    # -- what the consumer calls ---------------------------------------------------------
    def ack(self, message: Message) -> None:
        """Queue the PUBACK of a QoS 1 message; written by the next :meth:`flush`/poll."""
        if message.qos and self._sock is not None:
            self._out.append(b"\x40\x02" + _U16.pack(message.mid))

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Queue a publish (QoS 0 or 1); dropped if not connected (see the module's doc)."""
        if self._sock is None or not self.connected.is_set():
            log.debug("mqtt.publish_dropped", client_id=self.client_id, topic=topic)
            return
        first = 0x30 | (qos << 1) | (1 if retain else 0)
        packet_id = _U16.pack(self._packet_id()) if qos else b""
        self._out.append(_packet(first, _string(topic) + packet_id + b"\x00" + payload))

    def publish_confirmed(
        self, topic: str, payload: bytes, *, retain: bool = False, wait_s: float = 10
    ) -> None:
        """Publish at QoS 1 and return once the broker acknowledged it (a command that
        must know its message arrived, e.g. a retained configuration)."""
        if self._sock is None or not self.connected.is_set():
            raise MqttError(f"not connected to {self.endpoint!r}")
        packet_id = self._packet_id()
        self._awaiting.add(packet_id)
        first = 0x32 | (1 if retain else 0)
        self._out.append(_packet(first, _string(topic) + _U16.pack(packet_id) + b"\x00" + payload))
        deadline = time.monotonic() + wait_s
        while packet_id in self._awaiting:
            if not self.connected.is_set() or time.monotonic() > deadline:
                self._awaiting.discard(packet_id)
                raise MqttError(f"publish to {topic} was not acknowledged in {wait_s} s")
            self.poll(0.05)

    def close(self, *, end_session: bool = False) -> None:
        """Send what is queued and disconnect. With ``end_session`` the broker discards
        the session (and stops queueing messages for it) before this returns."""
        if self._sock is not None:
            disconnect = b"\xe0\x00"
            if end_session:
                disconnect = _packet(0xE0, b"\x00\x05\x11" + _U32.pack(0))
            self._out.append(disconnect)
            self._sock.setblocking(True)
            self._sock.settimeout(5)
            with contextlib.suppress(OSError):
                self._sock.sendall(self._unsent + b"".join(self._out))
                # the broker closes the connection once it has handled the DISCONNECT: wait for
                # that, so a session ended here is gone when close() returns
                self._sock.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + 2
                while self._sock.recv(65536) and time.monotonic() < deadline:
                    pass
            self._out = []
            self._unsent = b""
        self._drop()
