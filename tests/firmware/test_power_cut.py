"""Power cuts in the middle of the flash writes themselves (issue #22: the old
"power cut" test killed a CPython process between writes). A fake flash counts every
write, rename and delete the firmware makes; for every one of them in turn, the power
fails there (a write is torn halfway), the gauge starts again from what is on flash,
and the test checks what the server gets: every reading that was on flash arrives, no
sequence number is ever given to two different readings, and the gauge never bricks."""

from __future__ import annotations

import os
import types

import pytest

from simulator.firmware import firmware
from tests.firmware.helpers import HERE

T0 = 1763880000
firmware()
import sys  # noqa: E402

sys.path.insert(0, str(HERE))
import app  # noqa: E402
import fakes  # noqa: E402
import hw  # noqa: E402
import settings  # noqa: E402
import store  # noqa: E402
import wire  # noqa: E402

SITE = settings.site_settings(
    {"device": "kw-demo-01", "password": "p" * 20, "broker_host": "b", "mount_m": 15.8, "send_s": 600}
)


class PowerCut(BaseException):
    """The board lost power: nothing after this runs."""


class Flash:
    """Counts the firmware's flash operations and cuts the power at operation ``cut``
    (a write is torn: half of its bytes reach the flash)."""

    def __init__(self, cut: int | None) -> None:
        self.cut = cut
        self.ops = 0

    def _op(self, torn=None) -> None:
        self.ops += 1
        if self.cut is not None and self.ops >= self.cut:  # after the cut nothing reaches the flash
            if torn is not None and self.ops == self.cut:
                torn()
            raise PowerCut

    def open(self, path, mode="r", *args):
        handle = open(path, mode, *args)  # noqa: SIM115 - wrapped, closed by the firmware's with
        if "w" not in mode and "a" not in mode:
            return handle
        flash = self
        write = handle.write

        def counted(data):
            flash._op(lambda: (write(data[: len(data) // 2]), handle.flush()))
            return write(data)

        handle.write = counted
        return handle

    def rename(self, src: str, dst: str) -> None:
        self._op()
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        self._op()
        os.remove(path)


@pytest.fixture
def flash(monkeypatch):
    def install(cut: int | None) -> Flash:
        fake = Flash(cut)
        monkeypatch.setattr(store, "open", fake.open, raising=False)
        monkeypatch.setattr(hw, "rename", fake.rename)
        monkeypatch.setattr(hw, "random_permille", lambda: 1000)  # the same operations every run
        monkeypatch.setattr(store, "os", types.SimpleNamespace(**{**vars(os), "remove": fake.remove}))
        return fake

    return install


def level_at(t: int) -> int:
    return 12000 + (t - T0) // 60  # every reading differs: a reused seq would show


def life(folder: str, clock, broker, cycles: int, outage: range = range(0)) -> None:
    board = fakes.Board(clock, broker.stream, ntp_time=lambda: T0 + clock.ms // 1000)
    gauge = app.Gauge(SITE, board, clock, fakes.Sensor(clock, 15800, level_at), folder)
    for i in range(cycles):
        board.wifi = i not in outage
        board.sleep(gauge.run_cycle())


def received(broker) -> dict[int, tuple]:
    """seq → (t, level) as the server stores it: the first copy of each seq wins."""
    out: dict[int, tuple] = {}
    for topic, payload, _ in broker.published:
        if topic.endswith("/reading"):
            document = hw.loads(payload)
            for item in document.get("r", [document]):
                out.setdefault(item["seq"], (item.get("t"), item["level"]))
    return out


def run(tmp_path, flash, cut: int | None):
    folder = str(tmp_path / f"cut{cut}")
    clock = fakes.Clock(T0)
    broker = fakes.Broker()
    appended: list[tuple] = []  # every reading whose append to flash completed
    real_append = store.Buffer.append

    def append(buffer, record):
        real_append(buffer, record)
        appended.append(record)

    store.Buffer.append = append
    try:
        fake = flash(cut)
        try:
            life(folder, clock, broker, 12, outage=range(2, 9))  # buffers a backlog, then sends it
            finished = True
        except PowerCut:
            finished = False
        flash(None)
        clock.sleep_ms(5000)
        life(folder, clock, broker, 8)  # power back: the gauge starts from what is on flash
    finally:
        store.Buffer.append = real_append
    return fake.ops, finished, appended, received(broker)


def test_a_power_cut_at_every_flash_write_loses_nothing_and_reuses_no_number(tmp_path, flash):
    total, finished, appended, stored = run(tmp_path, flash, None)
    assert finished and total > 40 and len(stored) == len(appended) == 20
    for cut in range(1, total + 1):
        ops, finished, appended, stored = run(tmp_path, flash, cut)
        assert not finished and ops >= cut
        for seq, t, _, level_mm, *_ in appended:  # it reached the server, under its own number
            assert stored.get(seq) == (t, float(wire.fixed(level_mm, 3))), f"cut at {cut}: seq {seq}"
        assert len(stored) == len(appended), f"cut at {cut}: {len(appended)} on flash, {len(stored)} stored"
