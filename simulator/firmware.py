"""Virtual gauges that run the real firmware (``firmware/*.py``, unchanged) under
CPython: an accelerated clock (sleeping advances it at once), a sensor that follows
a level function, and a board whose Wi-Fi is this machine's network. The firmware
talks real MQTT to a real broker. Used by the firmware-in-the-loop tests; run as a
program it is one virtual gauge (``python -m simulator.firmware SPEC.json``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"


def firmware():
    """The firmware's modules (imported from the checkout's ``firmware/``)."""
    if str(FIRMWARE) not in sys.path:
        sys.path.insert(0, str(FIRMWARE))
    import app
    import hw
    import settings

    return app, hw, settings


class VirtualClock:
    """The board's RTC and ticks, ``start`` Unix seconds at power-on."""

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


class VirtualSensor:
    """An ultrasonic sensor ``mount_mm`` above the water, whose level (mm) is
    ``level_at(unix seconds)``."""

    MIN_MM = 30
    MAX_MM = 4500
    DEPTH = False

    def __init__(self, clock: VirtualClock, mount_mm: int, level_at: Callable[[int], int]) -> None:
        self.clock = clock
        self.mount_mm = mount_mm
        self.level_at = level_at

    def power(self, on: bool) -> int:
        return 0  # always on: no warm-up wait

    def read(self) -> int:
        self.clock.sleep_ms(50)
        return self.mount_mm - self.level_at(self.clock.time())


class VirtualBoard:
    """Wi-Fi is always there (unless ``wifi`` is False); the broker is reached over
    this machine's network; there is no NTP server unless ``ntp`` is given."""

    def __init__(self, clock: VirtualClock, *, ntp: Callable[[], int] | None = None) -> None:
        self.clock = clock
        self.ntp_time = ntp
        self.wifi = True
        self.connects = 0

    def feed(self) -> None:
        pass

    def reset_cause(self) -> str:
        return "power"

    def battery_mv(self) -> int:
        return 3900

    def rssi(self) -> int:
        return -67

    def wifi_up(self, timeout_s: int) -> None:
        _, hw, _ = firmware()
        if not self.wifi:
            raise hw.NetError(f"Wi-Fi: no connection in {timeout_s} s")

    def wifi_down(self) -> None:
        pass

    def ntp(self) -> int | None:
        return self.ntp_time() if self.ntp_time else None

    def connect(self, host: str, port: int, tls: bool, timeout_s: float):
        _, hw, _ = firmware()
        self.connects += 1
        return hw.open_stream(host, port, tls, "", timeout_s)

    def sleep(self, seconds: int) -> None:
        self.clock.sleep_ms(seconds * 1000)


def virtual_gauge(folder: Path, site: dict, *, start: int, level_mm: Callable[[int], int]):
    """A firmware ``Gauge`` on virtual hardware; returns ``(gauge, board, clock)``."""
    app, _, settings = firmware()
    folder.mkdir(parents=True, exist_ok=True)
    values = settings.site_settings(site)
    clock = VirtualClock(start)
    board = VirtualBoard(clock)
    sensor = VirtualSensor(clock, int(values["mount_m"] * 1000), level_mm)
    return app.Gauge(values, board, clock, sensor, str(folder)), board, clock


def main(argv: list[str]) -> None:
    """Run one virtual gauge from a JSON spec: folder, site, start, level_mm,
    cycles, wifi. Prints ``seq <next seq> <buffered>`` after every cycle."""
    spec = json.loads(Path(argv[0]).read_text())
    gauge, board, _ = virtual_gauge(
        Path(spec["folder"]), spec["site"], start=spec["start"], level_mm=lambda t: spec["level_mm"]
    )
    board.wifi = spec.get("wifi", True)
    for _ in range(spec["cycles"]):
        board.sleep(gauge.run_cycle())
        print("seq", gauge.state["seq"], gauge.buffer.depth(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
