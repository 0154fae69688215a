"""Public API shapes (pydantic), separate from the tables they come from."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from kawamori.model import Stage


class StationPublic(BaseModel):
    id: str
    name_ja: str
    name_en: str
    river_ja: str
    river_en: str
    latitude: float
    longitude: float
    level_min_m: float
    level_max_m: float
    stages: list[Stage]
    downstream_id: str | None
    latest_time: datetime | None
    latest_level_m: float | None
    latest_quality: int | None
    reading_time: datetime | None
    level_m: float | None
    stage_key: str | None = Field(description="the confirmed stage observed (観測), not an issued level")
    alert_level: int | None = Field(
        description="the 警戒レベル the observed stage corresponds to (相当): evidence for its area's "
        "decision, never itself issued; see /api/areas/levels for what was issued"
    )
    evaluated_at: datetime | None
    stage: Stage | None
    stale: bool
    alert_status: str = Field(description="Actual, or Exercise / Test while the station is in a drill")
    rate_m_h: float | None = Field(
        description="rate of rise in m/h (the evaluator's, else the last hour's readings); null when stale"
    )
    trend: str | None = Field(description="rising, falling or steady (±0.05 m/h); null when not known")


class ReadingPoint(BaseModel):
    time: datetime
    level_m: float
    quality: int | None = None
    min_m: float | None = None
    max_m: float | None = None
    n: int | None = None


class IssuedPublic(BaseModel):
    alert_id: int = Field(description="the area's issuance (an alert of kind area)")
    level: int = Field(description="the issued 警戒レベル: what residents were told")
    basis: str | None = Field(description="observed or forecast: the evidence it was issued on")
    since: datetime = Field(description="when the issuance opened")
    updated_at: datetime


class ProposalPublic(BaseModel):
    alert_id: int = Field(description="its card in the alert console: /alerts#alert-<alert_id>")
    proposal: str = Field(description="raise, lower, lift or verify")
    level: int = Field(description="the proposed level (0: lift)")
    reason: str | None = Field(description="observed, forecast, unverified, sensor_fault or no_data")
    revision: int


class DrillPublic(BaseModel):
    alert_id: int
    status: str = Field(description="Exercise (訓練) or Test: never reaches residents")
    state: str = Field(description="pending or active")
    level: int | None = Field(description="the drill's issued level, if any")
    proposal: ProposalPublic | None


class AreaLevelPublic(BaseModel):
    id: str = Field(description="an alert area's id, or a station's id for a station in no area")
    name_ja: str
    name_en: str
    geometry: bool = Field(description="true: a polygon in /api/areas.geojson; false: a station in no area")
    issued: IssuedPublic | None = Field(description="null: nothing issued (発令なし)")
    proposal: ProposalPublic | None = Field(
        description="the open proposal awaiting staff (staff only; null for everyone else)"
    )
    drills: list[DrillPublic] = Field(description="open Exercise / Test issuances (staff only)")


class AreaLevelsPublic(BaseModel):
    staff: bool = Field(description="whether proposals and drills were included (a signed-in staff session)")
    areas: list[AreaLevelPublic] = Field(description="most severe issued level first, then open proposals")
