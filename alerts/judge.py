"""Pure judgement of a station's current stage. No I/O; ``now`` is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kawamori.model import Quality, Stage, stage_at

# readings with these flags never drive a judgement on their own
DISQUALIFYING = Quality.OUT_OF_RANGE | Quality.FEW_SAMPLES | Quality.SENSOR_ERROR


@dataclass(frozen=True, slots=True)
class Judgement:
    station_id: str
    reading_time: datetime
    level_m: float
    stage_key: str | None
    alert_level: int | None
    evaluated_at: datetime


def usable(quality: int) -> bool:
    return not quality & DISQUALIFYING


def judge(
    station_id: str, stages: Sequence[Stage], reading_time: datetime, level_m: float, now: datetime
) -> Judgement:
    stage = stage_at(level_m, stages)
    return Judgement(
        station_id=station_id,
        reading_time=reading_time,
        level_m=level_m,
        stage_key=stage.key if stage else None,
        alert_level=stage.alert_level if stage else None,
        evaluated_at=now,
    )
