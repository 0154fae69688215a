"""Small factories for the alert-evaluation tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from alerts.model import Sample
from kawamori.model import Stage, Station

T0 = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)

# a Japanese river with every stage: 水防団待機 / 氾濫注意 / 避難判断 / 氾濫危険 / 氾濫発生
JP_STAGES = (
    Stage(key="standby", name_ja="水防団待機水位", name_en="Flood-fighting standby", level_m=2.0),
    Stage(key="caution", name_ja="氾濫注意水位", name_en="Flood caution", level_m=3.0, alert_level=2),
    Stage(
        key="judgement", name_ja="避難判断水位", name_en="Evacuation judgement", level_m=4.0, alert_level=3
    ),
    Stage(key="danger", name_ja="氾濫危険水位", name_en="Flood danger", level_m=5.0, alert_level=4),
    Stage(key="flooding", name_ja="氾濫発生", name_en="Flooding", level_m=6.0, alert_level=5),
)


def station(stages: Sequence[Stage] = JP_STAGES, **overrides) -> Station:
    values = dict(
        id="st-1",
        name_ja="川守橋",
        name_en="Kawamori Bridge",
        river_ja="川守川",
        river_en="Kawamori River",
        latitude=35.0,
        longitude=135.0,
        mount_height_m=12.0,
        level_min_m=0.0,
        level_max_m=11.0,
        stages=tuple(stages),
    )
    values.update(overrides)
    return Station(**values)


def series(
    levels: Iterable[float], every_min: float = 10, start: datetime = T0, quality: int = 0
) -> list[Sample]:
    """Samples every ``every_min`` minutes from ``start``."""
    return [
        Sample(start + timedelta(minutes=every_min * i), float(level), quality)
        for i, level in enumerate(levels)
    ]


def at(minutes: float, start: datetime = T0) -> datetime:
    return start + timedelta(minutes=minutes)
