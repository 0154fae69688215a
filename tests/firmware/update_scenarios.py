"""Firmware updates on the gauge (issue #22), one ``name: value`` line each, under
CPython and MicroPython alike: a signed bundle is checked, staged, installed on trial
and confirmed; one that never gets a reading confirmed is rolled back; a bad signature,
a tampered file and a version main.py already restored are refused. The bundle comes
from ``bundle_fixture.py``, written by ``test_update.py`` with the server's own signing
code (kawamori.updates)."""

# ruff: noqa: UP031  (MicroPython runs this file too; %-formatting is its idiom)

import os

import app
import bundle_fixture
import ecdsa
import fakes
import hw
import settings
import update

DATA = fakes.data_dir()
T0 = 1763880000
hw.mem_free = lambda: 91234
hw.random_permille = lambda: 1000
RUNNING = settings.FIRMWARE
SITE = settings.site_settings(
    {
        "device": "kw-demo-01",
        "password": "s3cret-s3cret-s3cret",
        "broker_host": "broker.test",
        "mount_m": 15.8,
        "update_key": bundle_fixture.KEY,
    }
)
PREFIX = "kawamori/v1/kw-demo-01/"


def show(name, value) -> None:
    print("%s: %r" % (name, value))


def read(path: str):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def setup(name: str):
    base = DATA + "/" + name
    os.mkdir(base)
    os.mkdir(base + "/root")
    with open(base + "/root/app.mpy", "wb") as handle:
        handle.write(b"old app")
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    for topic, payload in bundle_fixture.MESSAGES:
        broker.retained[PREFIX + topic] = payload
    board = fakes.Board(clock, broker.stream, ntp_time=lambda: T0 + clock.ms // 1000)
    return base, clock, broker, board


def start(base: str, clock, board):
    return app.Gauge(
        SITE, board, clock, fakes.Sensor(clock, 15800, lambda t: 12000), base + "/flash", base + "/root"
    )


def boot(base: str, clock, board):
    """One start of the board: a cycle, then deep sleep; a reset ends it early."""
    gauge = start(base, clock, board)
    try:
        board.sleep(gauge.run_cycle())
    except fakes.Reset:
        clock.sleep_ms(2000)
    return gauge


def files(base: str) -> list:
    return [read(base + "/root/app.mpy"), read(base + "/root/extra.mpy"), read(base + "/root/prev/app.mpy")]


def scenario_signature() -> None:
    key = bytes(
        bytearray(int(bundle_fixture.KEY[i : i + 2], 16) for i in range(0, len(bundle_fixture.KEY), 2))
    )
    checks = []
    for message, signature, expected in bundle_fixture.VECTORS:
        checks.append(ecdsa.verify(key, message, signature) == expected)
    show("ecdsa", checks)


def scenario_install_and_confirm() -> None:
    base, clock, _, board = setup("confirm")
    gauge = boot(base, clock, board)
    show("installed", (files(base), gauge.state["trial"]["fw"], board.log.count("reset")))
    settings.FIRMWARE = bundle_fixture.VERSION  # the new files are running now
    try:
        gauge = boot(base, clock, board)
    finally:
        settings.FIRMWARE = RUNNING
    show(
        "confirmed", (files(base), gauge.state["trial"], gauge.state.get("rejected"), gauge.state.get("err"))
    )


def scenario_rollback() -> None:
    base, clock, broker, board = setup("rollback")
    boot(base, clock, board)
    broker.ingest = False  # the new version never gets a reading confirmed
    settings.FIRMWARE = bundle_fixture.VERSION
    boots = 1
    try:
        while read(base + "/root/app.mpy") != b"old app" and boots < 20:
            gauge = boot(base, clock, board)
            boots += 1
    finally:
        settings.FIRMWARE = RUNNING
    show("rolled_back", (boots, files(base), gauge.state["rejected"], gauge.state["err"]))
    broker.ingest = True
    gauge = boot(base, clock, board)  # the old version again: the same offer is not taken twice
    show("not_again", (files(base), gauge.state.get("upd"), gauge.state["trial"]))


def scenario_refused() -> None:
    state = {}
    updater = update.Updater(DATA, state, bundle_fixture.KEY, RUNNING)
    offer = dict(bundle_fixture.MESSAGES)["update"]
    forged = offer[:64] + offer[64:].replace(b'"fw":"', b'"fw":"6')
    errors = [updater.offer(forged), update.Updater(DATA, {}, None, RUNNING).offer(offer)]
    errors.append(updater.offer(offer))
    errors.append(updater.file("app.mpy", b"tampered"))
    show("refused", (errors, updater.ready(), state["upd"]["have"]))
    state = {"trial": {"fw": "9.9.9", "from": RUNNING, "boots": 1, "seq": 0, "added": []}}
    show("restored", (update.Updater(DATA, state, bundle_fixture.KEY, RUNNING).boot(), state["rejected"]))


for scenario in (scenario_signature, scenario_install_and_confirm, scenario_rollback, scenario_refused):
    scenario()
if not fakes.MICRO:
    import shutil

    shutil.rmtree(DATA)
