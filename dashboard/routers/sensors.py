"""Sensor health for staff: every device with its battery, signal, backlog, last
reading and status, firmware, quality flags of the last 24 hours and lag, sortable; and
the gauges that need a visit, with their reasons. The same data as JSON at /api/sensors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from dashboard import queries
from dashboard.deps import SESSION_COOKIE, Conn, CurrentActor, Now
from dashboard.pages import language, secure_headers, templates
from dashboard.sensor_health import SORTS, DeviceHealth, Reason, Status, needs_visit, reason_text, status
from kawamori import staff

router = APIRouter(tags=["sensors"])
Sort = Literal["device", "station", "battery", "rssi", "backlog", "last", "firmware", "qc", "lag"]


class SensorPublic(BaseModel):
    device: DeviceHealth  # what is stored and measured of it (device_status, 24 h of readings)
    status: Status
    qc_flags_24h: list[str]
    needs_visit: list[Reason]  # most urgent first; empty: nothing to do


def _devices(conn, now: datetime, sort: str) -> list[tuple[DeviceHealth, Status, tuple[Reason, ...]]]:
    devices = [DeviceHealth(**row) for row in queries.device_health(conn, now=now)]
    devices.sort(key=SORTS[sort])
    return [(d, status(d, now=now), needs_visit(d, now=now)) for d in devices]


def _public(device: DeviceHealth, state: Status, reasons: tuple[Reason, ...]) -> SensorPublic:
    return SensorPublic(
        device=device, status=state, qc_flags_24h=device.flag_names(), needs_visit=list(reasons)
    )


@router.get("/api/sensors", response_model=list[SensorPublic], summary="Every device's health (staff)")
def list_sensors(
    conn: Conn, now: Now, actor: CurrentActor, sort: Annotated[Sort, Query(description="Order")] = "device"
) -> list[SensorPublic]:
    return [_public(*row) for row in _devices(conn, now, sort)]


@router.get("/sensors", response_class=HTMLResponse, include_in_schema=False)
def sensors_page(
    request: Request, conn: Conn, now: Now, lang: str | None = None, sort: str = "device"
) -> Response:
    try:
        staff.current_session(conn, token=request.cookies.get(SESSION_COOKIE), now=now)
    except staff.NotSignedIn:
        return RedirectResponse(f"/staff/login?next={quote('/sensors')}", status_code=303)
    chosen = language(request, lang)
    sort = sort if sort in SORTS else "device"
    rows = _devices(conn, now, sort)
    visits = [(d, [reason_text(r, d, chosen) for r in reasons]) for d, _, reasons in rows if reasons]
    return templates.TemplateResponse(
        request,
        "sensors.html",
        {"lang": chosen, "rows": rows, "visits": visits, "sort": sort, "tz": request.app.state.zone},
        headers=secure_headers(),
    )
