"""Small factories for alert messages and rendered deliveries."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.message import AlertMessage, AreaFacts, Response, StageFacts, StationFacts, identifier
from alerts.model import Kind, MsgType, Status
from notify.channels import Delivery, Recipient
from notify.render import Shelter, render

SENDER = "jp.tsuruoka.kawamori"
STATION = StationFacts(
    id="akagawa-kumaide",
    name_ja="熊出",
    name_en="Kumaide",
    river_ja="赤川",
    river_en="Akagawa River",
    latitude=38.63,
    longitude=139.83,
)
DANGER = StageFacts(key="danger", name_ja="氾濫危険水位", name_en="danger level", level_m=3.2)
AREA = AreaFacts(
    id="oyama", name_ja="大山地区", name_en="Oyama", geometry={"type": "Polygon", "coordinates": []}
)
SHELTERS = (
    Shelter("朝暘第一小学校", "Choyo No. 1 Elementary School", 1234.0, "vacant"),
    Shelter("鶴岡南高等学校", "Tsuruoka Minami High School", 2480.0, "crowded"),
)
RESIDENT_URL = "https://bousai.example.jp/r/oyama"
UNSUBSCRIBE_URL = "https://bousai.example.jp/u/7d1c0f2a9b"


def message(
    *,
    level: int | None = 4,
    kind: Kind = Kind.stage,
    msg_type: MsgType = MsgType.alert,
    status: Status = Status.actual,
    response: Response = Response.evacuate,
    ended: bool = False,
    alert_id: int = 12,
    version: int = 1,
    **changes,
) -> AlertMessage:
    values = dict(
        identifier=identifier(SENDER, alert_id, version),
        sender=SENDER,
        sent=datetime(2026, 9, 1, 5, 6, tzinfo=UTC),
        status=status,
        msg_type=msg_type,
        alert_id=alert_id,
        version=version,
        kind=kind,
        station=STATION,
        alert_level=level,
        stage=DANGER,
        response=response,
        ended=ended,
        level_m=3.25,
        observed_at=datetime(2026, 9, 1, 5, 5, tzinfo=UTC),
        rate_m_h=0.4,
        areas=(AREA,),
    )
    values.update(changes)
    return AlertMessage(**values)


def delivery(
    channel: str, address, *, language: str = "ja", msg: AlertMessage | None = None, **kw
) -> Delivery:
    kw.setdefault("shelters", SHELTERS)
    kw.setdefault("resident_url", RESIDENT_URL)
    rendered = render(
        msg or message(), language=language, channel=channel, unsubscribe_url=UNSUBSCRIBE_URL, **kw
    )
    return Delivery(id="d-1", rendered=rendered, recipient=Recipient(address))
