"""Fake hardware for the firmware: a clock, a sensor, a board and a tiny in-memory
MQTT broker on a fake socket that records every byte. Written for both CPython and
MicroPython: the MicroPython tests load this file into the interpreter too."""

# ruff: noqa: UP031  (MicroPython runs this file too; %-formatting is its idiom)

import sys

import hw

MICRO = sys.implementation.name == "micropython"


def data_dir() -> str:
    """Where scenarios keep their flash: the interpreter's own on MicroPython, a fresh
    temporary folder under CPython."""
    if MICRO:
        return "/data"
    import tempfile

    return tempfile.mkdtemp()


class Clock:
    """An accelerated clock: sleeping advances it at once. ``start`` is Unix seconds;
    an RTC never set after a power loss starts at 2000-01-01 (946684800)."""

    def __init__(self, start: int) -> None:
        self.ms = 0
        self.base = start

    def time(self) -> int:
        return self.base + self.ms // 1000

    def ticks_ms(self) -> int:
        return self.ms & 0x3FFFFFFF

    def sleep_ms(self, ms: int) -> None:
        self.ms += ms

    def set_time(self, unix: int) -> None:
        self.base = unix - self.ms // 1000


class Sensor:
    """Samples from ``level_at(clock seconds)`` as a distance below ``mount_mm``;
    ``glitches`` maps a sample number to what that sample returns instead."""

    MIN_MM = 30
    MAX_MM = 4500
    DEPTH = False

    def __init__(self, clock, mount_mm: int, level_at, glitches=None) -> None:
        self.clock = clock
        self.mount_mm = mount_mm
        self.level_at = level_at
        self.glitches = glitches or {}
        self.count = 0
        self.on = False

    def power(self, on: bool) -> int:
        self.on = on
        return 0

    def read(self):
        self.count += 1
        self.clock.sleep_ms(60)  # a sample takes time
        if self.count in self.glitches:
            glitch = self.glitches[self.count]
            if glitch == "raise":
                raise OSError("uart")
            return glitch
        return self.mount_mm - self.level_at(self.clock.time())


class Board:
    def __init__(self, clock, connect=None, ntp_time=None) -> None:
        self.clock = clock
        self.connector = connect
        self.ntp_time = ntp_time  # callable giving Unix seconds, or None: no NTP server
        self.wifi = True
        self.log = []
        self.sleeps = []
        self.battery = 3910
        self.cause = "power"

    def feed(self) -> None:
        pass

    def reset_cause(self) -> str:
        return self.cause

    def battery_mv(self) -> int:
        return self.battery

    def rssi(self) -> int:
        return -71

    def wifi_up(self, timeout_s: int) -> None:
        self.log.append("wifi_up")
        if not self.wifi:
            raise hw.NetError("Wi-Fi 'river': no connection in %d s" % timeout_s)

    def wifi_down(self) -> None:
        self.log.append("wifi_down")

    def ntp(self):
        return None if self.ntp_time is None else self.ntp_time()

    def connect(self, host: str, port: int, tls: bool, timeout_s):
        self.log.append("connect")
        if self.connector is None:
            raise hw.NetError("connect %s:%d: refused" % (host, port))
        return self.connector(host, port, tls, timeout_s)

    def sleep(self, seconds: int) -> None:
        self.sleeps.append(seconds)
        self.clock.sleep_ms(seconds * 1000)

    def reset(self) -> None:
        self.log.append("reset")
        raise Reset()


class Reset(BaseException):
    """The board restarted: nothing after this runs."""


def _string(data: bytes, at: int):
    size = data[at] << 8 | data[at + 1]
    return bytes(data[at + 2 : at + 2 + size]), at + 2 + size


class Broker:
    """Just enough of an MQTT broker for one client, with retained messages and an
    ingest that acknowledges every reading (``ingest=False``: nobody acknowledges)."""

    def __init__(self) -> None:
        self.retained = {}
        self.published = []  # (topic, payload, retain) from the device
        self.ingest = True
        self.refuse = 0
        self.now = None  # the server's clock (Unix seconds) for the acks' "t", if set

    def stream(self, host, port, tls, timeout_s):
        return Stream(self)


