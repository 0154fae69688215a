"""Sensor, device and delivery faults as pure transformations of one station's stream.

A :class:`Stream` holds what a device measured and sent (:class:`Reading`, each with
the river's true level and time beside what the device reports), in which order and
when it reached the broker (:class:`Delivery`), and a ground-truth log (:class:`Note`):
what a correct system should see. :func:`run` applies faults in four phases:

0. ``swap`` — :class:`Replace` a board mid-event (new id, seq from 0);
1. ``measure`` — what the sensor reports: :class:`Spike`, :class:`Stuck`, :class:`Drift`;
2. ``device`` — which readings exist and how they are stamped: :class:`Dropout`,
   :class:`BrownOut`, :class:`ClockSkew`;
3. ``deliver`` — when and how often each reading arrives: :class:`Duplicate`,
   :class:`OutOfOrder`, :class:`Outage`.

Sensor and device faults belong to the board in place when they start: a replacement
board is healthy. No fault changes the truth: the readings keep their true times and levels, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ClassVar

BATTERY_FULL_V = 3.9
BATTERY_LOW_V = 3.5  # the status shows a low battery below this
BATTERY_CUTOFF_V = 3.3  # the board browns out: no more readings
BURST_SPACING = timedelta(milliseconds=10)  # between readings of a backlog flush


@dataclass(frozen=True, slots=True)
class Reading:
    device_id: str
    seq: int
    time: datetime  # the device's time stamp (its clock may be wrong)
    level_m: float  # what the device reports
    battery_v: float
    true_time: datetime  # when it was really measured
    true_level_m: float  # the river's real level then


@dataclass(frozen=True, slots=True)
class Delivery:
    at: datetime  # when the reading reaches the broker
    reading: Reading


@dataclass(frozen=True, slots=True)
class Note:
    """Ground truth for the check: at ``time`` (until ``until``), what happened."""

    time: datetime
    device_id: str
    kind: str
    text: str
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Stream:
    readings: tuple[Reading, ...]  # sent, in measurement order
    deliveries: tuple[Delivery, ...] = ()  # in order of arrival
    notes: tuple[Note, ...] = ()

    def note(self, *notes: Note) -> Stream:
        return replace(self, notes=(*self.notes, *notes))


def measure(
    device_id: str,
    times: Sequence[datetime],
    true_levels: Sequence[float],
    reported: Sequence[float] | None = None,
    battery_v: float = BATTERY_FULL_V,
) -> Stream:
    """A healthy device's stream: seq from 0, correct clock. ``reported`` (true level
    plus sensor noise) defaults to the truth."""
    reported = true_levels if reported is None else reported
    return Stream(
        tuple(
            Reading(device_id, seq, when, float(level), battery_v, when, float(truth))
            for seq, (when, level, truth) in enumerate(zip(times, reported, true_levels, strict=True))
        )
    )


def deliver(stream: Stream, latency: timedelta = timedelta(seconds=1)) -> Stream:
    """Every reading reaches the broker ``latency`` after it was measured."""
    return replace(stream, deliveries=tuple(Delivery(r.true_time + latency, r) for r in stream.readings))


def _inside(when: datetime, start: datetime, end: datetime | None) -> bool:
    return start <= when and (end is None or when < end)


def _first_device(stream: Stream, start: datetime) -> str:
    after = [r.device_id for r in stream.readings if r.true_time >= start]
    return after[0] if after else (stream.readings[-1].device_id if stream.readings else "")


# -- phase 1: what the sensor reports ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spike:
    """``count`` readings from ``at`` report ``height_m`` above the truth (an echo off
    debris, a bird); a correct system flags them and raises no alert."""

    phase: ClassVar[str] = "measure"
    at: datetime
    height_m: float
    count: int = 1

    def apply(self, stream: Stream) -> Stream:
        board = _first_device(stream, self.at)
        hit = [i for i, r in enumerate(stream.readings) if r.true_time >= self.at and r.device_id == board]
        hit = hit[: self.count]
        readings = list(stream.readings)
        for i in hit:
            readings[i] = replace(readings[i], level_m=readings[i].level_m + self.height_m)
        if not hit:
            return replace(stream, readings=tuple(readings))
        first = readings[hit[0]]
        return replace(stream, readings=tuple(readings)).note(
            Note(
                first.true_time,
                first.device_id,
                "spike",
                f"{len(hit)} reading(s) {self.height_m:+.2f} m off the true level "
                f"{first.true_level_m:.2f} m: flag as spike, no alert",
                readings[hit[-1]].true_time,
            )
        )


@dataclass(frozen=True, slots=True)
class Stuck:
    """From ``start`` (until ``end``) the sensor repeats its last value: a flat line."""

    phase: ClassVar[str] = "measure"
    start: datetime
    end: datetime | None = None

    def apply(self, stream: Stream) -> Stream:
        readings = list(stream.readings)
        board = _first_device(stream, self.start)
        held: float | None = None
        for i, r in enumerate(readings):
            if _inside(r.true_time, self.start, self.end) and r.device_id == board:
                held = r.level_m if held is None else held
                readings[i] = replace(r, level_m=held)
        if held is None:
            return stream
        return replace(stream, readings=tuple(readings)).note(
            Note(
                self.start,
                _first_device(stream, self.start),
                "stuck",
                f"sensor stuck at {held:.2f} m: flag as flat line, the true level moves on",
                self.end,
            )
        )


@dataclass(frozen=True, slots=True)
class Drift:
    """From ``start`` (until ``end``, after which the error stays) the reported level
    drifts by ``rate_m_per_h``: a fouled or mis-compensated sensor."""

    phase: ClassVar[str] = "measure"
    start: datetime
    rate_m_per_h: float
    end: datetime | None = None

    def apply(self, stream: Stream) -> Stream:
        board = _first_device(stream, self.start)

        def error(r: Reading) -> float:
            if r.true_time < self.start or r.device_id != board:
                return 0.0
            until = r.true_time if self.end is None else min(r.true_time, self.end)
            return self.rate_m_per_h * (until - self.start).total_seconds() / 3600

        readings = tuple(replace(r, level_m=r.level_m + error(r)) for r in stream.readings)
        return replace(stream, readings=readings).note(
            Note(
                self.start,
                _first_device(stream, self.start),
                "drift",
                f"reported level drifts {self.rate_m_per_h:+.3f} m/h from the truth",
                self.end,
            )
        )


# -- phase 2: which readings exist and how they are stamped -------------------------------


@dataclass(frozen=True, slots=True)
class Dropout:
    """Readings measured in ``[start, end)`` are lost (seq gap): the station goes stale."""

    phase: ClassVar[str] = "device"
    start: datetime
    end: datetime

    def apply(self, stream: Stream) -> Stream:
        board = _first_device(stream, self.start)
        lost = {
            r for r in stream.readings if _inside(r.true_time, self.start, self.end) and r.device_id == board
        }
        kept = tuple(r for r in stream.readings if r not in lost)
        return replace(stream, readings=kept).note(
            Note(
                self.start,
                _first_device(stream, self.start),
                "dropout",
                f"{len(lost)} reading(s) lost: station stale, no all-clear from silence",
                self.end,
            )
        )


@dataclass(frozen=True, slots=True)
class BrownOut:
    """From ``start`` the battery drains at ``volts_per_hour``; below
    :data:`BATTERY_LOW_V` the status shows a low battery, below
    :data:`BATTERY_CUTOFF_V` the board stops reading."""

    phase: ClassVar[str] = "device"
    start: datetime
    volts_per_hour: float
    from_v: float = BATTERY_FULL_V

    def voltage(self, when: datetime) -> float:
        hours = max((when - self.start).total_seconds(), 0.0) / 3600
        return self.from_v - self.volts_per_hour * hours

    def crossing(self, volts: float) -> datetime:
        return self.start + timedelta(hours=max(self.from_v - volts, 0.0) / self.volts_per_hour)

    def apply(self, stream: Stream) -> Stream:
        device = _first_device(stream, self.start)
        readings = tuple(
            r if r.device_id != device else replace(r, battery_v=round(self.voltage(r.true_time), 3))
            for r in stream.readings
            if r.device_id != device or self.voltage(r.true_time) >= BATTERY_CUTOFF_V
        )
        low, cutoff = self.crossing(BATTERY_LOW_V), self.crossing(BATTERY_CUTOFF_V)
        return replace(stream, readings=readings).note(
            Note(low, device, "low_battery", f"battery below {BATTERY_LOW_V} V: status shows low battery"),
            Note(cutoff, device, "brown_out", "board browns out: readings stop, station goes stale"),
        )


@dataclass(frozen=True, slots=True)
class ClockSkew:
    """From ``start`` the device's clock is ``offset`` off (positive: ahead)."""

    phase: ClassVar[str] = "device"
    start: datetime
    offset: timedelta

    def apply(self, stream: Stream) -> Stream:
        board = _first_device(stream, self.start)
        readings = tuple(
            replace(r, time=r.time + self.offset) if r.true_time >= self.start and r.device_id == board else r
            for r in stream.readings
        )
        return replace(stream, readings=readings).note(
            Note(
                self.start,
                _first_device(stream, self.start),
                "clock_skew",
                f"device clock {self.offset.total_seconds():+.0f} s off: flag clock skew, "
                "order by arrival is not order by stamp",
            )
        )


