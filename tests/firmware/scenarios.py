"""Firmware scenarios that print their results, one ``name: value`` line each.
The same file runs under CPython and under MicroPython (``firmware/tests-node``);
the tests compare both transcripts line by line and check the values."""

# ruff: noqa: UP031  (MicroPython runs this file too; %-formatting is its idiom)

import sys

import app
import fakes
import hw
import measure
import mqtt
import settings
import store
import wire

MICRO = sys.implementation.name == "micropython"
if MICRO:
    DATA = "/data"
else:
    import tempfile

    DATA = tempfile.mkdtemp()

T0 = 1763880000
hw.mem_free = lambda: 91234  # the same status bytes on both interpreters
hw.random_permille = lambda: 1000  # no jitter: the same waits on both
SITE = settings.site_settings(
    {
        "device": "kw-demo-01",
        "password": "s3cret-s3cret-s3cret",
        "broker_host": "broker.test",
        "mount_m": 15.8,
        "fast_on_m": 12.5,
        "fast_off_m": 12.2,
        "send_s": 600,
    }
)


def show(name, value) -> None:
    print("%s: %r" % (name, value))


def rmtree(path: str) -> None:
    import os

    for name in os.listdir(path):
        full = path + "/" + name
        try:
            os.remove(full)
        except OSError:
            rmtree(full)
    os.rmdir(path)


def folder(name: str) -> str:
    import os

    path = DATA + "/" + name
    os.mkdir(path)
    return path


def scenario_wire() -> None:
    single = (1742, 1763880000, 0, 552, 15248, 3914, 0, 4, 20)
    show("fixed", [wire.fixed(552, 3), wire.fixed(-5, 3), wire.fixed(15000, 3), wire.fixed(391, 2)])
    show("single", wire.readings([single], 100, -71)[0])
    aged = (1743, 0, 400, 610, 15190, 0, measure.FEW_SAMPLES, 12, 8)
    show("batch", wire.readings([single, aged], 1000, -70))
    big = [(i, T0 + 600 * i, 0, 12000 + i, 3800 - i, 3900, 0, 3, 20) for i in range(300)]
    payload, count, last = wire.readings(big, 0, None)
    show("big", (len(payload), count, last))
    show(
        "status",
        wire.status(
            True,
            {
                "fw": "0.1.0",
                "bat": 3914,
                "rssi": -70,
                "up": 86400,
                "buf": 0,
                "drop": 0,
                "cfg": 3,
                "reset": "deepsleep",
                "err": 'bad "x"\n',
            },
        ),
    )
    show("offline", wire.OFFLINE)
    show(
        "ack",
        [
            wire.ack(b'{"v":1,"seq":1744}'),
            wire.ack(b"junk"),
            wire.ack(b'{"v":2,"seq":1}'),
            wire.ack(b'{"v":1,"seq":true}'),
            wire.ack(b'{"v":1,"seq":-1}'),
        ],
    )


def scenario_measure() -> None:
    clock = fakes.Clock(T0)
    sensor = fakes.Sensor(clock, 15800, lambda t: 12000, {2: 900, 4: None, 6: "raise", 9: 3790, 11: 4600})
    r = measure.burst(sensor, clock, 20, 20000, 15800, 10)
    show("burst", (r.level_mm, r.dist_mm, r.spread_mm, r.valid, r.q, clock.ms))
    noisy = [3800, 3802, 3797, 3805, 3799, 3801, 3803, 3798, 3800, 3796]
    show("robust", measure.robust(noisy + [2500, 4400]))  # noqa: RUF005
    clock = fakes.Clock(T0)
    dead = fakes.Sensor(clock, 15800, lambda t: 12000, {i: None for i in range(1, 21)})
    show("dead", measure.burst(dead, clock, 20, 20000, 15800, 10))
    clock = fakes.Clock(T0)
    close = fakes.Sensor(clock, 15800, lambda t: 15790, {})  # water inside the blind zone
    r = measure.burst(close, clock, 20, 20000, 15800, 10)
    show("blind", (r.level_mm, r.dist_mm, r.valid, r.q))
    clock = fakes.Clock(T0)
    few = fakes.Sensor(clock, 15800, lambda t: 12000, {i: None for i in range(1, 14)})
    r = measure.burst(few, clock, 20, 20000, 15800, 10)
    show("few", (r.level_mm, r.valid, r.q))


