"""The domain model shared by every component: stations and their stages,
devices, readings, shelters and alert areas.

Everything here is plain data with validation and pure helpers; nothing does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag, StrEnum
from itertools import pairwise
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Stage(Frozen):
    """One named threshold of a station, e.g. 氾濫危険水位 at 7.77 m → 警戒レベル 4.

    ``alert_level`` is the Japanese 警戒レベル (1–5) the stage corresponds to, or
    ``None`` for stages that mean "watch" rather than "act" (e.g. observation start).
    """

    key: Identifier
    name_ja: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    level_m: float = Field(allow_inf_nan=False)
    alert_level: int | None = Field(default=None, ge=1, le=5)


class Quality(IntFlag):
    """Per-reading quality flags, stored as an integer bit set."""

    OK = 0
    OUT_OF_RANGE = 1  # outside the sensor's or station's physical range
    FEW_SAMPLES = 2  # too few valid samples in the measurement burst
    SENSOR_ERROR = 4  # the sensor reported an error
    CLOCK_UNSET = 8  # timestamp reconstructed from the reading's age
    CLOCK_SKEW = 16  # device clock disagrees with the server
    # quality control added by the alert evaluator (IOOS QARTOD water-level tests);
    # its rules read only the bits above, so re-evaluating gives the same flags
    SPIKE = 32  # QARTOD spike test
    RATE = 64  # QARTOD rate of change: faster than water rises or falls
    FLAT_LINE = 128  # QARTOD flat line: stuck sensor
    SUSPECT_RANGE = 256  # QARTOD gross range, "suspect": outside the station's usual range


INGEST_QUALITY = Quality(0b11111)  # the bits ingest sets
QC_QUALITY = Quality.SPIKE | Quality.RATE | Quality.FLAT_LINE | Quality.SUSPECT_RANGE


class Station(Frozen):
    """A river gauging point. Levels are metres above the gauge datum (零点高)."""

    id: Identifier
    name_ja: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    river_ja: str = Field(min_length=1)
    river_en: str = Field(min_length=1)
    latitude: Latitude
    longitude: Longitude
    datum_elevation_m: float | None = Field(
        default=None, description="Gauge datum (零点高) above sea level, if known"
    )
    mount_height_m: float = Field(
        description="Sensor face above the gauge datum: level = mount height − distance",
        allow_inf_nan=False,
    )
    level_min_m: float = Field(allow_inf_nan=False)
    level_max_m: float = Field(allow_inf_nan=False)
    stages: tuple[Stage, ...] = ()
    downstream_id: Identifier | None = None
    alert_rules: dict[str, float | int] = Field(
        default_factory=dict,
        description="Alert-rule settings that differ from the defaults (alerts.rules.RuleSettings)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Station:
        if self.level_min_m >= self.level_max_m:
            raise ValueError("level_min_m must be below level_max_m")
        if self.level_max_m > self.mount_height_m:
            raise ValueError("level_max_m cannot be above the sensor (mount_height_m)")
        problem = stage_problem(self.stages, self.level_min_m, self.level_max_m)
        if problem:
            raise ValueError(problem)
        return self


def stage_problem(stages: Sequence[Stage], level_min: float, level_max: float) -> str | None:
    """Why a list of stages is unusable for a station, or ``None`` if it is fine.

    Stages must have unique keys, strictly ascending levels within the physical
    range, and alert levels that never go down as the water rises.
    """
    keys = [s.key for s in stages]
    if len(set(keys)) != len(keys):
        return "stage keys must be unique"
    for lower, upper in pairwise(stages):
        if not lower.level_m < upper.level_m:
            return f"stages must ascend: {upper.key} ({upper.level_m} m) is not above {lower.key}"
    acting = [s for s in stages if s.alert_level is not None]
    for lower, upper in pairwise(acting):
        assert lower.alert_level is not None and upper.alert_level is not None
        if upper.alert_level < lower.alert_level:
            return f"alert level of {upper.key} is below that of {lower.key}"
    for stage in stages:
        if not level_min < stage.level_m <= level_max:
            return f"stage {stage.key} ({stage.level_m} m) is outside {level_min}–{level_max} m"
    return None


def stage_at(level_m: float, stages: Sequence[Stage]) -> Stage | None:
    """The highest stage whose threshold the level has reached, or ``None``."""
    if math.isnan(level_m):
        return None
    reached = None
    for stage in stages:
        if level_m >= stage.level_m:
            reached = stage
    return reached


def crisis_gauge_stages(start: float, danger: float, warning: float | None = None) -> tuple[Stage, ...]:
    """The stages a Japanese crisis-management gauge (危機管理型水位計) defines."""
    stages = [Stage(key="observation", name_ja="観測開始水位", name_en="Observation start", level_m=start)]
    if warning is not None and start < warning < danger:
        stages.append(
            Stage(
                key="caution",
                name_ja="氾濫注意水位",
                name_en="Flood caution",
                level_m=warning,
                alert_level=2,
            )
        )
    stages.append(
        Stage(
            key="danger",
            name_ja="氾濫危険水位",
            name_en="Flood danger",
            level_m=danger,
            alert_level=4,
        )
    )
    return tuple(stages)


class Device(Frozen):
    """A sensor board. Its hardware id is its MQTT identity; it measures for a station
    and can be replaced without the station losing its history."""

    id: Identifier
    station_id: Identifier | None = None
    note: str = ""


class Reading(Frozen):
    """One stored water-level reading."""

    station_id: Identifier
    time: datetime
    level_m: float = Field(allow_inf_nan=False)
    device_id: Identifier | None = None
    seq: int | None = Field(default=None, ge=0)
    distance_m: float | None = Field(default=None, allow_inf_nan=False)
    battery_v: float | None = Field(default=None, allow_inf_nan=False)
    rssi_dbm: int | None = None
    quality: Quality = Quality.OK


class Hazard(StrEnum):
    """Hazards a designated shelter can be safe for (指定緊急避難場所の対象災害)."""

    flood = "flood"  # 洪水
    landslide = "landslide"  # 崖崩れ、土石流及び地滑り
    storm_surge = "storm_surge"  # 高潮
    earthquake = "earthquake"  # 地震
    tsunami = "tsunami"  # 津波
    fire = "fire"  # 大規模な火事
    inland_flood = "inland_flood"  # 内水氾濫
    volcano = "volcano"  # 火山現象


class ShelterStatus(StrEnum):
    preparing = "preparing"
    open = "open"
    closed = "closed"


class Shelter(Frozen):
    id: Identifier
    name_ja: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    address: str = ""
    latitude: Latitude
    longitude: Longitude
    capacity: int = Field(ge=0)
    hazards: frozenset[Hazard] = frozenset()
    status: ShelterStatus = ShelterStatus.closed


class AlertArea(Frozen):
    """An area residents subscribe to, with the stations whose alerts cover it.
    ``geometry`` is a GeoJSON (RFC 7946) Polygon or MultiPolygon."""

    id: Identifier
    name_ja: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    geometry: dict
    station_ids: tuple[Identifier, ...] = ()

    @field_validator("geometry")
    @classmethod
    def _polygon(cls, geometry: dict) -> dict:
        if geometry.get("type") not in {"Polygon", "MultiPolygon"}:
            raise ValueError("alert area geometry must be a GeoJSON Polygon or MultiPolygon")
        if not isinstance(geometry.get("coordinates"), list) or not geometry["coordinates"]:
            raise ValueError("alert area geometry needs coordinates")
        return geometry


class Role(StrEnum):
    """Staff roles, each including the ones before it."""

    viewer = "viewer"  # sees everything, changes nothing
    operator = "operator"  # acknowledges, approves evacuation levels, cancels, rejects
    approver = "approver"  # may give one of the two approvals the highest level needs
    admin = "admin"  # also manages accounts and station alert settings

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in staff member acting on an alert (``None`` actor = the evaluator)."""

    id: int
    username: str
    display_name: str
    role: Role
