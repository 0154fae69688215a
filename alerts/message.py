"""The message an alert change sends: the JSON payload of an ``alert_outbox`` row.

Built by the lifecycle's storage layer in the same transaction as the change,
rendered as CAP 1.2 (``alerts.cap``) and delivered to residents by the notification
workers. Facts only, no prose: each channel words them in the reader's language.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.model import Kind, MsgType, Status


class Response(StrEnum):
    """CAP 1.2 ``responseType``: what people should do."""

    evacuate = "Evacuate"  # 警戒レベル 3 (高齢者等避難: the elderly and others who need time) to 5
    prepare = "Prepare"  # a forecast: the water is expected to reach an evacuation stage
    monitor = "Monitor"  # 警戒レベル 2 and below
    all_clear = "AllClear"  # the alert has ended
    none = "None"  # a retraction: the alert was a mistake


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StationFacts(Frozen):
    id: str
    name_ja: str
    name_en: str
    river_ja: str
    river_en: str
    latitude: float
    longitude: float


class StageFacts(Frozen):
    key: str
    name_ja: str
    name_en: str
    level_m: float


class AreaFacts(Frozen):
    id: str
    name_ja: str
    name_en: str
    geometry: dict[str, Any]  # GeoJSON Polygon or MultiPolygon (RFC 7946)


class AlertMessage(Frozen):
    """One version of one alert, as sent.

    ``identifier`` is unique per (alert, version) and stable, so a retried delivery
    carries the same identifier; ``references`` lists the identifiers of the
    versions this one updates or cancels (CAP ``references``)."""

    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    references: tuple[str, ...] = ()
    # when each of ``references`` was sent, in the same order: CAP names an earlier
    # message by "sender,identifier,sent" (empty: a reader looks the times up)
    references_sent: tuple[datetime, ...] = ()
    alert_id: int
    version: int = Field(ge=1)
    kind: Kind
    station: StationFacts
    alert_level: int | None = Field(default=None, ge=1, le=5)
    stage: StageFacts | None = None
    response: Response
    ended: bool = False  # an all-clear (msg_type Update) or a retraction (Cancel)
    level_m: float | None = None
    observed_at: datetime | None = None
    rate_m_h: float | None = None  # observed rate of rise
    eta: datetime | None = None  # forecast: when the stage is projected to be reached
    areas: tuple[AreaFacts, ...] = ()
    note: str = ""  # staff's reason, e.g. why an alert was cancelled

    @model_validator(mode="after")
    def _one_time_per_reference(self) -> AlertMessage:
        if self.references_sent and len(self.references_sent) != len(self.references):
            raise ValueError("references_sent needs one time per reference (or none)")
        return self


def identifier(sender: str, alert_id: int, version: int) -> str:
    return f"{sender}:alert:{alert_id}:{version}"


def response_for(kind: Kind, alert_level: int | None, *, ended: bool, cancelled: bool = False) -> Response:
    """What people should do, from the alert level (内閣府「避難情報に関するガイドライン」)."""
    if cancelled:
        return Response.none
    if ended:
        return Response.all_clear
    if alert_level is None or alert_level <= 2:
        return Response.monitor
    if kind is Kind.forecast:
        return Response.prepare
    return Response.evacuate
