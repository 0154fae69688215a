"""Station alert settings for administrators: stages, rule overrides and drill mode.

Thin views over :mod:`alerts.station_settings`: a signed-in session is required (401),
the admin role (403), the session's CSRF token on ``PUT`` (403); settings that do not
validate are refused with the reason (422) and nothing is changed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, create_model

from alerts import station_settings
from alerts.errors import NotFound
from alerts.model import Status
from alerts.rules import RuleSettings
from dashboard.deps import Admin, Conn, Now
from kawamori.model import Stage

router = APIRouter(prefix="/api/stations", tags=["station settings"])


# the rule settings a station may override, each optional, with the same limits
RuleOverrides = create_model(
    "RuleOverrides",
    __config__=ConfigDict(extra="forbid", strict=True),
    **{
        name: (
            Annotated[field.annotation, *field.metadata] | None,
            Field(None, description=field.description),
        )
        for name, field in RuleSettings.model_fields.items()
    },
)


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    stages: list[Stage] = Field(
        min_length=1, max_length=20, description="named thresholds, ascending, within the sensor's range"
    )
    alert_rules: RuleOverrides = Field(  # type: ignore[valid-type]
        default_factory=RuleOverrides,
        description="rule settings that differ from the defaults (docs/alerts.md)",
    )
    alert_status: Status = Field(
        default=Status.actual, description="Actual; Exercise (訓練) or Test: alerts never reach residents"
    )


class SettingsPublic(SettingsUpdate):
    alert_rules: dict[str, float | int] = Field(  # type: ignore[assignment]
        description="rule settings that differ from the defaults (docs/alerts.md)"
    )
    station_id: str
    level_min_m: float
    level_max_m: float
    updated_at: datetime


def _public(settings: station_settings.StationSettings) -> dict[str, Any]:
    return {
        "station_id": settings.station_id,
        "level_min_m": settings.level_min_m,
        "level_max_m": settings.level_max_m,
        "updated_at": settings.updated_at,
        **settings.editable(),
    }


@router.get(
    "/{station_id}/settings",
    response_model=SettingsPublic,
    summary="A station's stages, alert-rule overrides and alert status (admin)",
)
def get_settings(station_id: str, conn: Conn, actor: Admin) -> dict:
    try:
        return _public(station_settings.get_settings(conn, station_id=station_id))
    except NotFound as error:
        raise HTTPException(404, str(error)) from None


@router.put(
    "/{station_id}/settings",
    response_model=SettingsPublic,
    summary="Replace a station's alert settings (admin); the evaluator picks them up on its next run",
)
def put_settings(station_id: str, body: SettingsUpdate, conn: Conn, now: Now, actor: Admin) -> dict:
    try:
        settings = station_settings.update_settings(
            conn,
            station_id=station_id,
            stages=tuple(body.stages),
            alert_rules=body.alert_rules.model_dump(exclude_none=True),
            alert_status=body.alert_status,
            by=actor,
            now=now,
        )
    except NotFound as error:
        raise HTTPException(404, str(error)) from None
    except station_settings.InvalidSettings as error:
        raise HTTPException(422, str(error)) from None
    return _public(settings)
