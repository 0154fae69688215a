"""Which gauges need a visit, and why: pure decisions over each device's health (from
``device_status`` and its last 24 hours of readings) with ``now`` passed in.

A device needs a visit for every reason that holds, most urgent first: it has gone
silent, it reports that its sensor gives no sample, its battery is low (measured, or the
gauge kept its radio off for it), it restarted in the middle of sending (a brown-out: a
weak battery or supply), its signal is weak, it refused a remote configuration, it holds
a backlog of readings it could not send, it has dropped readings, its readings are
often flagged by quality control (a stuck, spiking or out-of-range sensor), its clock is
wrong, or its readings arrive late. The limits are plain data (:class:`VisitLimits`), so a city can tune them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from kawamori.model import Quality
from kawamori.texts import say

QC_FLAGS = {
    Quality.OUT_OF_RANGE: "out_of_range",
    Quality.FEW_SAMPLES: "few_samples",
    Quality.SENSOR_ERROR: "sensor_error",
    Quality.CLOCK_UNSET: "clock_unset",
    Quality.CLOCK_SKEW: "clock_skew",
    Quality.SPIKE: "spike",
    Quality.RATE: "rate",
    Quality.FLAT_LINE: "flat_line",
    Quality.SUSPECT_RANGE: "suspect_range",
}
CLOCK_FLAGS = Quality.CLOCK_UNSET | Quality.CLOCK_SKEW


class Status(StrEnum):
    reporting = "reporting"
    silent = "silent"  # no reading or status for longer than the limit
    offline = "offline"  # its last will: the broker saw it go
    never = "never"  # registered, nothing received yet
    retired = "retired"


class Reason(StrEnum):
    """Why a gauge needs a visit, most urgent first."""

    silent = "silent"
    sensor = "sensor"  # the gauge reports its sensor gives no sample (status `fault`)
    battery = "battery"
    power = "power"  # restarts in the middle of sending (status `brown`)
    signal = "signal"
    config = "config"  # a remote configuration it refused (status `cfg_error`)
    backlog = "backlog"
    dropped = "dropped"
    qc = "qc"
    clock = "clock"
    late = "late"


@dataclass(frozen=True, slots=True)
class VisitLimits:
    silent_after: timedelta = timedelta(hours=1)
    battery_v: float = 3.5  # below: low (a 1-cell Li-ion under load)
    rssi_dbm: int = -100  # below: weak (Wi-Fi / LTE; LoRa gateways hear far weaker)
    backlog: int = 20  # readings held on the device, not yet acknowledged
    qc_share: float = 0.1  # flagged share of the last 24 hours' readings
    late: timedelta = timedelta(minutes=15)  # from measurement to storage, the newest reading


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    device_id: str
    station_id: str | None
    station_name_ja: str | None
    station_name_en: str | None
    retired: bool
    online: bool | None
    last_seen: datetime | None
    last_reading: datetime | None
    last_level_m: float | None
    firmware: str | None
    battery_v: float | None
    rssi_dbm: int | None
    buffered: int | None
    dropped: int | None
    readings_24h: int
    flagged_24h: int
    flags_24h: int  # the union of the Quality bits seen in the last 24 hours
    lag_s: float | None  # received − measured, the newest reading
    # what the gauge itself reports in its status beyond the fixed fields (device_status.extra:
    # fault, brown, lowbat, cfg_error, err, …; docs/mqtt.md); counts run since its last report
    reported: dict[str, Any] = field(default_factory=dict)

    def flag_names(self) -> list[str]:
        return [name for bit, name in QC_FLAGS.items() if self.flags_24h & bit]


def status(device: DeviceHealth, *, now: datetime, limits: VisitLimits = VisitLimits()) -> Status:
    if device.retired:
        return Status.retired
    if device.last_seen is None:
        return Status.never
    if device.online is False:
        return Status.offline
    if now - device.last_seen > limits.silent_after:
        return Status.silent
    return Status.reporting


def needs_visit(
    device: DeviceHealth, *, now: datetime, limits: VisitLimits = VisitLimits()
) -> tuple[Reason, ...]:
    """Every reason that holds, most urgent first; () when the gauge is fine (or retired)."""
    if device.retired:
        return ()
    reasons = []
    if status(device, now=now, limits=limits) in (Status.silent, Status.offline, Status.never):
        reasons.append(Reason.silent)
    said = device.reported
    if said.get("fault") == "sensor":
        reasons.append(Reason.sensor)
    if (device.battery_v is not None and device.battery_v < limits.battery_v) or _count(said, "lowbat"):
        reasons.append(Reason.battery)
    if _count(said, "brown"):
        reasons.append(Reason.power)
    if device.rssi_dbm is not None and device.rssi_dbm < limits.rssi_dbm:
        reasons.append(Reason.signal)
    if said.get("cfg_error"):
        reasons.append(Reason.config)
    if device.buffered is not None and device.buffered > limits.backlog:
        reasons.append(Reason.backlog)
    if device.dropped:
        reasons.append(Reason.dropped)
    non_clock = device.flags_24h & ~CLOCK_FLAGS
    if device.readings_24h and (
        device.flagged_24h / device.readings_24h >= limits.qc_share or non_clock & Quality.SENSOR_ERROR
    ):
        reasons.append(Reason.qc)
    if device.flags_24h & CLOCK_FLAGS:
        reasons.append(Reason.clock)
    if device.lag_s is not None and device.lag_s > limits.late.total_seconds():
        reasons.append(Reason.late)
    return tuple(reasons)


def _count(reported: dict[str, Any], key: str) -> int:
    """A count the gauge reports (0 when absent or not a whole number)."""
    value = reported.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def reason_text(reason: Reason, device: DeviceHealth, lang: str) -> str:
    """The reason in words (``console.sensors.reasons``), with the value that made it."""
    match reason:
        case Reason.silent:
            if device.last_seen is None:
                return say("console.sensors.reasons.never", lang)
            return say("console.sensors.reasons.silent", lang)
        case Reason.battery:
            if device.battery_v is None or device.battery_v >= VisitLimits().battery_v:
                cycles = _count(device.reported, "lowbat")
                return say("console.sensors.reasons.battery_cycles", lang, cycles=cycles)
            return say("console.sensors.reasons.battery", lang, volts=device.battery_v)
        case Reason.power:
            return say("console.sensors.reasons.power", lang, times=_count(device.reported, "brown"))
        case Reason.signal:
            return say("console.sensors.reasons.signal", lang, dbm=device.rssi_dbm)
        case Reason.backlog:
            return say("console.sensors.reasons.backlog", lang, n=device.buffered)
        case Reason.dropped:
            return say("console.sensors.reasons.dropped", lang, n=device.dropped)
        case Reason.qc:
            share = {"flagged": device.flagged_24h, "readings": device.readings_24h}
            return say("console.sensors.reasons.qc", lang, **share)
        case Reason.late:
            return say("console.sensors.reasons.late", lang, minutes=round((device.lag_s or 0) / 60))
        case Reason.sensor:
            return say("console.sensors.reasons.sensor", lang)
        case Reason.config:
            return say("console.sensors.reasons.config", lang)
        case Reason.clock:
            return say("console.sensors.reasons.clock", lang)


SORTS = {
    "device": lambda d: d.device_id,
    "station": lambda d: (d.station_id or "", d.device_id),
    "battery": lambda d: (d.battery_v is None, d.battery_v or 0.0),
    "rssi": lambda d: (d.rssi_dbm is None, d.rssi_dbm or 0),
    "backlog": lambda d: (-(d.buffered or 0), d.device_id),
    "last": lambda d: (d.last_reading is not None, d.last_reading or datetime.min),
    "firmware": lambda d: (d.firmware or "", d.device_id),
    "qc": lambda d: (-d.flagged_24h, d.device_id),
    "lag": lambda d: (-(d.lag_s or 0.0), d.device_id),
}