class Stream:
    def __init__(self, broker) -> None:
        self.broker = broker
        self.written = b""
        self.inbox = b""
        self.pending = bytearray()  # grows in place: the fake's own copies stay out of heap figures

    def readable(self, wait_ms: int) -> bool:
        return bool(self.inbox)

    def close(self) -> None:
        pass

    def _send(self, kind: int, body: bytes) -> None:
        n = len(body)
        size = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            size.append(byte | 0x80 if n else byte)
            if not n:
                break
        self.inbox += bytes((kind,)) + bytes(size) + body

    def _publish_to_device(self, topic: str, payload: bytes, retain: bool) -> None:
        name = topic.encode()
        self._send(
            0x32 | (1 if retain else 0),
            bytes((len(name) >> 8, len(name) & 0xFF)) + name + b"\x00\x01" + payload,
        )

    def write(self, data) -> int:
        data = bytes(data)
        self.written += data
        self.pending.extend(data)
        while len(self.pending) >= 2:
            size = 0
            shift = 0
            at = 1
            while True:
                byte = self.pending[at]
                size |= (byte & 0x7F) << shift
                shift += 7
                at += 1
                if not byte & 0x80:
                    break
            if len(self.pending) < at + size:
                break
            kind, body = self.pending[0], bytes(self.pending[at : at + size])
            self.pending = self.pending[at + size :]
            self._handle(kind, body)
        return len(data)

    def _handle(self, kind: int, body: bytes) -> None:
        broker = self.broker
        if kind == 0x10:
            self._send(0x20, bytes((0, broker.refuse)))
        elif kind == 0x82:
            topic, _ = _string(body, 2)
            self._send(0x90, body[:2] + b"\x01")
            pattern = topic.decode().split("/")
            for name in sorted(broker.retained):
                parts = name.split("/")
                if len(parts) == len(pattern) and all(p in ("+", n) for p, n in zip(pattern, parts)):
                    self._publish_to_device(name, broker.retained[name], True)
        elif kind & 0xF0 == 0x30:
            topic, at = _string(body, 0)
            qos = (kind >> 1) & 3
            pid = body[at : at + 2] if qos else b""
            payload = bytes(body[at + len(pid) :])
            name = topic.decode()
            broker.published.append((name, payload, bool(kind & 1)))
            if kind & 1:
                broker.retained[name] = payload
            if qos:
                self._send(0x40, pid)
            if name.endswith("/reading") and broker.ingest:
                seq = _highest_seq(payload)
                ack_topic = name[: -len("reading")] + "ack"
                ack = b'{"v":1,"seq":%d}' % seq
                if broker.now is not None:
                    ack = b'{"v":1,"seq":%d,"t":%d}' % (seq, broker.now())
                broker.retained[ack_topic] = ack
                self._publish_to_device(ack_topic, ack, False)
        elif kind == 0x40:
            pass
        elif kind == 0xC0:
            self._send(0xD0, b"")

    def read(self, n: int):
        if not self.inbox:
            raise OSError(110)  # ETIMEDOUT: nothing to read
        data, self.inbox = self.inbox[:n], self.inbox[n:]
        return data


def _highest_seq(payload: bytes) -> int:
    document = hw.loads(payload)
    items = document.get("r", [document])
    return max(item["seq"] for item in items)


class UART:
    """An A02YYUW on a UART: ``frames`` gives the distance (mm) of each frame or None
    for silence; a read with nothing to read waits the UART time-out on the clock."""

    def __init__(self, clock, distance_at=None, timeout_ms: int = 200) -> None:
        self.clock = clock
        self.distance_at = distance_at
        self.timeout_ms = timeout_ms

    def any(self) -> int:
        return 0

    def read(self, n: int = -1):
        if self.distance_at is None:
            self.clock.sleep_ms(self.timeout_ms)
            return None
        self.clock.sleep_ms(4)  # 4 bytes at 9600 baud
        mm = self.distance_at(self.clock.time())
        return bytes((0xFF, mm >> 8, mm & 0xFF, (0xFF + (mm >> 8) + (mm & 0xFF)) & 0xFF))


