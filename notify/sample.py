"""A sample alert for ``kawamori notify preview`` (the demo network's Akagawa gauge)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.message import AlertMessage, AreaFacts, StageFacts, StationFacts, identifier, response_for
from alerts.model import Kind, MsgType, Status
from notify.render import Shelter

STAGES = {
    1: ("standby", "水防団待機水位", "standby level", 1.5),
    2: ("caution", "氾濫注意水位", "caution level", 2.2),
    3: ("judgement", "避難判断水位", "evacuation-judgement level", 2.8),
    4: ("danger", "氾濫危険水位", "danger level", 3.2),
    5: ("flooding", "氾濫発生", "flooding", 3.9),
}


def sample_message(*, level: int = 4, exercise: bool = False) -> AlertMessage:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    key, name_ja, name_en, metres = STAGES[level]
    return AlertMessage(
        identifier=identifier("kawamori.sample", 1, 1),
        sender="kawamori.sample",
        sent=now,
        status=Status.exercise if exercise else Status.actual,
        msg_type=MsgType.alert,
        alert_id=1,
        version=1,
        kind=Kind.stage,
        station=StationFacts(
            id="akagawa-kumaide",
            name_ja="熊出",
            name_en="Kumaide",
            river_ja="赤川",
            river_en="Akagawa River",
            latitude=38.63,
            longitude=139.83,
        ),
        alert_level=level,
        stage=StageFacts(key=key, name_ja=name_ja, name_en=name_en, level_m=metres),
        response=response_for(Kind.stage, level, ended=False),
        level_m=metres + 0.05,
        observed_at=now - timedelta(minutes=1),
        rate_m_h=0.35,
        areas=(AreaFacts(id="oyama", name_ja="大山地区", name_en="Oyama", geometry={}),),
    )


def sample_shelters() -> tuple[Shelter, ...]:
    return (
        Shelter("朝暘第一小学校", "Choyo No. 1 Elementary School", 1230.0, "vacant"),
        Shelter("鶴岡南高等学校", "Tsuruoka Minami High School", 2480.0, "somewhat_crowded"),
    )
