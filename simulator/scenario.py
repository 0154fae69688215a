"""Scenario files: a river network, rain, faults and what disaster staff expect to see.

``load_scenario(path)`` reads and validates a YAML file (errors name the file, line
and path, e.g. ``typhoon.yaml:31: faults[0].height_m: Field required``); ``plan``
(in :mod:`simulator.plan`) turns a scenario into per-device readings. Times inside a
scenario are offsets from ``time.start`` written ``"HH:MM"`` or ``"HH:MM:SS"`` (hours
may exceed 24); the format is documented in docs/simulator.md.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from alerts.rules import RuleSettings
from kawamori.model import Identifier
from kawamori.network import Network, NetworkError, read_network
from simulator import faults, hydrology


class ScenarioError(ValueError):
    pass


OFFSET = re.compile(r"^(\d+):([0-5]\d)(?::([0-5]\d))?$")


def parse_offset(value: Any) -> Any:
    """``"HH:MM"`` / ``"HH:MM:SS"`` → timedelta; anything else is left to pydantic
    (numbers are seconds, ISO 8601 durations like ``PT90M`` work too)."""
    if isinstance(value, str) and (match := OFFSET.match(value.strip())):
        hours, minutes, seconds = (int(part or 0) for part in match.groups())
        return timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return value


Offset = Annotated[timedelta, BeforeValidator(parse_offset), Field(ge=timedelta(0))]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def format_offset(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    text = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
    return text + (f":{seconds % 60:02d}" if seconds % 60 else "")


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- time, hydrology, rain, devices ------------------------------------------------------


class Time(Model):
    start: AwareDatetime
    duration: Offset
    acceleration: Positive = 60.0  # simulated seconds per real second
    step: Offset = timedelta(minutes=1)  # hydrology time step


class Catchment(Model):
    area_km2: Positive = 50.0
    runoff_coefficient: Annotated[float, Field(gt=0, le=1)] = 0.6
    reservoirs: Annotated[int, Field(ge=1, le=12)] = 3
    storage: Offset = timedelta(hours=1)
    base_flow_m3s: Positive = 1.0
    lag: Offset = timedelta(minutes=30)  # to the downstream station
    route_storage: Offset = timedelta(minutes=30)

    def node(self, station_id: str, downstream_id: str | None) -> hydrology.Node:
        return hydrology.Node(
            station_id,
            downstream_id,
            hydrology.Catchment(
                self.area_km2,
                self.runoff_coefficient,
                self.reservoirs,
                self.storage.total_seconds(),
                self.base_flow_m3s,
            ),
            hydrology.Reach(self.lag.total_seconds(), self.route_storage.total_seconds()),
        )


class CatchmentOverride(Model):
    area_km2: Positive | None = None
    runoff_coefficient: Annotated[float, Field(gt=0, le=1)] | None = None
    reservoirs: Annotated[int, Field(ge=1, le=12)] | None = None
    storage: Offset | None = None
    base_flow_m3s: Positive | None = None
    lag: Offset | None = None
    route_storage: Offset | None = None


class DesignStorm(Model):
    intensity_mm_h: Positive = 30.0
    duration: Offset = timedelta(hours=6)
    profile: Literal["block", "triangle"] = "triangle"


class Hydrology(Model):
    design_storm: DesignStorm = DesignStorm()
    defaults: Catchment = Catchment()
    stations: dict[Identifier, CatchmentOverride] = {}
    noise_m: Annotated[float, Field(ge=0, le=1)] = 0.005
    seed: int = 0

    def catchment(self, station_id: str) -> Catchment:
        override = self.stations.get(station_id)
        if override is None:
            return self.defaults
        return self.defaults.model_copy(update=override.model_dump(exclude_none=True))


class Rain(Model):
    start: Offset
    duration: Offset | None = None
    intensity_mm_h: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    profile: Literal["block", "triangle"] = "block"
    series_mm_h: tuple[Annotated[float, Field(ge=0, allow_inf_nan=False)], ...] = ()
    series_step: Offset = timedelta(minutes=10)
    stations: tuple[Identifier, ...] | None = None  # where it rains; all stations if absent

    def rain(self, start: datetime) -> hydrology.Rain:
        return hydrology.Rain(
            start=start + self.start,
            duration=self.duration or timedelta(0),
            intensity_mm_h=self.intensity_mm_h or 0.0,
            profile=self.profile,
            series_mm_h=self.series_mm_h,
            series_step=self.series_step,
            catchments=None if self.stations is None else frozenset(self.stations),
        )


class Devices(Model):
    interval: Offset = timedelta(minutes=1)  # between readings
    latency_s: Annotated[float, Field(ge=0)] = 1.0  # measurement to broker


# -- faults --------------------------------------------------------------------------------


class Spike(Model):
    kind: Literal["spike"]
    station: Identifier
    at: Offset
    height_m: float
    count: Annotated[int, Field(ge=1)] = 1

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.Spike(t0 + self.at, self.height_m, self.count)


class Stuck(Model):
    kind: Literal["stuck"]
    station: Identifier
    start: Offset
    end: Offset | None = None

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.Stuck(t0 + self.start, None if self.end is None else t0 + self.end)


class Drift(Model):
    kind: Literal["drift"]
    station: Identifier
    start: Offset
    rate_m_per_h: float
    end: Offset | None = None

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.Drift(t0 + self.start, self.rate_m_per_h, None if self.end is None else t0 + self.end)


class Dropout(Model):
    kind: Literal["dropout"]
    station: Identifier
    start: Offset
    end: Offset

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.Dropout(t0 + self.start, t0 + self.end)


class BrownOut(Model):
    kind: Literal["brown_out"]
    station: Identifier
    start: Offset
    volts_per_hour: Positive
    from_v: Annotated[float, Field(gt=faults.BATTERY_CUTOFF_V, le=5)] = faults.BATTERY_FULL_V

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.BrownOut(t0 + self.start, self.volts_per_hour, self.from_v)


class ClockSkew(Model):
    kind: Literal["clock_skew"]
    station: Identifier
    start: Offset = timedelta(0)
    offset_s: float

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.ClockSkew(t0 + self.start, timedelta(seconds=self.offset_s))


class Replace(Model):
    kind: Literal["replace"]
    station: Identifier
    at: Offset
    device: Identifier  # the new board's id
    gap: Offset = timedelta(minutes=10)

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.Replace(t0 + self.at, self.device, self.gap)


class Duplicate(Model):
    kind: Literal["duplicate"]
    station: Identifier | None = None  # every station if absent
    start: Offset
    end: Offset
    every: Annotated[int, Field(ge=1)] = 1
    delay_s: Annotated[float, Field(ge=0)] = 30.0

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.Duplicate(t0 + self.start, t0 + self.end, self.every, timedelta(seconds=self.delay_s))


class OutOfOrder(Model):
    kind: Literal["out_of_order"]
    station: Identifier | None = None
    start: Offset
    end: Offset

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.OutOfOrder(t0 + self.start, t0 + self.end)


class Outage(Model):
    kind: Literal["outage"]
    station: Identifier | None = None  # the whole broker if absent
    start: Offset
    end: Offset
    capacity: Annotated[int, Field(ge=1)] = 8192  # readings a board buffers

    def fault(self, t0: datetime) -> faults.Fault:
        return faults.Outage(t0 + self.start, t0 + self.end, self.capacity)


Fault = Annotated[
    Spike | Stuck | Drift | Dropout | BrownOut | ClockSkew | Replace | Duplicate | OutOfOrder | Outage,
    Field(discriminator="kind"),
]

# -- expectations --------------------------------------------------------------------------


class EntersStage(Model):
    """The station's level first reaches ``stage`` between the two times."""

    kind: Literal["enters_stage"]
    station: Identifier
    stage: Identifier
    between: tuple[Offset, Offset]


