"""Field failures of a gauge (issue #22), one ``name: value`` line each, under CPython
and MicroPython alike (``test_field.py`` compares both transcripts and checks them):
a dead ultrasonic sensor, the supply switch's polarity and pad hold, a weak battery,
resets in the middle of an uplink (brown-outs), no NTP after a power cut, and a broker
that keeps talking while the gauge waits for its acknowledgement."""

# ruff: noqa: UP031  (MicroPython runs this file too; %-formatting is its idiom)

import app
import cellular
import fakes
import hw
import lora
import measure
import sensors
import settings

DATA = fakes.data_dir()

T0 = 1763880000
UNSET = 946684800  # an RTC after a power loss: 2000-01-01
hw.mem_free = lambda: 91234
hw.random_permille = lambda: 1000
SITE = settings.site_settings(
    {
        "device": "kw-demo-01",
        "password": "s3cret-s3cret-s3cret",
        "broker_host": "broker.test",
        "mount_m": 15.8,
    }
)


def show(name, value) -> None:
    print("%s: %r" % (name, value))


def folder(name: str) -> str:
    import os

    path = DATA + "/" + name
    os.mkdir(path)
    return path


def readings(broker) -> list:
    return [p for t, p, r in broker.published if t.endswith("/reading")]


def statuses(broker) -> list:
    return [hw.loads(p) for t, p, r in broker.published if t.endswith("/status")]