class Pin:
    """A GPIO that records every level and pad hold set on it."""

    def __init__(self) -> None:
        self.level = None
        self.held = False
        self.log = []

    def value(self, level=None):
        if level is None:
            return self.level
        assert not self.held, "a held pad ignores writes"
        self.level = level
        self.log.append(level)

    def init(self, hold=False) -> None:
        self.held = hold
        self.log.append("hold" if hold else "free")


class Modem:
    """A cellular modem on a UART: answers AT commands from ``replies`` (command →
    lines), boots for ``boot_ms`` (no answer), registers after ``register_polls``."""

    def __init__(self, clock, boot_ms: int = 3000, register_polls: int = 2, csq: int = 18) -> None:
        self.clock = clock
        self.boot_ms = boot_ms
        self.register_polls = register_polls
        self.csq = csq
        self.out = b""
        self.sent = []
        self.refuse = set()

    def any(self) -> int:
        return len(self.out)

    def write(self, data) -> int:
        command = bytes(data).decode().strip()
        self.sent.append(command)
        if self.clock.ms < self.boot_ms:
            return len(data)
        if command in self.refuse:
            lines = ["ERROR"]
        elif command == "AT+CEREG?":
            self.register_polls -= 1
            lines = ["+CEREG: 0,%d" % (1 if self.register_polls < 0 else 2), "OK"]
        elif command == "AT+CSQ":
            lines = ["+CSQ: %d,99" % self.csq, "OK"]
        elif command == "ATD*99#":
            lines = ["CONNECT 150000000"]
        else:
            lines = ["OK"]
        self.out += ("\r\n" + "\r\n".join(lines) + "\r\n").encode()
        return len(data)

    def read(self, n: int = -1):
        self.clock.sleep_ms(5)
        if not self.out:
            return None
        data, self.out = self.out[:n], self.out[n:]
        return data


class PPP:
    """network.PPP's surface: the link comes up ``after`` polls of isconnected()."""

    def __init__(self, stream, after: int = 3) -> None:
        self.stream = stream
        self.after = after
        self.log = []

    def active(self, on=None):
        self.log.append("active %s" % on)

    def connect(self):
        self.log.append("connect")

    def isconnected(self) -> bool:
        self.after -= 1
        return self.after < 0

    def disconnect(self):
        self.log.append("disconnect")


class LoRaE5:
    """A LoRa-E5 modem's AT firmware on a UART: joins, acknowledges confirmed uplinks
    (unless ``ack`` is False) and hands over ``downlink`` (hex, fPort 2) once."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.out = b""
        self.sent = []
        self.ack = True
        self.downlink = None

    def any(self) -> int:
        return len(self.out)

    def write(self, data) -> int:
        command = bytes(data).decode().strip()
        self.sent.append(command)
        if command == "AT+MODE=LWOTAA":
            lines = ["+MODE: LWOTAA"]
        elif command == "AT+JOIN":
            self.clock.sleep_ms(6000)
            lines = ["+JOIN: Start", "+JOIN: Network joined", "+JOIN: NetID 000013 DevAddr 26:0B:4C:21", "+JOIN: Done"]
        elif command.startswith("AT+CMSGHEX="):
            self.clock.sleep_ms(2500)
            lines = ["+CMSGHEX: Start", "+CMSGHEX: Wait ACK"]
            if self.ack:
                lines.append("+CMSGHEX: ACK Received")
                if self.downlink:
                    lines.append('+CMSGHEX: PORT: 2; RX: "%s"' % self.downlink)
                    self.downlink = None
            lines.append("+CMSGHEX: Done")
        else:
            lines = ["+AT: ERROR(-1)"]
        self.out += ("\r\n".join(lines) + "\r\n").encode()
        return len(data)

    def read(self, n: int = -1):
        self.clock.sleep_ms(5)
        if not self.out:
            return None
        data, self.out = self.out[:n], self.out[n:]
        return data