class LeavesStage(Model):
    """After reaching ``stage``, the level falls back below it between the two times
    (the all-clear for that stage)."""

    kind: Literal["leaves_stage"]
    station: Identifier
    stage: Identifier
    between: tuple[Offset, Offset]


class Stale(Model):
    """By ``by`` the station shows as stale (no fresh readings), never as normal."""

    kind: Literal["stale"]
    station: Identifier
    by: Offset


class StaysBelow(Model):
    """The river never reaches ``stage`` at the station (whatever the sensor says)."""

    kind: Literal["stays_below"]
    station: Identifier
    stage: Identifier


class Alert(Model):
    """An alert at 警戒レベル ``level`` for the station or the area is in ``state`` by ``by``."""

    kind: Literal["alert"]
    station: Identifier | None = None
    area: Identifier | None = None
    level: Annotated[int, Field(ge=1, le=5)]
    state: Literal["pending_approval", "active"]
    by: Offset


class NoPublicAlert(Model):
    """No alert for the station (or area) reaches residents during the scenario."""

    kind: Literal["no_public_alert"]
    station: Identifier | None = None
    area: Identifier | None = None


class ExactlyOnce(Model):
    """Every reading the devices sent is stored exactly once (duplicates dropped, the
    backlog of an outage complete)."""

    kind: Literal["exactly_once"]


class NoPublicChannel(Model):
    """Nothing reaches a public channel (drills and tests)."""

    kind: Literal["no_public_channel"]


