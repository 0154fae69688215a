"""Heap and CPU use of the firmware under MicroPython, in steps (see run.mjs): the
live heap after importing it and setting up a gauge with a 60-reading backlog,
everything allocated during one full cycle that measures 20 samples and flushes that
backlog (an upper bound of what the cycle needs beyond the live heap), the live heap
after, and the CPU time of a flush cycle and of a measurement-only cycle (the fake
sensor and clock take no time, so this is the firmware's own work)."""

# ruff: noqa: UP031  (MicroPython runs this file too; %-formatting is its idiom)

import gc
import time

gc.collect()
# ---
base = gc.mem_alloc()
import app  # noqa: E402
import fakes  # noqa: E402
import settings  # noqa: E402

T0 = 1763880000
clock = fakes.Clock(T0)
broker = fakes.Broker()
board = fakes.Board(clock, broker.stream, ntp_time=lambda: T0 + clock.ms // 1000)
site = settings.site_settings(
    {"device": "kw-demo-01", "password": "p" * 32, "broker_host": "b", "mount_m": 15.8}
)
gauge = app.Gauge(site, board, clock, fakes.Sensor(clock, 15800, lambda t: 12000 + (t - T0) // 600), "/data")
board.wifi = False
for _ in range(60):
    board.sleep(gauge.run_cycle())
board.wifi = True
gauge.state["net_next"] = 0
board.log = []
# ---
gc.collect()
# ---
live = gc.mem_alloc()
print("heap_firmware: %d" % (live - base))
gc.disable()
started = time.ticks_ms()
board.sleep(gauge.run_cycle())
print("cpu_ms_flush_cycle: %d" % time.ticks_diff(time.ticks_ms(), started))
print("heap_cycle_alloc: %d" % (gc.mem_alloc() - live))
gc.enable()
print("backlog_left: %d" % gauge.buffer.depth())
board.wifi = False
started = time.ticks_ms()
for _ in range(10):
    board.sleep(gauge.run_cycle())
print("cpu_ms_measure_cycle: %d" % (time.ticks_diff(time.ticks_ms(), started) // 10))
broker.published = []
# ---
gc.collect()
# ---
print("heap_after: %d" % (gc.mem_alloc() - base))