@dataclass(frozen=True, slots=True)
class Replace:
    """At ``at`` the device is swapped: nothing for ``gap``, then ``device_id``
    reports with its seq restarting at 0."""

    phase: ClassVar[str] = "swap"
    at: datetime
    device_id: str
    gap: timedelta = timedelta(minutes=10)

    def apply(self, stream: Stream) -> Stream:
        old = _first_device(stream, self.at)
        resume = self.at + self.gap
        before = tuple(r for r in stream.readings if r.true_time < self.at)
        after = [r for r in stream.readings if r.true_time >= resume]
        renumbered = tuple(replace(r, device_id=self.device_id, seq=i) for i, r in enumerate(after))
        return replace(stream, readings=before + renumbered).note(
            Note(
                self.at,
                old,
                "replaced",
                f"device {old} replaced by {self.device_id} (seq restarts at 0): "
                "one station history, no duplicate and no gap alarm after the swap",
                resume,
            )
        )


# -- phase 3: when and how often readings arrive -------------------------------------------


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Every ``every``-th reading measured in ``[start, end)`` arrives twice, the copy
    ``delay`` later (QoS 1 redelivery)."""

    phase: ClassVar[str] = "deliver"
    start: datetime
    end: datetime
    every: int = 1
    delay: timedelta = timedelta(seconds=30)

    def apply(self, stream: Stream) -> Stream:
        inside = [d for d in stream.deliveries if _inside(d.reading.true_time, self.start, self.end)]
        copies = [Delivery(d.at + self.delay, d.reading) for d in inside[:: self.every]]
        return replace(stream, deliveries=_by_arrival([*stream.deliveries, *copies])).note(
            Note(
                self.start,
                _first_device(stream, self.start),
                "duplicate",
                f"{len(copies)} reading(s) delivered twice: store each once",
                self.end,
            )
        )


@dataclass(frozen=True, slots=True)
class OutOfOrder:
    """Consecutive pairs of readings measured in ``[start, end)`` arrive swapped: the
    first of each pair is held back until just after the second."""

    phase: ClassVar[str] = "deliver"
    start: datetime
    end: datetime

    def apply(self, stream: Stream) -> Stream:
        deliveries = list(stream.deliveries)
        inside = [i for i, d in enumerate(deliveries) if _inside(d.reading.true_time, self.start, self.end)]
        for first, second in zip(inside[::2], inside[1::2], strict=False):
            a, b = deliveries[first], deliveries[second]
            deliveries[first] = Delivery(b.at + BURST_SPACING, a.reading)  # held back behind b
        return replace(stream, deliveries=_by_arrival(deliveries)).note(
            Note(
                self.start,
                _first_device(stream, self.start),
                "out_of_order",
                "readings arrive out of order: order by device time and seq",
                self.end,
            )
        )


@dataclass(frozen=True, slots=True)
class Outage:
    """The broker is unreachable in ``[start, end)``: the device buffers (at most
    ``capacity`` readings, dropping the oldest) and flushes the backlog in a burst at
    ``end``, with the original time stamps."""

    phase: ClassVar[str] = "deliver"
    start: datetime
    end: datetime
    capacity: int = 8192

    def apply(self, stream: Stream) -> Stream:
        held = [d for d in stream.deliveries if _inside(d.at, self.start, self.end)]
        passed = [d for d in stream.deliveries if not _inside(d.at, self.start, self.end)]
        dropped = held[: max(len(held) - self.capacity, 0)]
        kept = held[len(dropped) :]
        flushed = [Delivery(self.end + i * BURST_SPACING, d.reading) for i, d in enumerate(kept)]
        device = _first_device(stream, self.start)
        notes = [
            Note(
                self.start,
                device,
                "outage",
                f"broker unreachable: {len(kept)} reading(s) held and flushed at the end "
                "with their original time stamps; station stale meanwhile",
                self.end,
            )
        ]
        if dropped:
            notes.append(
                Note(self.end, device, "buffer_overflow", f"{len(dropped)} oldest reading(s) dropped")
            )
        lost = {d.reading for d in dropped}
        readings = tuple(r for r in stream.readings if r not in lost)
        return replace(stream, readings=readings, deliveries=_by_arrival([*passed, *flushed])).note(*notes)


def _by_arrival(deliveries: Iterable[Delivery]) -> tuple[Delivery, ...]:
    return tuple(sorted(deliveries, key=lambda d: d.at))


Fault = Spike | Stuck | Drift | Dropout | BrownOut | ClockSkew | Replace | Duplicate | OutOfOrder | Outage
PHASES = ("swap", "measure", "device", "deliver")


def run(stream: Stream, faults: Iterable[Fault], latency: timedelta = timedelta(seconds=1)) -> Stream:
    """Apply ``faults`` phase by phase (in the given order within a phase), delivering
    the readings between the device and delivery phases."""
    faults = tuple(faults)
    for phase in PHASES:
        if phase == "deliver":
            stream = deliver(stream, latency)
        for fault in faults:
            if fault.phase == phase:
                stream = fault.apply(stream)
    return replace(stream, notes=tuple(sorted(stream.notes, key=lambda n: n.time)))