def scenario_config() -> None:
    cases = [
        b'{"v":1,"cfg":3,"slow_s":900,"fast_s":120,"fast_on_m":13,"fast_off_m":12.5}',
        b'{"v":1,"cfg":3,"slow_s":900}',
        b'{"v":1,"cfg":2,"slow_s":900}',
        b"{not json",
        b"[1,2]",
        b'{"v":1,"cfg":"4"}',
        b'{"v":1,"cfg":4,"slow_s":1}',
        b'{"v":1,"cfg":4,"slow_s":"600"}',
        b'{"v":1,"cfg":4,"samples":true}',
        b'{"v":1,"cfg":4,"samples":20.5}',
        b'{"v":1,"cfg":4,"fast_s":900,"slow_s":600}',
        b'{"v":1,"cfg":4,"fast_on_m":10,"fast_off_m":11}',
        b'{"v":1,"cfg":4,"password":"x"}',
        b'{"v":2,"cfg":4}',
        b'{"v":1,"cfg":4,"mount_m":16}',
    ]
    for i, payload in enumerate(cases):
        decision = settings.remote(SITE, payload, 3 if i in (1, 2) else 2)
        if decision is not None and decision[1] is not None:
            decision = (decision[0], [decision[1][k] for k in ("slow_s", "fast_on_m", "mount_m")], None)
        show("config%d" % i, decision)


def scenario_buffer() -> None:
    path = folder("ring")
    buf = store.Buffer(path, 256)  # 2 segments of 128
    for seq in range(300):
        buf.append((seq, T0 + seq, seq, 1000 + seq, None if seq % 2 else 2000, 3900, 0, 1, 20))
    show("ring_full", (buf.depth(), buf.dropped, buf.segments, buf.pending(2)))
    buf.ack(200)
    show("ring_ack", (buf.depth(), buf.segments, buf.pending(1)))
    again = store.Buffer(path, 256, 200, buf.dropped)
    show("ring_reopen", (again.depth(), again.last_seq(), again.pending(1)))
    with open(path + "/%08d" % again.segments[-1], "ab") as handle:
        handle.write(b"\x01\x02\x03")  # a record torn by a power cut
    torn = store.Buffer(path, 256, 200, buf.dropped)
    torn.append((301, T0, 0, 5, 6, 3900, 0, 1, 20))
    show("ring_torn", (torn.depth(), torn.last_seq(), torn.segments))
    torn.ack(301)
    show("ring_acked", (torn.depth(), torn.segments))


def flood(t: int) -> int:
    return 12000 if t < T0 + 4000 else 12000 + (t - T0 - 4000) // 2


