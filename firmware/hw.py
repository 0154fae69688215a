"""Platform differences, decided once: MicroPython on an ESP32 or a Pico W, or
CPython (tests and the simulator). Every other firmware module imports time, JSON,
ticks and the board from here and never asks which platform it runs on.

On a board, :class:`Board` and :class:`Clock` drive the hardware (``machine``,
``network``, ``ntptime``); those modules are imported only when a board object is
made, so the logic modules load under CPython and the WebAssembly MicroPython too.
"""

import sys

MICROPYTHON = sys.implementation.name == "micropython"

import json  # noqa: E402  (ujson is json on MicroPython >= 1.22)
import time  # noqa: E402

_TICKS = getattr(time, "ticks_ms", None)  # MicroPython
_SLEEP_MS = getattr(time, "sleep_ms", None)
_MONOTONIC = getattr(time, "monotonic", None)  # CPython


def ticks_ms() -> int:
    """Milliseconds, wrapping at 2**30 like MicroPython's ticks."""
    if _TICKS is not None:
        return int(_TICKS())
    assert _MONOTONIC is not None
    return int(_MONOTONIC() * 1000) & 0x3FFFFFFF


def ticks_diff(a: int, b: int) -> int:
    half = 0x20000000
    return ((a - b + half) & 0x3FFFFFFF) - half


def sleep_ms(ms: int) -> None:
    if _SLEEP_MS is not None:
        _SLEEP_MS(ms)
    else:
        time.sleep(ms / 1000)


# Unix seconds = board seconds + EPOCH (some ports count from 2000-01-01)
EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
CLOCK_SET_AFTER = 1704067200  # 2024-01-01: an RTC earlier than this was never set

import gc  # noqa: E402


def mem_free():
    """Free heap in bytes on MicroPython; None elsewhere."""
    if not MICROPYTHON:
        return None
    gc.collect()
    return gc.mem_free()


def random_permille() -> int:
    """A random number 0–1000 (the board's hardware RNG through os.urandom)."""
    import os

    try:
        data = os.urandom(2)
    except (AttributeError, OSError, NotImplementedError):  # a port without a RNG: no jitter
        return 1000
    return (data[0] << 8 | data[1]) % 1001


def loads(data):
    return json.loads(data)


def dumps(value) -> str:
    return json.dumps(value)


def dumps_str(text: str) -> str:
    """A JSON string literal (ASCII only, the same bytes on every platform)."""
    out = '"'
    for ch in text:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out += "\\" + ch
        elif code < 32 or code > 126:
            out += "\\u%04x" % (code if code < 0x10000 else 0xFFFD)
        else:
            out += ch
    return out + '"'


def rename(src: str, dst: str) -> None:
    import os

    try:
        os.rename(src, dst)
    except OSError:  # FAT on some ports refuses to replace an existing file
        os.remove(dst)
        os.rename(src, dst)


def exists(path: str) -> bool:
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


class NetError(Exception):
    """Every network failure (Wi-Fi, DNS, TCP, TLS, MQTT protocol, timeouts)."""


class Stream:
    """A TCP (or TLS) connection with MicroPython's stream methods (read, write,
    readable, close) on CPython, so the MQTT client sees one interface."""

    def __init__(self, sock) -> None:
        self.sock = sock

    def read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise OSError("connection closed")
            data += chunk
        return data

    def write(self, data: bytes) -> int:
        self.sock.sendall(data)
        return len(data)

    def readable(self, wait_ms: int) -> bool:
        pending = getattr(self.sock, "pending", None)  # bytes already decrypted by TLS
        if pending is not None and pending():
            return True
        import select

        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(wait_ms))

    def close(self) -> None:
        self.sock.close()


def readable(stream, wait_ms: int) -> bool:
    """Whether ``stream`` has data within ``wait_ms`` (MicroPython sockets, plain or
    TLS, through select.poll; CPython streams and test fakes through their own)."""
    own = getattr(stream, "readable", None)
    if own is not None:
        return own(wait_ms)
    import select

    poller = select.poll()
    poller.register(stream, select.POLLIN)
    return bool(poller.poll(wait_ms))


def open_stream(host: str, port: int, tls: bool, ca_file: str, timeout_s: float):
    """A connected stream to host:port, TLS-wrapped (the server certificate checked
    against ``ca_file``) if asked; raises NetError."""
    try:
        import socket

        info = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], info[1])
        sock.settimeout(timeout_s)
        sock.connect(info[-1])
        if tls:
            import ssl

            sock = tls_context(ssl, ca_file).wrap_socket(sock, server_hostname=host)
        return sock if MICROPYTHON else Stream(sock)
    except NetError:
        raise
    except Exception as error:  # DNS, refused, TLS: one kind of error
        raise NetError("connect %s:%d: %r" % (host, port, error)) from None


