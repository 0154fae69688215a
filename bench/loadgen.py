"""A cheap MQTT load generator for the benchmarks: raw sockets, no MQTT library.

Each simulated device is its own MQTT 3.1.1 connection (what the firmware's umqtt
speaks) with its own broker account. PUBLISH packets (QoS 1, a distinct packet id per
unacknowledged message of a connection) are built from pre-encoded parts (fixed header
byte, topic, JSON template) and written pipelined, many per ``send()``, with a bounded
window of unacknowledged messages per connection; PUBACKs are counted, not parsed one
by one. A message costs a few microseconds of Python here, against tens of
microseconds through paho's publish path, so the generator stays far from being the
bottleneck; it reports its own CPU time so the benchmark can show that.

Every reading carries ``t`` = the wall-clock millisecond it was sent (strictly
increasing per device: readings are unique per station and time), so the database's
commit time minus ``t`` is publish → commit latency.
"""

from __future__ import annotations

import os
import select
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from kawamori import contract
from kawamori.mqtt_direct import _U16, _string, _varint  # the same MQTT encoding as ingest's client

PUBACK = 0x40


def connect_packet(client_id: str, username: str, password: str, keepalive_s: int = 60) -> bytes:
    flags = 0x80 | 0x40 | 0x02  # user name, password, clean session
    body = (
        _string("MQTT")
        + bytes([4, flags])
        + _U16.pack(keepalive_s)
        + _string(client_id)
        + _string(username)
        + _string(password)
    )
    return b"\x10" + _varint(len(body)) + body


class ProtocolError(RuntimeError):
    pass


class Device:
    """One device's connection: publishes QoS 1 readings, counts PUBACKs."""

    __slots__ = ("acked", "device_id", "inflight", "last_ms", "next_id", "partial", "sock", "topic")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.username and parts.password and parts.hostname and parts.port
        self.device_id = parts.username
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(self.device_id, parts.username, parts.password))
        connack = b""
        while len(connack) < 4:
            chunk = self.sock.recv(4 - len(connack))
            if not chunk:
                raise ProtocolError(f"{self.device_id}: connection closed before CONNACK")
            connack += chunk
        if connack[0] != 0x20 or connack[3] != 0:
            raise ProtocolError(f"{self.device_id}: refused, CONNACK {connack.hex()}")
        self.sock.settimeout(None)
        self.topic = _string(contract.topic(self.device_id, "reading"))
        self.next_id = 1
        self.inflight = 0
        self.last_ms = 0
        self.partial = b""
        self.acked = 0

    def packets(self, n: int, per_message: int, seq: int, now_ms: int, level: float) -> tuple[bytes, int]:
        """``n`` PUBLISH packets of ``per_message`` readings each, from sequence number
        ``seq`` on, as one buffer; returns it and the next sequence number."""
        out = []
        for _ in range(n):
            stamp = max(now_ms, self.last_ms + 1)
            if per_message == 1:
                payload = b'{"v":1,"seq":%d,"t":%d.%03d,"level":%.3f}' % (seq, *divmod(stamp, 1000), level)
            else:
                payload = b'{"v":1,"r":[%s]}' % b",".join(
                    b'{"seq":%d,"t":%d.%03d,"level":%.3f}' % (seq + k, *divmod(stamp + k, 1000), level)
                    for k in range(per_message)
                )
            self.last_ms = stamp + per_message - 1
            seq += per_message
            packet_id = self.next_id
            self.next_id = packet_id % 65535 + 1
            out.append(
                b"\x32"
                + _varint(len(self.topic) + 2 + len(payload))
                + self.topic
                + _U16.pack(packet_id)
                + payload
            )
        self.inflight += n
        return b"".join(out), seq

    def read_acks(self) -> int:
        data = self.sock.recv(65536)
        if not data:
            raise ProtocolError(f"{self.device_id}: broker closed the connection")
        data = self.partial + data
        whole = len(data) - len(data) % 4  # a PUBACK of MQTT 3.1.1 is 4 bytes: 40 02 id id
        if data[0:whole:4].count(PUBACK) != whole // 4:
            raise ProtocolError(f"{self.device_id}: unexpected packet {data[:16].hex()}")
        self.partial = data[whole:]
        self.inflight -= whole // 4
        self.acked += whole // 4
        return whole // 4

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self.sock.close()


@dataclass(frozen=True, slots=True)
class LoadResult:
    messages: int
    readings: int
    seconds: float  # from the first publish to the last PUBACK
    cpu_s: float  # this process's CPU time while publishing


def publish(
    devices: list[Device],
    readings: int,
    *,
    per_message: int = 1,
    rate: float | None = None,
    window: int = 200,
    seq0: int = 0,
    stall_s: float = 120.0,
) -> LoadResult:
    """Publish ``readings`` readings round-robin over ``devices`` (``rate`` messages/s,
    or as fast as the broker takes them) and return once every message is acknowledged."""
    cpu0 = sum(os.times()[:2])
    started = time.perf_counter()
    by_socket = {d.sock: d for d in devices}
    remaining = readings
    seq = seq0
    messages = 0
    cursor = 0
    n = len(devices)
    last_progress = time.monotonic()
    while True:
        budget = -(-remaining // per_message)
        if rate is not None:
            budget = min(budget, int((time.perf_counter() - started) * rate) + 1 - messages)
        if budget > 0:
            now_ms = int(time.time() * 1000)
            share = -(-budget // n)
            for i in range(n):
                device = devices[(cursor + i) % n]
                k = min(share, window - device.inflight, budget)
                if k <= 0:
                    continue
                size = min(per_message, remaining)
                if size < per_message:  # the last, short message
                    k = 1
                data, seq = device.packets(k, size, seq, now_ms, 5.0 + (seq % 100) / 1000)
                device.sock.sendall(data)
                messages += k
                remaining -= k * size
                budget -= k
                if budget <= 0 or remaining <= 0:
                    break
            cursor = (cursor + 1) % n
        waiting = [d.sock for d in devices if d.inflight]
        if not remaining and not waiting:
            break
        if remaining and rate is None and any(d.inflight < window for d in devices):
            timeout = 0.0
        elif remaining and rate is not None:
            timeout = max(0.0, started + (messages + 1) / rate - time.perf_counter())
        else:
            timeout = 1.0
        if not waiting:
            time.sleep(timeout)
            continue
        readable, _, _ = select.select(waiting, [], [], timeout)
        for sock in readable:
            by_socket[sock].read_acks()
            last_progress = time.monotonic()
        if time.monotonic() - last_progress > stall_s:
            raise ProtocolError(f"no PUBACK for {stall_s} s; {len(waiting)} devices waiting")
    elapsed = time.perf_counter() - started
    return LoadResult(messages, readings, elapsed, sum(os.times()[:2]) - cpu0)
