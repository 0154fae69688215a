"""A small MQTT 3.1.1 client over a stream you pass in (modelled on micropython-lib's
umqtt.simple): CONNECT with credentials and a last will, PUBLISH at QoS 0/1 with
PUBACK tracking, SUBSCRIBE, PINGREQ, DISCONNECT. It never reconnects by itself and
knows nothing about batteries: that policy belongs to the application.

Every failure (socket error, timeout, protocol error, refusal) raises
:class:`hw.NetError`; the application catches that one error.
"""

import hw

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
SUBSCRIBE = 0x82
SUBACK = 0x90
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0


class Refused(hw.NetError):
    """The broker refused the connection (code 4: bad user name or password,
    5: not authorised) or a subscription (SUBACK 0x80)."""

    def __init__(self, what: str, code: int) -> None:
        super().__init__("%s refused (code %d)" % (what, code))
        self.code = code


def _string(text) -> bytes:
    data = text.encode() if isinstance(text, str) else bytes(text)
    return bytes((len(data) >> 8, len(data) & 0xFF)) + data


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


class Client:
    def __init__(self, client_id: str, user=None, password=None, keepalive: int = 60, will=None) -> None:
        """``will`` is ``(topic, payload, retain)``, sent at QoS 1."""
        self.client_id = client_id
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.will = will
        self.stream = None
        self.pid = 0
        self.on_message = _ignore  # called for every message the broker sends

    # -- low level ---------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.stream is None:
            raise hw.NetError("not connected")
        try:
            view = memoryview(data)
            while len(view):
                n = self.stream.write(view)
                if n is None or n <= 0:
                    raise OSError("write returned %r" % n)
                view = view[n:]
        except OSError as error:
            raise hw.NetError("write: %r" % error) from None

    def _read(self, n: int) -> bytes:
        if self.stream is None:
            raise hw.NetError("not connected")
        try:
            data = self.stream.read(n)
        except OSError as error:
            raise hw.NetError("read: %r" % error) from None
        if not data or len(data) != n:
            raise hw.NetError("connection closed")
        return data

    def _packet(self, kind: int, body: bytes) -> None:
        self._write(bytes((kind,)) + _length(len(body)) + body)

    def _next_pid(self) -> int:
        self.pid = self.pid % 65535 + 1
        return self.pid

    def _receive(self, wait_ms: int):
        """One packet ``(type byte, body)``, or None if nothing arrived in wait_ms."""
        try:
            if not hw.readable(self.stream, wait_ms):
                return None
        except OSError as error:
            raise hw.NetError("poll: %r" % error) from None
        first = self._read(1)
        size = 0
        shift = 0
        while True:
            byte = self._read(1)[0]
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 21:
                raise hw.NetError("bad packet length")
        return first[0], (self._read(size) if size else b"")

    def _dispatch(self, kind: int, body: bytes):
        """Handle an unsolicited packet; returns it for the caller's own waits."""
        if kind & 0xF0 == PUBLISH:
            qos = (kind >> 1) & 3
            size = (body[0] << 8) | body[1]
            topic = bytes(body[2 : 2 + size]).decode()
            at = 2 + size
            if qos:
                pid = body[at : at + 2]
                at += 2
                self._packet(PUBACK, bytes(pid))
            self.on_message(topic, bytes(body[at:]), bool(kind & 1))
        return kind, body

    def _expect(self, want: int, pid=None, wait_ms: int = 10000) -> bytes:
        start = hw.ticks_ms()
        while True:
            left = wait_ms - hw.ticks_diff(hw.ticks_ms(), start)
            if left <= 0:
                raise hw.NetError("no reply 0x%02x in %d ms" % (want, wait_ms))
            packet = self._receive(left)
            if packet is None:
                continue
            kind, body = self._dispatch(*packet)
            if kind == want and (pid is None or (body[0] << 8 | body[1]) == pid):
                return body

    # -- public ------------------------------------------------------------------------
    def connect(self, stream, clean: bool = True, wait_ms: int = 10000) -> None:
        self.stream = stream
        flags = 0x02 if clean else 0
        payload = _string(self.client_id)
        if self.will is not None:
            topic, message, retain = self.will
            flags |= 0x04 | 0x08 | (0x20 if retain else 0)  # will, will QoS 1, retain
            payload += _string(topic) + _string(message)
        if self.user is not None:
            flags |= 0x80
            payload += _string(self.user)
        if self.password is not None:
            flags |= 0x40
            payload += _string(self.password)
        header = _string("MQTT") + bytes((4, flags, self.keepalive >> 8, self.keepalive & 0xFF))
        self._packet(CONNECT, header + payload)
        body = self._expect(CONNACK, wait_ms=wait_ms)
        if body[1] != 0:
            self.close()
            raise Refused("connection", body[1])

    def publish(self, topic: str, payload: bytes, retain: bool = False, qos: int = 1, wait_ms: int = 10000):
        """Send; at QoS 1, return once the broker's PUBACK arrived."""
        body = _string(topic)
        pid = 0
        if qos:
            pid = self._next_pid()
            body += bytes((pid >> 8, pid & 0xFF))
        self._packet(PUBLISH | (qos << 1) | (1 if retain else 0), body + payload)
        if qos:
            self._expect(PUBACK, pid, wait_ms)
        return pid

    def publish_stream(self, topic: str, size: int, write, qos: int = 1, wait_ms: int = 10000):
        """PUBLISH a payload of ``size`` bytes that ``write(out)`` produces piece by
        piece (never whole in memory); at QoS 1, return once the broker's PUBACK came."""
        name = _string(topic)
        pid = self._next_pid() if qos else 0
        ident = bytes((pid >> 8, pid & 0xFF)) if qos else b""
        self._write(bytes((PUBLISH | (qos << 1),)) + _length(len(name) + len(ident) + size) + name + ident)
        sent = [0]

        def out(piece: bytes) -> None:
            sent[0] += len(piece)
            self._write(piece)

        write(out)
        if sent[0] != size:  # the stream is now out of step: drop the connection
            self.close()
            raise hw.NetError("payload was %d bytes, announced %d" % (sent[0], size))
        if qos:
            self._expect(PUBACK, pid, wait_ms)
        return pid

    def subscribe(self, topic: str, qos: int = 1, wait_ms: int = 10000) -> None:
        pid = self._next_pid()
        self._packet(SUBSCRIBE, bytes((pid >> 8, pid & 0xFF)) + _string(topic) + bytes((qos,)))
        body = self._expect(SUBACK, pid, wait_ms)
        if body[2] == 0x80:
            raise Refused("subscription to " + topic, 0x80)

    def wait(self, wait_ms: int) -> bool:
        """Handle at most one incoming packet; False when none came in wait_ms."""
        packet = self._receive(wait_ms)
        if packet is None:
            return False
        self._dispatch(*packet)
        return True

    def ping(self, wait_ms: int = 10000) -> None:
        self._packet(PINGREQ, b"")
        self._expect(PINGRESP, wait_ms=wait_ms)

    def disconnect(self) -> None:
        try:
            self._packet(DISCONNECT, b"")
        except hw.NetError:
            pass
        self.close()

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except OSError:
                pass
            self.stream = None


def _ignore(topic: str, payload: bytes, retained: bool) -> None:
    pass
