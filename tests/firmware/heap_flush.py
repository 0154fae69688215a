"""Heap use of one flush of a 200-reading backlog in one batch under MicroPython (see
run.mjs for the steps): everything allocated while the gauge connects, sends the
batch and takes the acknowledgement, with the collector off, so the figure is all
the flush asks of the heap. The broker's side keeps nothing it was sent (a sink),
so only the firmware's own allocations count."""

# ruff: noqa: UP031  (MicroPython runs this file too; %-formatting is its idiom)

import gc

import app
import fakes
import settings

T0 = 1763880000


class Sink(fakes.Stream):
    def write(self, data) -> int:
        n = fakes.Stream.write(self, data)
        self.written = b""
        return n


clock = fakes.Clock(T0)
broker = fakes.Broker()
board = fakes.Board(
    clock, lambda host, port, tls, timeout_s: Sink(broker), ntp_time=lambda: T0 + clock.ms // 1000
)
site = settings.site_settings(
    {"device": "kw-demo-01", "password": "p" * 32, "broker_host": "b", "mount_m": 15.8, "batch": 200}
)
gauge = app.Gauge(site, board, clock, fakes.Sensor(clock, 15800, lambda t: 12000 + (t - T0) // 600), "/data")
board.wifi = False
for _ in range(200):
    gauge.measure()
gauge.save()
board.wifi = True
gauge.state["net_next"] = 0
broker.published = []
# ---
gc.collect()
# ---
before = gc.mem_alloc()
gc.disable()
gauge.uplink()
print("flush200_alloc: %d" % (gc.mem_alloc() - before))
gc.enable()
print("flush200_left: %d" % gauge.buffer.depth())
print("flush200_messages: %d" % len([t for t, p, r in broker.published if t.endswith("/reading")]))