def cycle_gauge(name: str, clock, broker, level_at=flood):
    board = fakes.Board(clock, broker.stream if broker else None, ntp_time=lambda: T0 + clock.ms // 1000)
    sensor = fakes.Sensor(clock, 15800, level_at)
    return board, app.Gauge(SITE, board, clock, sensor, folder(name))


def scenario_cycle() -> None:
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    broker.retained["kawamori/v1/kw-demo-01/config"] = b'{"v":1,"cfg":1,"slow_s":1}'
    streams = []

    def connect(host, port, tls, timeout_s):
        stream = fakes.Stream(broker)
        streams.append(stream)
        return stream

    board, gauge = cycle_gauge("cycle", clock, broker)
    board.connector = connect
    board.sleep(gauge.run_cycle())
    show("sleep1", board.sleeps)
    show("wire1", streams[0].written)
    show("published1", broker.published)
    broker.published = []
    broker.retained["kawamori/v1/kw-demo-01/config"] = b'{"v":1,"cfg":2,"slow_s":900,"fast_s":120}'
    board.sleep(gauge.run_cycle())
    show("cfg2", (gauge.state["cfg_v"], gauge.cfg["slow_s"], gauge.state.get("cfg_error")))
    show("published2", broker.published)
    modes = []
    for _ in range(12):
        board.sleep(gauge.run_cycle())
        modes.append((gauge.state["mode"], board.sleeps[-1], gauge.state["prev_level"]))
    show("modes", modes)


def scenario_outage() -> None:
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    board, gauge = cycle_gauge("outage", clock, broker, lambda t: 12000 + (t - T0) // 600)
    board.sleep(gauge.run_cycle())
    board.wifi = False
    for _ in range(8):
        board.sleep(gauge.run_cycle())
    show(
        "outage",
        (gauge.buffer.depth(), gauge.state["net_fails"], gauge.state["err"], board.log.count("wifi_up")),
    )
    board.wifi = True
    cycles = 0
    while gauge.buffer.depth() and cycles < 10:
        board.sleep(gauge.run_cycle())
        cycles += 1
    show("cycles", cycles)
    batches = [p for t, p, r in broker.published if t.endswith("/reading")]
    show("backlog", batches)
    show("drained", (gauge.buffer.depth(), gauge.state["net_fails"], gauge.state["err"]))


def scenario_unset_clock() -> None:
    clock = fakes.Clock(946684800)  # power-on: the RTC starts at 2000-01-01
    broker = fakes.Broker()
    board, gauge = cycle_gauge("unset", clock, None)
    board.ntp_time = None
    for _ in range(3):
        board.sleep(gauge.run_cycle())
    board.connector = broker.stream
    board.ntp_time = lambda: T0
    board.sleep(gauge.run_cycle())
    show("unset", [p for t, p, r in broker.published if t.endswith("/reading")])
    show("unset_clock", (clock.time(), gauge.state["adj"], gauge.dt))


def scenario_no_ack() -> None:
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    broker.ingest = False
    board, gauge = cycle_gauge("noack", clock, broker)
    for _ in range(3):
        board.sleep(gauge.run_cycle())
    show("noack", (gauge.buffer.depth(), gauge.state["err"]))
    broker.ingest = True
    board.sleep(gauge.run_cycle())
    show("acked", (gauge.buffer.depth(), gauge.state["err"], gauge.state["seq"]))
    rebooted = app.Gauge(SITE, board, clock, gauge.sensor, DATA + "/noack")
    show("reboot_seq", (rebooted.state["seq"], rebooted.buffer.depth()))


def scenario_wiped_flash() -> None:
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    broker.retained["kawamori/v1/kw-demo-01/ack"] = b'{"v":1,"seq":500}'  # from the board's past life
    board, gauge = cycle_gauge("wiped", clock, broker)
    board.sleep(gauge.run_cycle())
    show("wiped", ([p for t, p, r in broker.published if t.endswith("/reading")], gauge.state["seq"]))


def scenario_refused() -> None:
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    broker.refuse = 5
    board, gauge = cycle_gauge("refused", clock, broker)
    board.sleep(gauge.run_cycle())
    show("refused", (gauge.state["err"], gauge.state["net_next"] - gauge.dt, gauge.buffer.depth()))


def scenario_mqtt_bytes() -> None:
    broker = fakes.Broker()
    stream = fakes.Stream(broker)
    client = mqtt.Client(
        "kw-demo-01", "kw-demo-01", "pw", 60, ("kawamori/v1/kw-demo-01/status", wire.OFFLINE, True)
    )
    client.connect(stream)
    client.subscribe("kawamori/v1/kw-demo-01/ack")
    client.publish("kawamori/v1/kw-demo-01/status", b'{"v":1,"online":true}', retain=True)
    client.ping()
    client.disconnect()
    show("mqtt", stream.written)


for scenario in (
    scenario_wire,
    scenario_measure,
    scenario_config,
    scenario_buffer,
    scenario_cycle,
    scenario_outage,
    scenario_unset_clock,
    scenario_no_ack,
    scenario_wiped_flash,
    scenario_refused,
    scenario_mqtt_bytes,
):
    scenario()
if not MICRO:
    rmtree(DATA)
