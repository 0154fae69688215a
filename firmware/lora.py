"""The gauge's side of LoRaWAN: its readings as 11-byte uplinks through an AT-command
modem (Seeed LoRa-E5 / Wio-E5 AT firmware), configuration from downlinks. The payload
is ``kawamori/lorawan.py``'s, byte for byte (the tests decode this module's bytes with
the server's code); the network server and ``ingest/lorawan.py`` do the rest.

A reading counts as delivered when the network server acknowledges its confirmed
uplink: weaker than the MQTT path's watermark (the server has not stored it yet), so
``ingest`` still stores it exactly once per seq if the gauge sends it twice. Uplinks
are spaced by the modem itself (duty cycle, dwell time); a few per wake-up at most.
"""

import cellular
import hw

VERSION = 1
FPORT_CONFIG = 2
CLOCK_SKEW = 16  # kawamori.model.Quality: the time is later than the truth (age capped)
# downlink key number → (setting, multiplier), as kawamori/lorawan.py CONFIG_KEYS
CONFIG_KEYS = {
    1: ("slow_s", 1),
    2: ("fast_s", 1),
    3: ("send_s", 1),
    4: ("fast_on_m", 1000),
    5: ("fast_off_m", 1000),
    6: ("mount_m", 1000),
    7: ("rise_m_h", 1000),
    8: ("samples", 1),
    9: ("burst_s", 1),
    10: ("health_s", 1),
}


def payload(record, now_dt: int) -> bytes:
    """One buffered reading (a store record) as the 11-byte uplink."""
    seq, _, dt, level_mm, _, bat_mv, q, _, _ = record
    age = (now_dt - dt) // 60
    if age > 255:  # older than 4 h 15 min: sent as 255 minutes, flagged
        age = 255
        q |= CLOCK_SKEW
    battery = max(1, min(255, (bat_mv - 2000 + 5) // 10)) if bat_mv else 0
    level = level_mm & 0xFFFFFF  # two's complement, 24 bit
    return bytes(
        (
            VERSION,
            (seq >> 24) & 0xFF,
            (seq >> 16) & 0xFF,
            (seq >> 8) & 0xFF,
            seq & 0xFF,
            level >> 16,
            (level >> 8) & 0xFF,
            level & 0xFF,
            battery,
            q & 0xFF,
            max(0, age),
        )
    )


def config(data: bytes, current: int):
    """A configuration downlink as the document ``settings.remote`` checks: ``(cfg,
    {setting: value})``; None when it is not one. Only the settings it names change."""
    if len(data) < 3 or (len(data) - 3) % 4 or data[0] != VERSION:
        return None
    values = {}
    for at in range(3, len(data), 4):
        if data[at] not in CONFIG_KEYS:
            return None
        name, scale = CONFIG_KEYS[data[at]]
        raw = (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]
        if raw & 0x800000:
            raw -= 0x1000000
        values[name] = raw / scale if scale != 1 else raw
    return (data[1] << 8) | data[2], values


class Modem:
    """A LoRa-E5 on a UART: OTAA join once, then confirmed uplinks on fPort 1."""

    def __init__(self, uart, clock) -> None:
        self.uart = uart
        self.clock = clock
        self.joined = False

    def join(self, timeout_s: int) -> None:
        cellular.chat(self.uart, self.clock, "AT+MODE=LWOTAA", "+MODE: LWOTAA", 2000)
        reply = cellular.chat(self.uart, self.clock, "AT+JOIN", "+JOIN: Done", timeout_s * 1000)
        if "+JOIN: Network joined" not in reply:
            raise hw.NetError("LoRaWAN: join failed")
        self.joined = True

    def send(self, data: bytes):
        """A confirmed uplink: ``(acknowledged, downlink bytes or None, its port)``."""
        hexed = "".join("%02X" % b for b in data)
        reply = cellular.chat(self.uart, self.clock, 'AT+CMSGHEX="%s"' % hexed, "+CMSGHEX: Done", 20000)
        downlink = None
        port = None
        for line in reply.split("\n"):
            if line.startswith("+CMSGHEX: PORT:") and 'RX: "' in line:
                port = int(line.split("PORT:")[1].split(";")[0])
                text = line.split('RX: "')[1].split('"')[0]
                downlink = bytes(bytearray(int(text[i : i + 2], 16) for i in range(0, len(text), 2)))
        return "+CMSGHEX: ACK Received" in reply, downlink, port
