"""Payloads of the MQTT contract v1 (docs/mqtt.md), byte for byte the same on every
platform: keys in a fixed order, numbers formatted from integers (millimetres,
millivolts), so a board with single-precision floats sends what CPython sends.
"""

import hw

PREFIX = "kawamori/v1/"


def topic(device: str, kind: str) -> str:
    return PREFIX + device + "/" + kind


def fixed(value: int, places: int) -> str:
    """An integer in 1/10**places units as a decimal: fixed(552, 3) == '0.552'."""
    scale = 10**places
    sign = "-" if value < 0 else ""
    value = abs(value)
    fraction = str(value % scale)
    return "%s%d.%s%s" % (sign, value // scale, "0" * (places - len(fraction)), fraction)


def reading(record, now_dt: int, rssi=None) -> str:
    """One buffered reading (a :class:`store.Record`) as a JSON object. A reading
    taken before the clock was set carries its ``age`` in seconds instead of ``t``."""
    seq, t, dt, level_mm, dist_mm, bat_mv, q, spread_mm, valid = record
    out = '{"seq":%d' % seq
    if t:
        out += ',"t":%d' % t
    else:
        out += ',"age":%d' % max(0, now_dt - dt)
    out += ',"level":' + fixed(level_mm, 3)
    if dist_mm is not None:
        out += ',"dist":' + fixed(dist_mm, 3)
    if bat_mv:
        out += ',"bat":' + fixed(bat_mv // 10, 2)
    if rssi is not None:
        out += ',"rssi":%d' % rssi
    return out + ',"q":%d,"sd":%s,"n":%d}' % (q, fixed(spread_mm, 3), valid)


def readings(records, now_dt: int, rssi, limit_bytes: int = 16384) -> tuple:
    """A ``reading`` payload for as many of ``records`` (oldest first) as fit in
    ``limit_bytes``: ``(payload bytes, number of records in it, highest seq)``.
    One reading goes alone, several as a batch ``{"v":1,"rssi":…,"r":[…]}``. The
    firmware itself sends a :class:`Batch` piece by piece; this is the whole of it."""
    batch = Batch(records, now_dt, rssi, limit_bytes)
    parts: list = []
    batch.write(parts.append)
    return b"".join(parts), batch.count, batch.last


class Batch:
    """A ``reading`` payload written piece by piece (the bytes :func:`readings` would
    make): ``size`` is known before anything is sent (MQTT needs it first), then
    :meth:`write` hands one reading at a time to the socket. The message never exists
    whole in memory: a flush needs the heap of one reading, not of three copies."""

    def __init__(self, records, now_dt: int, rssi, limit_bytes: int = 16384) -> None:
        self.records = records
        self.now_dt = now_dt
        self.rssi = rssi
        if len(records) == 1:
            self.head = '{"v":1,'
            self.size = len(self.head) + len(reading(records[0], now_dt, rssi)) - 1
            self.count = 1
        else:
            self.head = '{"v":1' + (',"rssi":%d' % rssi if rssi is not None else "") + ',"r":['
            size = len(self.head) + 2
            count = 0
            for record in records:
                item = len(reading(record, now_dt)) + (1 if count else 0)
                if count and size + item > limit_bytes:
                    break
                size += item
                count += 1
            self.size = size
            self.count = count
        self.last = records[self.count - 1][0]

    def write(self, out) -> None:
        """Call ``out(bytes)`` for every piece, ``size`` bytes in all."""
        out(self.head.encode())
        if self.count == 1:
            out(reading(self.records[0], self.now_dt, self.rssi)[1:].encode())
            return
        for i in range(self.count):
            item = reading(self.records[i], self.now_dt)
            out((("," + item) if i else item).encode())
        out(b"]}")


STATUS_KEYS = (
    "fw",
    "bat",
    "rssi",
    "up",
    "buf",
    "drop",
    "cfg",
    "reset",
    "boot",
    "mem",
    "serr",
    "err",
    "cfg_error",
    "fault",
    "brown",
    "lowbat",
    "rot",
    "rot_ok",
)


def status(online: bool, values: dict) -> bytes:
    """The retained status message; ``values`` holds any of STATUS_KEYS (``bat`` in mV)."""
    out = '{"v":1,"online":' + ("true" if online else "false")
    for key in STATUS_KEYS:
        value = values.get(key)
        if value is None:
            continue
        if key == "bat":
            text = fixed(value // 10, 2)
        elif isinstance(value, str):
            text = hw.dumps_str(value[:120])
        else:
            text = "%d" % value
        out += ',"%s":%s' % (key, text)
    return (out + "}").encode()


OFFLINE = b'{"v":1,"online":false}'


def _ack_field(payload: bytes, key: str, least: int):
    """One integer of an acknowledgement ``{"v":1,"seq":N,"t":T}`` if it is at least
    ``least``, else None."""
    try:
        document = hw.loads(payload)
    except (ValueError, UnicodeError):
        return None
    if not isinstance(document, dict) or document.get("v") != 1:
        return None
    value = document.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        return None
    return value


def ack_time(payload: bytes):
    """The server's clock (Unix seconds) in an acknowledgement, or None (an older
    server, or not an acknowledgement)."""
    return _ack_field(payload, "t", 1)


def ack(payload: bytes):
    """The server's acknowledgement watermark ``{"v":1,"seq":N}``, or None."""
    return _ack_field(payload, "seq", 0)