class IssuedLevel(Model):
    """Throughout ``between``, the area's issued level (what residents were told; 0 when
    nothing is issued) stays at least ``never_below`` and/or at most ``never_above``."""

    kind: Literal["issued_level"]
    area: Identifier
    never_below: Annotated[int, Field(ge=0, le=5)] | None = None
    never_above: Annotated[int, Field(ge=0, le=5)] | None = None
    between: tuple[Offset, Offset]


class Issued(Model):
    """By ``by`` the area's issued level became ``level`` (0: lifted or cancelled),
    decided by ``decided`` — ``staff`` (an approval or a cancel) or ``policy`` (the
    written policy, with no person) — when given."""

    kind: Literal["issued"]
    area: Identifier
    level: Annotated[int, Field(ge=0, le=5)]
    by: Offset
    decided: Literal["staff", "policy"] | None = None


Expectation = Annotated[
    EntersStage
    | LeavesStage
    | StaysBelow
    | Stale
    | Alert
    | NoPublicAlert
    | ExactlyOnce
    | NoPublicChannel
    | IssuedLevel
    | Issued,
    Field(discriminator="kind"),
]


# -- staff ---------------------------------------------------------------------------------


class StaffStep(Model):
    """A person acts on an area's issuance through the console's service functions
    (:mod:`alerts.actions`). From ``at`` on, at each evaluation, the step is done as soon
    as the area has an open proposal matching ``proposal`` and ``level`` (when given) —
    a person waiting for the proposal they mean to decide; ``cancel`` needs only an open
    issuance. ``by`` names the staff account (created with ``role``); a level-5 raise
    needs two steps by two people."""

    at: Offset
    action: Literal["approve", "decline", "cancel"]
    area: Identifier
    proposal: Literal["raise", "lower", "lift", "verify"] | None = None
    level: Annotated[int, Field(ge=0, le=5)] | None = None
    by: Identifier = "duty-officer"
    role: Literal["operator", "approver", "admin"] = "approver"
    reason: str = ""


class Scenario(Model):
    name: Identifier
    description: str = ""
    status: Literal["Actual", "Exercise", "Test"] = "Actual"  # CAP 1.2 status
    time: Time
    network: Network
    hydrology: Hydrology = Hydrology()
    devices: Devices = Devices()
    rain: tuple[Rain, ...] = ()
    faults: tuple[Fault, ...] = ()
    staff: tuple[StaffStep, ...] = ()
    expectations: tuple[Expectation, ...] = ()

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-reference problems as ``(path, message)``; empty when consistent."""
        stations = {s.id: s for s in self.network.stations}
        areas = {a.id for a in self.network.areas}
        devices = {d.id for d in self.network.devices}
        found: list[tuple[tuple[str | int, ...], str]] = []

        def station(path: tuple[str | int, ...], station_id: str | None) -> None:
            if station_id is not None and station_id not in stations:
                found.append((path, f"unknown station {station_id!r}"))

        def within(path: tuple[str | int, ...], offset: timedelta | None) -> None:
            if offset is not None and offset > self.time.duration:
                found.append((path, f"{format_offset(offset)} is after the scenario ends"))

        step = self.time.step.total_seconds()
        if step <= 0:
            found.append((("time", "step"), "must be positive"))
        elif self.devices.interval.total_seconds() % step or not self.devices.interval:
            found.append((("devices", "interval"), f"must be a positive multiple of time.step ({step:g} s)"))
        for station_id in self.hydrology.stations:
            station(("hydrology", "stations", station_id), station_id)
        for i, rain in enumerate(self.rain):
            for station_id in rain.stations or ():
                station(("rain", i, "stations"), station_id)
            if not rain.series_mm_h and (rain.duration is None or rain.intensity_mm_h is None):
                found.append((("rain", i), "give duration and intensity_mm_h, or series_mm_h"))
            within(("rain", i, "start"), rain.start)
        for i, fault in enumerate(self.faults):
            station(("faults", i, "station"), fault.station)
            for name in ("at", "start", "end"):
                within(("faults", i, name), getattr(fault, name, None))
            start, end = getattr(fault, "start", None), getattr(fault, "end", None)
            if start is not None and end is not None and end <= start:
                found.append((("faults", i, "end"), "must be after start"))
            if isinstance(fault, Replace) and fault.device in devices:
                found.append((("faults", i, "device"), f"device {fault.device!r} already exists"))
        for i, expectation in enumerate(self.expectations):
            station_id = getattr(expectation, "station", None)
            station(("expectations", i, "station"), station_id)
            if isinstance(expectation, EntersStage | LeavesStage | StaysBelow) and station_id in stations:
                keys = [s.key for s in stations[station_id].stages]
                if expectation.stage not in keys:
                    found.append(
                        (
                            ("expectations", i, "stage"),
                            f"station {station_id} has no stage {expectation.stage!r}",
                        )
                    )
            if isinstance(expectation, EntersStage | LeavesStage):
                low, high = expectation.between
                within(("expectations", i, "between"), high)
                if high < low:
                    found.append((("expectations", i, "between"), "the window ends before it starts"))
            if isinstance(expectation, Alert | NoPublicAlert):
                area = expectation.area
                if area is not None and area not in areas:
                    found.append((("expectations", i, "area"), f"unknown area {area!r}"))
                if isinstance(expectation, Alert) and (station_id is None) == (area is None):
                    found.append((("expectations", i), "name either a station or an area"))
            if isinstance(expectation, Alert | Stale | Issued):
                within(("expectations", i, "by"), expectation.by)
            if isinstance(expectation, IssuedLevel | Issued) and expectation.area not in areas:
                found.append((("expectations", i, "area"), f"unknown area {expectation.area!r}"))
            if isinstance(expectation, IssuedLevel):
                low, high = expectation.between
                within(("expectations", i, "between"), high)
                if high < low:
                    found.append((("expectations", i, "between"), "the window ends before it starts"))
                if expectation.never_below is None and expectation.never_above is None:
                    found.append((("expectations", i), "give never_below or never_above"))
        roles: dict[str, str] = {}
        for i, step in enumerate(self.staff):
            if step.area not in areas:
                found.append((("staff", i, "area"), f"unknown area {step.area!r}"))
            within(("staff", i, "at"), step.at)
            if step.action in ("decline", "cancel") and not step.reason.strip():
                found.append((("staff", i, "reason"), f"a reason is required to {step.action}"))
            if roles.setdefault(step.by, step.role) != step.role:
                found.append((("staff", i, "role"), f"{step.by} is already {roles[step.by]}"))
        return found


# -- loading -------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``02:10`` as the sexagesimal integer 130; scenarios mean a time."""


