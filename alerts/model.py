"""The alert engine's shared vocabulary: plain frozen data, no I/O.

Two halves meet here:

* **evaluation** (``alerts.evaluate`` and the rule modules it calls) turns a
  station's recent readings, its persisted :class:`StationState` and ``now`` into
  a new state and a tuple of :class:`Condition` — what is true about the station
  right now (its confirmed stage, a predicted rise, an unverified jump, a sensor
  fault, being offline);
* the **lifecycle** (``alerts.lifecycle``) turns conditions and staff actions into
  :class:`Alert` transitions, audit entries and outbox messages.

What residents are told is decided **per area** (発令地区): an ``area`` alert is one
issuance of an evacuation level for one area (``alerts.decision``), and the stations'
``stage`` and ``forecast`` conditions are its evidence. The staff-only kinds stay per
station. An alert is identified by its fingerprint: ``"area:<area id>"`` (drills:
``"area:<area id>:<status>"``) or ``"<station id>:<kind>"``; at most one alert per
fingerprint is open (pending, active) at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What a condition or alert is about."""

    stage = "stage"  # the confirmed level has reached a stage with an alert level (public)
    forecast = "forecast"  # the observed trend reaches the next stage within the lead time (public)
    unverified = "unverified"  # an implausible jump to a flood stage, not yet confirmed (staff only)
    sensor = "sensor"  # quality control says the sensor is faulty: stuck, spiking (staff only)
    offline = "offline"  # no readings for too long; critical at high water (staff only)
    area = "area"  # an area's issued level (発令): what residents are told


# kinds whose news reaches residents: an area's issuance, and the evidence it rests on
PUBLIC_KINDS = frozenset({Kind.stage, Kind.forecast, Kind.area})
STAFF_KINDS = frozenset({Kind.unverified, Kind.sensor, Kind.offline})


class Proposal(StrEnum):
    """What the engine proposes to staff for an area (at most one open at a time)."""

    raise_ = "raise"  # issue a higher level (the evidence supports it)
    lower = "lower"  # lower the issued level (the water has fallen)
    lift = "lift"  # lift the issuance (解除) with an all-clear
    verify = "verify"  # the evidence for the issued level is lost: check, then keep or lower


