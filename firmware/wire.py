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
    One reading goes alone, several as a batch ``{"v":1,"rssi":…,"r":[…]}``."""
    if len(records) == 1:
        item = reading(records[0], now_dt, rssi)
        return ('{"v":1,' + item[1:]).encode(), 1, records[0][0]
    head = '{"v":1'
    if rssi is not None:
        head += ',"rssi":%d' % rssi
    parts: list = []
    size = len(head) + 8
    for record in records:
        item = reading(record, now_dt)
        if parts and size + len(item) + 1 > limit_bytes:
            break
        parts.append(item)
        size += len(item) + 1
    body = head + ',"r":[' + ",".join(parts) + "]}"
    return body.encode(), len(parts), records[len(parts) - 1][0]


STATUS_KEYS = ("fw", "bat", "rssi", "up", "buf", "drop", "cfg", "reset", "boot", "mem", "serr", "err", "cfg_error")


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


def ack(payload: bytes):
    """The server's acknowledgement watermark ``{"v":1,"seq":N}``, or None."""
    try:
        document = hw.loads(payload)
    except (ValueError, UnicodeError):
        return None
    if not isinstance(document, dict) or document.get("v") != 1:
        return None
    seq = document.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        return None
    return seq