INT = "tag:yaml.org,2002:int"
PLAIN_INT = re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$")
_Loader.yaml_implicit_resolvers = {
    first: [(tag, PLAIN_INT if tag == INT else regexp) for tag, regexp in resolvers]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _lines(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines |= _lines(value, (*path, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            lines |= _lines(value, (*path, index))
    return lines


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _place(path: tuple[Any, ...], document: Any, lines: dict[tuple[Any, ...], int]) -> tuple[str, int | None]:
    """``faults[0].height_m`` and the line of the deepest part of it in the file.
    Pydantic puts the tag of a tagged union (``faults.0.spike.height_m``) in the path:
    a part that is the ``kind`` of the mapping it would index is left out."""
    known: tuple[Any, ...] = ()
    text = ""
    node = document
    for part in path:
        if isinstance(node, dict) and node.get("kind") == part and part not in node:
            continue
        node = _child(node, part)
        known = (*known, part)
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    line = None
    for length in range(len(known), -1, -1):
        if known[:length] in lines:
            line = lines[known[:length]]
            break
    return text or "(top)", line


def read_yaml(path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """The document in ``path`` and the line of every part of it."""
    try:
        loader = _Loader(path.read_text(encoding="utf-8"))
        try:
            node = loader.get_single_node()
            document = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except (OSError, yaml.YAMLError) as error:
        raise ScenarioError(f"{path}: {error}") from None
    return document, (_lines(node) if node is not None else {})


def load_scenario(path: Path | str) -> Scenario:
    """Read, validate and cross-check a scenario file. A ``network`` given as a string
    is a network file (kawamori/network.py format), relative to the scenario."""
    path = Path(path)
    document, lines = read_yaml(path)
    if not isinstance(document, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping (name, time, network, …)")
    if isinstance(document.get("network"), str):
        try:
            document = {
                **document,
                "network": read_network(
                    path.parent / document["network"], check_rules=RuleSettings.for_station
                ),
            }
        except NetworkError as error:
            line = lines.get(("network",))
            raise ScenarioError(f"{path}:{line}: network: {error}") from None
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as error:
        raise ScenarioError(
            _report(path, document, lines, [(p["loc"], p["msg"]) for p in error.errors(include_url=False)])
        ) from None
    problems = scenario.problems()
    if problems:
        raise ScenarioError(_report(path, document, lines, problems))
    return scenario


def _report(path: Path, document: Any, lines: dict, problems: list[tuple[tuple[Any, ...], str]]) -> str:
    out = [f"{path}: {len(problems)} problem(s)"]
    for loc, message in problems:
        where, line = _place(tuple(loc), document, lines)
        out.append(f"  {path}:{line if line is not None else '?'}: {where}: {message}")
    return "\n".join(out)