class Status(StrEnum):
    """CAP 1.2 ``status``. Only ``Actual`` alerts may ever reach a public channel."""

    actual = "Actual"
    exercise = "Exercise"
    test = "Test"


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored reading as the evaluator sees it. ``quality`` is the stored
    ``kawamori.model.Quality`` bit set (rules must ignore the QC bits in it)."""

    time: datetime
    level_m: float
    quality: int = 0


@dataclass(frozen=True, slots=True)
class StationState:
    """What the evaluator remembers about a station between evaluations (persisted as
    JSON in ``station_status.state``). A fresh station starts from ``StationState()``."""

    stage_key: str | None = None  # the confirmed stage
    stage_since: datetime | None = None
    below_since: datetime | None = None  # when the level went below the exit margin
    last_time: datetime | None = None  # newest reading taken into account
    last_level_m: float | None = None
    offline: bool = False
    fast_mode: bool = False  # the gauge reports at its fast interval (high water)
    confirmed_m: float | None = None  # the confirmed level (median of the last usable readings)
    confirmed_at: datetime | None = None
    usable_m: float | None = None  # the newest reading that counts, and the rate of rise there
    usable_at: datetime | None = None
    rate_m_h: float | None = None
    corroborated_by: str | None = None  # the neighbour that confirmed the current stage, if one did
    candidate_key: str | None = None  # an unverified jump to a higher stage (staff only)
    candidate_m: float | None = None
    candidate_at: datetime | None = None
    candidate_reason: str | None = None  # rate | jump | lone | awaiting
    candidate_plausible: bool = False  # it follows a rise water can make (a level proposal for staff)
    candidate_rise_m_h: float | None = None  # the rise into it, over candidate_points readings
    candidate_points: int = 0
    sensor_bits: int = 0  # Quality bits that failed on the last few readings
    sensor_at: datetime | None = None
    forecast_key: str | None = None  # the stage a forecast is out for (held with hysteresis)
    rising: bool = False  # the newest usable readings still rise (a forecast needs it)
    intervals: tuple[float, ...] = ()  # the newest spacings between readings (s): the cadence
    rise_max_m_h: float = 0.0  # the fastest rise between sound readings the station has shown
    rises: int = 0  # how many rises that learning has seen (too few: its history is too short to say)
    suspect_high: bool = False  # a stuck or out-of-range reading at an alerting stage, not yet seen below it
    sane_since: float | None = None  # …since then, the first sound reading below it (POSIX s)
    no_data: bool = False  # silent so long after high water that its stage no longer counts


@dataclass(frozen=True, slots=True)
class Condition:
    """Something true about a station now. ``alert_level`` is the 警戒レベル (1–5) a
    public condition corresponds to; ``details`` carries figures for people (level,
    rate of rise, projected time, the rule's reason) and must be JSON-serialisable."""

    station_id: str
    kind: Kind
    alert_level: int | None = None
    stage_key: str | None = None
    stale: bool = False  # the station is offline: keep the alert, mark it stale
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return f"{self.station_id}:{self.kind}"

    @property
    def public(self) -> bool:
        return self.kind in PUBLIC_KINDS


@dataclass(frozen=True, slots=True)
class Assessment:
    """The result of evaluating one station: its new state and its conditions."""

    station_id: str
    state: StationState
    conditions: tuple[Condition, ...]
    flagged: tuple[tuple[datetime, int], ...] = ()  # (reading time, Quality QC bits) to store


class AlertState(StrEnum):
    pending = "pending"  # waiting for staff approval; nothing public yet
    active = "active"
    resolved = "resolved"  # ended with an all-clear
    cancelled = "cancelled"  # retracted by staff (publicly, if it had been public)
    withdrawn = "withdrawn"  # ended before approval (condition gone or rejected); nothing public


OPEN_STATES = frozenset({AlertState.pending, AlertState.active})


class MsgType(StrEnum):
    """CAP 1.2 ``msgType`` of an outbox message."""

    alert = "Alert"
    update = "Update"
    cancel = "Cancel"


@dataclass(frozen=True, slots=True)
class Approval:
    """One staff member's approval of an alert at a level (a row of ``alert_approvals``).
    An approval at a level also covers every lower level of the same alert."""

    level: int
    user_id: int
    approved_at: datetime
    revision: int = 0  # the area proposal's revision this approval was given for


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, as stored in the ``alerts`` table (plus its approvals so far).

    ``announces``: the kind is one residents hear about, so every change of it writes
    an outbox message; ``public``: it may actually reach them (``announces`` and
    status ``Actual``). ``version`` counts the messages written (Alert = 1, then each
    Update or Cancel +1). ``pending_level``/``pending_stage`` is an escalation awaiting
    approval while the alert stays active at its approved ``alert_level``.
    ``suppressed_level``: staff rejected or cancelled this alert (or its escalation) at
    this level; the same condition does not raise it again until it ends or rises above.
    ``id`` is ``None`` until the alert is stored."""

    id: int | None
    fingerprint: str
    station_id: str
    kind: Kind
    status: Status
    state: AlertState
    public: bool
    alert_level: int | None
    stage_key: str | None
    opened_at: datetime
    updated_at: datetime
    pending_level: int | None = None
    pending_stage: str | None = None
    suppressed_level: int | None = None
    stale: bool = False
    areas: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    ended_at: datetime | None = None
    acknowledged_by: int | None = None
    acknowledged_at: datetime | None = None
    notified_at: datetime | None = None
    approvals: tuple[Approval, ...] = ()
    # area issuances only: the area, the open proposal (its level is pending_level, 0 for
    # a lift), why it was made, a revision counted up whenever its kind or level changes
    # (so a stale browser cannot approve a proposal it has not seen), and what staff
    # declined ("<proposal>:<level>") so that it is not proposed again unchanged
    area_id: str | None = None
    proposal: Proposal | None = None
    proposal_reason: str | None = None
    revision: int = 0
    declined: str | None = None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def announces(self) -> bool:
        return self.kind in PUBLIC_KINDS

    @property
    def awaiting_level(self) -> int | None:
        """The level waiting for approval: the whole alert's while pending, the
        escalation's while active, an area's proposed level; ``None`` when nothing waits."""
        if self.kind is Kind.area:
            return self.pending_level if self.proposal is not None and self.open else None
        if self.state is AlertState.pending:
            return self.alert_level or 0
        if self.state is AlertState.active:
            return self.pending_level
        return None