def tls_context(ssl, ca_file: str):
    """A client context that checks the server's certificate chain against ``ca_file``
    and its name against the host, or NetError: never an unchecked connection.
    MicroPython 1.22 and 1.23 make client contexts that check nothing unless told
    (``verify_mode`` CERT_NONE, unlike CPython); older ones have no SSLContext."""
    if not hasattr(ssl, "SSLContext") or not hasattr(ssl, "CERT_REQUIRED"):
        raise NetError("TLS: this MicroPython cannot check certificates (1.22 or newer needed)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    if getattr(context, "verify_mode", None) != ssl.CERT_REQUIRED:
        raise NetError("TLS: certificate checks could not be switched on; refusing to connect")
    context.load_verify_locations(cafile=ca_file)
    return context


class Clock:
    """The board's real-time clock; it keeps running through deep sleep and
    restarts (unset) after a power loss. With ``light`` the waits between samples
    are light sleep (0.8 mA instead of ~30 mA on an ESP32)."""

    def __init__(self, light: bool = False, feed=None) -> None:
        self.light = light
        self.feed = feed  # the watchdog, fed before every wait

    def time(self) -> int:
        return int(time.time()) + EPOCH

    def ticks_ms(self) -> int:
        return ticks_ms()

    def sleep_ms(self, ms: int) -> None:
        if self.feed is not None:
            self.feed()
        if self.light and ms >= 20:
            import machine

            machine.lightsleep(ms)
        else:
            sleep_ms(ms)

    def set_time(self, unix: int) -> None:
        import machine

        tm = time.gmtime(unix - EPOCH)
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))


_RESET_NAMES = (
    ("PWRON_RESET", "power"),
    ("HARD_RESET", "hard"),
    ("WDT_RESET", "watchdog"),
    ("DEEPSLEEP_RESET", "deepsleep"),
    ("SOFT_RESET", "soft"),
    ("BROWN_OUT_RESET", "brownout"),  # not on an ESP32: there a brown-out reads as power-on
)
WDT_MAX_MS = 8300 if sys.platform == "rp2" else 600000  # the RP2040's watchdog tops out at 8.3 s


class Board:
    """A real ESP32 or Pico W: Wi-Fi, NTP, battery ADC, watchdog and sleep."""

    def __init__(self, site: dict) -> None:
        import machine
        import network

        self.machine = machine
        self.site = site
        self.wlan = network.WLAN(network.STA_IF)
        self.esp32 = sys.platform == "esp32"
        timeout = min(int(site["watchdog_s"]) * 1000, WDT_MAX_MS)
        self.wdt = machine.WDT(timeout=timeout) if site["watchdog_s"] else None
        pin = site["battery_pin"]
        self.adc = machine.ADC(machine.Pin(pin)) if pin is not None else None
        self.cellular = None
        self.lora = None
        if site["uplink"] == "lorawan":  # readings go through the network server, not MQTT
            import lora

            uart = machine.UART(site["lora_uart"], 9600, tx=site["lora_tx_pin"], rx=site["lora_rx_pin"], timeout=0)
            self.lora = lora.Modem(uart, Clock(feed=self.feed))
        if site["uplink"] == "ppp":  # a modem instead of Wi-Fi; the same TLS/MQTT above it
            import cellular

            uart = machine.UART(site["ppp_uart"], 115200, tx=site["ppp_tx_pin"], rx=site["ppp_rx_pin"], timeout=0)
            power = site["modem_power_pin"]
            self.cellular = cellular.Cellular(
                site,
                uart,
                network.PPP,
                Clock(feed=self.feed),
                machine.Pin(power, machine.Pin.OUT, value=0) if power is not None else None,
            )
        if self.adc is not None and self.esp32:
            self.adc.atten(machine.ADC.ATTN_11DB)

    def feed(self) -> None:
        if self.wdt is not None:
            self.wdt.feed()

    def reset_cause(self) -> str:
        cause = self.machine.reset_cause()
        for constant, name in _RESET_NAMES:
            if getattr(self.machine, constant, None) == cause:
                return name
        return "unknown"

    def battery_mv(self):
        if self.adc is None:
            return None
        total = 0
        for _ in range(8):
            total += self.adc.read_uv()
        return int(total / 8 / 1000 * self.site["battery_divider"])

    def wifi_up(self, timeout_s: int) -> None:
        if self.cellular is not None:
            self.cellular.up(self.site["ppp_timeout_s"])
            return
        if not self.wlan.active():
            self.wlan.active(True)
        if self.wlan.isconnected():
            return
        self.wlan.connect(self.site["wifi_ssid"], self.site["wifi_key"])
        start = ticks_ms()
        while not self.wlan.isconnected():
            if ticks_diff(ticks_ms(), start) > timeout_s * 1000:
                self.wifi_down()
                raise NetError("Wi-Fi %r: no connection in %d s" % (self.site["wifi_ssid"], timeout_s))
            self.feed()
            sleep_ms(100)

    def wifi_down(self) -> None:
        if self.cellular is not None:
            self.cellular.down()
            return
        try:
            self.wlan.disconnect()
        except OSError:
            pass
        self.wlan.active(False)

    def rssi(self):
        if self.cellular is not None:
            return self.cellular.rssi()
        try:
            return int(self.wlan.status("rssi"))
        except (OSError, ValueError, TypeError):
            return None

    def ntp(self):
        """Unix seconds from the site's NTP server, or None."""
        import ntptime

        ntptime.host = self.site["ntp_host"]
        try:
            return int(ntptime.time()) + EPOCH
        except (OSError, OverflowError, IndexError):
            return None

    def connect(self, host: str, port: int, tls: bool, timeout_s: float):
        return open_stream(host, port, tls, self.site["ca_file"], timeout_s)

    def reset(self) -> None:
        """Start again from main.py (after an update is installed or rolled back)."""
        self.machine.reset()

    def sleep(self, seconds: int) -> None:
        """Deep sleep on battery (the board restarts from main.py), else wait awake."""
        self.feed()
        if self.site["deep_sleep"]:
            self.machine.deepsleep(seconds * 1000)
        end = ticks_ms()
        while ticks_diff(ticks_ms(), end) < seconds * 1000:
            self.feed()
            sleep_ms(1000)
