"""Public API shapes (pydantic), separate from the tables they come from."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

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
    stage_key: str | None
    alert_level: int | None
    evaluated_at: datetime | None
    stage: Stage | None
    stale: bool


class ReadingPoint(BaseModel):
    time: datetime
    level_m: float
    quality: int | None = None
    min_m: float | None = None
    max_m: float | None = None
    n: int | None = None


class Health(BaseModel):
    status: str
    database: bool
    stations: int
    devices: int
    dead_letters: int