def scenario_dead_sensor() -> None:
    """An unplugged A02YYUW: every read waits the UART time-out."""
    clock = fakes.Clock(T0)
    dead = sensors.A02YYUW(fakes.UART(clock), clock)
    dead.WARM_MS = 500
    dead.switch = sensors.Switch(fakes.Pin(), 1)
    result = measure.burst(dead, clock, 20, 20000, 15800, 10, SITE["dead_after"])
    show("dead_burst", (result, clock.ms))
    clock = fakes.Clock(T0)
    alive = sensors.A02YYUW(fakes.UART(clock, lambda t: 3800), clock)
    result = measure.burst(alive, clock, 20, 20000, 15800, 10, SITE["dead_after"])
    show("alive_burst", (result.level_mm, result.valid, result.q, clock.ms))
    # in a gauge: the fault goes out at once, and again when the sensor is back
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    board = fakes.Board(clock, broker.stream, ntp_time=lambda: T0 + clock.ms // 1000)
    uart = fakes.UART(clock, lambda t: 3800)
    gauge = app.Gauge(SITE, board, clock, sensors.A02YYUW(uart, clock), folder("dead"))
    board.sleep(gauge.run_cycle())
    broker.published = []
    uart.distance_at = None  # unplugged
    awake = clock.ms
    board.sleep(gauge.run_cycle())
    show("dead_awake_ms", clock.ms - awake - board.sleeps[-1] * 1000)
    show("dead_status", [(s.get("fault"), s.get("serr"), s.get("err")) for s in statuses(broker)])
    broker.published = []
    board.sleep(gauge.run_cycle())
    show("dead_again", len(broker.published))  # still dead: nothing new to say
    uart.distance_at = lambda t: 3800
    board.sleep(gauge.run_cycle())
    show("dead_back", [(s.get("fault"), s.get("serr")) for s in statuses(broker)])


def scenario_switch() -> None:
    clock = fakes.Clock(T0)
    for on_level in (1, 0):
        pin = fakes.Pin()
        sensor = fakes.Sensor(clock, 15800, lambda t: 12000)
        switch = sensors.Switch(pin, on_level)
        drivers = sensors.Sensor()
        drivers.switch = switch
        sensor.power = drivers.power
        measure.burst(sensor, clock, 2, 2000, 15800, 1)
        show("switch%d" % on_level, (pin.log, pin.level, pin.held))


def scenario_battery() -> None:
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    board = fakes.Board(clock, broker.stream, ntp_time=lambda: T0 + clock.ms // 1000)
    gauge = app.Gauge(SITE, board, clock, fakes.Sensor(clock, 15800, lambda t: 12000), folder("battery"))
    board.sleep(gauge.run_cycle())
    board.log = []
    board.battery = 3250  # weak: measure and buffer, radio off
    for _ in range(7):
        board.sleep(gauge.run_cycle())
    show("weak", (board.log, gauge.buffer.depth(), gauge.state["err"], board.sleeps[-1]))
    board.battery = 3050  # empty: not even a measurement
    board.sleep(gauge.run_cycle())
    show("empty", (board.log, gauge.buffer.depth(), board.sleeps[-1], gauge.sensor.count))
    board.battery = 3900  # the sun came out
    broker.published = []
    board.sleep(gauge.run_cycle())
    status = statuses(broker)[0]
    show("recovered", (gauge.buffer.depth(), status.get("lowbat"), status.get("err"), len(readings(broker))))


class BrownOut(BaseException):
    """The board reset: nothing after this point runs (a test restores the flash as
    it was at that moment, so not even ``finally`` clauses count)."""


def scenario_brownout() -> None:
    """A weak cell resets the board whenever the radio starts; each start is a
    power-on reset 25 s later. The gauge must not connect at every start."""
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    path = folder("brownout")
    flash = {}

    def brown_out(host, port, tls, timeout_s):
        with open(path + "/state.json") as handle:
            flash["state"] = handle.read()  # what was on flash at the reset
        raise BrownOut()

    board = fakes.Board(clock, brown_out, ntp_time=lambda: T0 + clock.ms // 1000)
    connects = 0
    starts = 0
    while clock.ms < 3600 * 1000:  # an hour of it
        gauge = app.Gauge(SITE, board, clock, fakes.Sensor(clock, 15800, lambda t: 12000), path)
        starts += 1
        try:
            board.sleep(gauge.run_cycle())
        except BrownOut:
            connects += 1
            with open(path + "/state.json", "w") as handle:
                handle.write(flash["state"])
            clock.sleep_ms(25000)
    show("brownout", (starts, connects, gauge.state["brown"]))
    board.connector = broker.stream  # the battery recovered
    gauge.state["net_next"] = 0
    board.sleep(gauge.run_cycle())
    status = statuses(broker)[0]
    show(
        "brownout_status",
        (status.get("brown"), status.get("err"), gauge.state["brown"], gauge.buffer.depth()),
    )


def scenario_no_ntp() -> None:
    """A power cut, then no NTP: the clock is set before TLS to the latest time the
    gauge can prove, and then from the server's acknowledgement."""
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    broker.now = lambda: T0 + 50000 + clock.ms // 1000  # the server's true time after the cut
    board = fakes.Board(clock, broker.stream, ntp_time=lambda: T0 + clock.ms // 1000)
    path = folder("nontp")
    gauge = app.Gauge(SITE, board, clock, fakes.Sensor(clock, 15800, lambda t: 12000), path)
    for _ in range(3):
        board.sleep(gauge.run_cycle())
    clock = fakes.Clock(UNSET)  # power cut: the RTC starts again at 2000-01-01
    seen = []

    def connect(host, port, tls, timeout_s):
        seen.append(clock.time())  # what a TLS handshake would check the certificate against
        return broker.stream(host, port, tls, timeout_s)

    board = fakes.Board(clock, connect, ntp_time=None)
    gauge = app.Gauge(SITE, board, clock, fakes.Sensor(clock, 15800, lambda t: 12000), path)
    broker.published = []
    board.sleep(gauge.run_cycle())
    board.sleep(gauge.run_cycle())
    show("nontp_tls_time", seen)
    show("nontp_clock", (clock.time(), gauge.clock_set(), gauge.state["guess"]))
    show("nontp_readings", readings(broker))


def scenario_babbling_broker() -> None:
    """The broker keeps sending (a retained config republished in a loop) and never
    acknowledges: the flush must give up, not spin."""
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    broker.ingest = False
    sent = [0]

    class Babbling(fakes.Stream):
        def readable(self, wait_ms: int) -> bool:
            if not self.inbox and sent[0] < 100000 and self.broker.published:
                sent[0] += 1
                self._publish_to_device("kawamori/v1/kw-demo-01/config", b'{"v":1,"cfg":0}', True)
            return bool(self.inbox)

    board = fakes.Board(clock, lambda *a: Babbling(broker), ntp_time=lambda: T0 + clock.ms // 1000)
    gauge = app.Gauge(SITE, board, clock, fakes.Sensor(clock, 15800, lambda t: 12000), folder("babble"))
    board.sleep(gauge.run_cycle())
    show("babble", (sent[0], gauge.state["err"], gauge.buffer.depth()))


def scenario_cellular() -> None:
    """A modem that boots for 3 s and registers on the third poll, then PPP: the same
    path as Wi-Fi above it; a SIM that refuses the APN is one NetError."""
    clock = fakes.Clock(T0)
    modem = fakes.Modem(clock)
    links = []

    def make_ppp(stream):
        link = fakes.PPP(stream)
        links.append(link)
        return link

    pin = fakes.Pin()
    site = dict(SITE)
    site["uplink"] = "ppp"
    site["ppp_apn"] = "iot.example.jp"
    link = cellular.Cellular(site, modem, make_ppp, clock, pin)
    link.up(site["ppp_timeout_s"])
    show("cellular_up", (modem.sent[-6:], link.rssi(), links[0].log, pin.level, clock.ms // 1000))
    link.down()
    show("cellular_down", (links[0].log[-2:], pin.level))
    clock = fakes.Clock(T0)
    modem = fakes.Modem(clock, boot_ms=0)
    modem.refuse.add('AT+CGDCONT=1,"IP","iot.example.jp"')
    link = cellular.Cellular(site, modem, make_ppp, clock)
    try:
        link.up(30)
        show("cellular_refused", None)
    except hw.NetError as error:
        show("cellular_refused", str(error))
    clock = fakes.Clock(T0)
    link = cellular.Cellular(site, fakes.Modem(clock, boot_ms=10**9), make_ppp, clock, fakes.Pin())
    try:
        link.up(30)
    except hw.NetError as error:
        show("cellular_dead", (str(error), clock.ms // 1000))


def scenario_lorawan() -> None:
    """A gauge on LoRaWAN: its readings as confirmed 11-byte uplinks through a LoRa-E5,
    acknowledged ones deleted from flash, a configuration downlink applied."""
    clock = fakes.Clock(T0)
    board = fakes.Board(clock, None, ntp_time=lambda: T0 + clock.ms // 1000)
    modem = fakes.LoRaE5(clock)
    board.lora = lora.Modem(modem, clock)
    site = dict(SITE)
    site["uplink"] = "lorawan"
    site["send_s"] = 600
    gauge = app.Gauge(site, board, clock, fakes.Sensor(clock, 15800, lambda t: 12000), folder("lorawan"))
    board.sleep(gauge.run_cycle())
    modem.ack = False  # out of reach of every gateway
    board.sleep(gauge.run_cycle())
    show("lora_unacked", (gauge.buffer.depth(), gauge.state["err"]))
    modem.ack = True
    modem.downlink = "010007010003840200012C"  # cfg 7: slow_s 900, fast_s 300
    gauge.state["net_next"] = 0
    board.sleep(gauge.run_cycle())
    show("lora_sent", [c for c in modem.sent if c.startswith("AT+CMSGHEX")])
    show("lora_state", (gauge.buffer.depth(), gauge.state["cfg_v"], gauge.cfg["slow_s"], gauge.cfg["fast_s"]))
    record = (70000, 0, 100, -1234, 3800, 3911, 5, 0, 20)
    show("lora_payloads", [lora.payload(record, 100 + 61), lora.payload(record, 100 + 300 * 60)])
    show("lora_config", [lora.config(bytes([1, 0, 9, 6, 0, 0x3D, 0xB8]), 0), lora.config(b"\x02\x00", 0)])


for scenario in (
    scenario_dead_sensor,
    scenario_switch,
    scenario_battery,
    scenario_brownout,
    scenario_no_ntp,
    scenario_babbling_broker,
    scenario_cellular,
    scenario_lorawan,
):
    scenario()
if not fakes.MICRO:
    import shutil

    shutil.rmtree(DATA)
