"""A fleet of virtual gauges, each running the real firmware (``firmware/app.py``
through :mod:`simulator.firmware`) with its own flash folder, virtual clock,
simulated sensor and broker account.

The firmware is blocking code (it polls its socket), so the fleet does not give a
thread to each device: a small pool of workers takes whichever device is due next
(a heap ordered by each device's virtual clock), runs one firmware cycle and puts it
back. Virtual time runs ``accelerate`` times faster than the wall clock (``None``:
as fast as the workers go) from ``start``; a device leaves the fleet when its clock
reaches ``end``. At the end each gauge connects once more to send what waits on its
flash (``drain``), so every reading taken can be accounted for.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from simulator.firmware import firmware, virtual_gauge

LevelFunction = Callable[[int], int]


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One virtual gauge: its broker identity, where it is mounted (mm above the
    level datum) and the water level (mm) it sees at each Unix second."""

    device_id: str
    password: str
    mount_mm: int
    level_mm: LevelFunction


def start_for(now: float, minutes: float, accelerate: float | None) -> int:
    """The virtual start that makes the run end at the wall clock's ``now`` plus its
    duration: readings are never stamped in the future (ingest would refuse them)."""
    return int(now - minutes * 60 * (1 - (1 / accelerate if accelerate else 0)))


def normal_level(base_mm: int, *, seed: str) -> LevelFunction:
    """A quiet river at ``base_mm`` with a slow daily swing of a few cm and
    millimetres of ripple, different for each ``seed``."""
    phase = zlib.crc32(seed.encode()) % 86400

    def level(t: int) -> int:
        ripple = zlib.crc32(b"%d" % t + seed.encode()) % 7 - 3
        return base_mm + int(30 * math.sin(2 * math.pi * (t + phase) / 86400)) + ripple

    return level


@dataclass(slots=True)
class FleetReport:
    devices: int = 0
    taken: int = 0  # readings measured and put on flash
    acknowledged: int = 0  # of those, confirmed by the server's watermark
    cycles: int = 0
    uplinks: int = 0
    errors: int = 0  # cycles that ended with an error recorded (sent in the next status)
    last_error: str | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    per_device: dict[str, tuple[int, int]] = field(default_factory=dict)  # taken, acknowledged

    @property
    def readings_per_s(self) -> float:
        return self.acknowledged / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_s_per_1000(self) -> float:
        return 1000 * self.cpu_s / self.acknowledged if self.acknowledged else math.nan


class _Device:
    def __init__(self, spec: DeviceSpec, folder: Path, site: dict, start: int) -> None:
        self.spec = spec
        self.gauge, self.board, self.clock = virtual_gauge(
            folder,
            {**site, "device": spec.device_id, "password": spec.password, "mount_m": spec.mount_mm / 1000},
            start=start,
            level_mm=spec.level_mm,
        )
        self.gauge.sensor.MAX_MM = spec.mount_mm  # a radar's range: any level of the station reads
        self.measured = 0
        self.uplinks = 0
        self.depth0 = self.gauge.buffer.depth()
        self.dropped0 = self.gauge.buffer.dropped
        measure, connect = self.gauge.measure, self.board.connect

        def measured() -> None:  # readings put on flash (renumbering after a wiped flash re-appends)
            before = self.gauge.state["seq"]
            measure()
            self.measured += self.gauge.state["seq"] > before

        def counted(*args, **kwargs):
            self.uplinks += 1
            return connect(*args, **kwargs)

        self.gauge.measure = measured
        self.board.connect = counted

    def taken(self) -> int:
        return self.measured

    def acknowledged(self) -> int:
        buffer = self.gauge.buffer
        return self.measured + self.depth0 - buffer.depth() - (buffer.dropped - self.dropped0)


class FirmwareFleet:
    """``site`` holds the firmware settings every gauge shares (broker host and
    port, intervals…); ``folder`` gets one flash folder per device."""

    def __init__(
        self,
        specs: list[DeviceSpec],
        *,
        folder: Path,
        site: dict,
        start: int,
        workers: int = 64,
    ) -> None:
        _, _, settings = firmware()
        settings.site_settings(site)  # unknown names fail here, not in every device
        self.start = start
        self.workers = max(1, min(workers, len(specs)))
        self.devices = [_Device(spec, folder / spec.device_id, site, start) for spec in specs]
        self._cond = threading.Condition()
        self._heap: list[tuple[int, int]] = []
        self._errors = 0
        self._last_error: str | None = None
        self._cycles = 0

    def run(
        self,
        *,
        minutes: float,
        accelerate: float | None = None,
        drain: bool = True,
        stopping: threading.Event | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> FleetReport:
        """Run every gauge from ``start`` for ``minutes`` of virtual time."""
        stopping = stopping or threading.Event()
        end = self.start + int(minutes * 60)
        cpu0, wall0 = time.process_time(), time.monotonic()
        self._heap = [(d.clock.time(), i) for i, d in enumerate(self.devices)]
        heapq.heapify(self._heap)
        running: set[int] = set()

        def virtual_now() -> float:
            if accelerate is None:
                return math.inf
            return self.start + (time.monotonic() - wall0) * accelerate

        def next_due() -> int | None:
            with self._cond:
                while True:
                    if stopping.is_set() or not self._heap or self._heap[0][0] >= end:
                        self._cond.notify_all()
                        return None
                    wake, index = self._heap[0]
                    ahead = wake - virtual_now()
                    if ahead <= 0:
                        heapq.heappop(self._heap)
                        running.add(index)
                        return index
                    self._cond.wait(min(ahead / accelerate if accelerate else 0.5, 0.5))

        def work() -> None:
            while (index := next_due()) is not None:
                device = self.devices[index]
                seconds = device.gauge.run_cycle()
                device.board.sleep(seconds)
                error = device.gauge.state.get("err")
                with self._cond:
                    self._cycles += 1
                    if error:
                        self._errors += 1
                        self._last_error = f"{device.spec.device_id}: {error}"
                    running.discard(index)
                    heapq.heappush(self._heap, (device.clock.time(), index))
                    self._cond.notify_all()

        threads = [threading.Thread(target=work, daemon=True) for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                if on_progress is not None:
                    with self._cond:
                        low = self._heap[0][0] if self._heap else end
                    on_progress(min(1.0, (min(low, end) - self.start) / max(1, end - self.start)))
                thread.join(0.2)
        if drain and not stopping.is_set():
            with ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(self._drain, self.devices))
        if on_progress is not None:
            on_progress(1.0)
        return self._report(time.monotonic() - wall0, time.process_time() - cpu0)

    def _drain(self, device: _Device) -> None:
        """Send what waits on the gauge's flash (the firmware's own uplink)."""
        hw = firmware()[1]
        if not device.gauge.buffer.depth():
            return
        try:
            device.gauge.uplink()
        except hw.NetError as error:
            with self._cond:
                self._errors += 1
                self._last_error = f"{device.spec.device_id}: {error}"

    def _report(self, wall_s: float, cpu_s: float) -> FleetReport:
        report = FleetReport(
            devices=len(self.devices),
            cycles=self._cycles,
            errors=self._errors,
            last_error=self._last_error,
            wall_s=wall_s,
            cpu_s=cpu_s,
        )
        for device in self.devices:
            taken, acked = device.taken(), device.acknowledged()
            report.taken += taken
            report.acknowledged += acked
            report.uplinks += device.uplinks
            report.per_device[device.spec.device_id] = (taken, acked)
        return report
