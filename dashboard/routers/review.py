"""The after-action review for staff: ``/review`` (a printable page with plots, ja/en)
and ``/review.csv`` (the same timeline) for a time range and areas."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, tzinfo
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboard import queries, review
from dashboard.deps import SESSION_COOKIE, Conn, CurrentActor, Now
from dashboard.pages import language, secure_headers, templates
from kawamori import staff, texts

router = APIRouter(tags=["review"])
DEFAULT_RANGE = timedelta(days=3)
Areas = Annotated[list[str], Query(description="Area ids (alert areas, or a station in no area); none: all")]
When = Annotated[str | None, Query(max_length=40, description="ISO 8601; without a zone: the city's time")]


def _when(value: str | None, default: datetime, name: str, zone: tzinfo) -> datetime:
    if not value:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise review.ReviewError(f"{name}: not a date and time ({value!r})") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _load(
    conn, now: datetime, area: list[str], since: str | None, until: str | None, zone: tzinfo
) -> review.Review:
    end = _when(until, now, "until", zone)
    start = _when(since, end - DEFAULT_RANGE, "since", zone)
    ids = area or [a["id"] for a in queries.area_levels(conn, staff=True)]
    return review.load(conn, area_ids=ids, since=start, until=end)


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
def review_page(
    request: Request,
    conn: Conn,
    now: Now,
    area: Areas = [],  # noqa: B006 (FastAPI copies query defaults)
    since: When = None,
    until: When = None,
    lang: str | None = None,
) -> Response:
    try:
        staff.current_session(conn, token=request.cookies.get(SESSION_COOKIE), now=now)
    except staff.NotSignedIn:
        return RedirectResponse("/staff/login?next=/review", status_code=303)
    chosen = language(request, lang)
    all_areas = queries.area_levels(conn, staff=True)
    try:
        result, error = _load(conn, now, area, since, until, request.app.state.zone), None
    except review.ReviewError as problem:
        result, error = None, str(problem)

    def as_json(value) -> str:  # the plots' data, for data attributes (escaped by the template)
        return json.dumps(value, default=lambda t: t.isoformat(), ensure_ascii=False)

    query = urlencode(
        [("area", a) for a in area] + [(k, v) for k, v in (("since", since), ("until", until)) if v]
    )
    context = {
        "lang": chosen,
        "review": result,
        "error": error,
        "areas": all_areas,
        "chosen": set(area),
        "tz": request.app.state.zone,
        "zone_label": now.astimezone(request.app.state.zone).tzname(),
        "query": query,
        "since": since or "",
        "until": until or "",
        "as_json": as_json,
    }
    return templates.TemplateResponse(
        request, "review.html", context, status_code=400 if error else 200, headers=secure_headers()
    )


@router.get(
    "/review.csv",
    summary="The after-action review's timeline as CSV (staff)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def review_csv(
    request: Request,
    conn: Conn,
    now: Now,
    actor: CurrentActor,
    area: Areas = [],  # noqa: B006
    since: When = None,
    until: When = None,
) -> Response:
    try:
        result = _load(conn, now, area, since, until, request.app.state.zone)
    except review.ReviewError as problem:
        raise HTTPException(400, str(problem)) from None
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "area", "kind", "kind_ja", "what_ja", "what_en", "who_ja", "who_en"])
    for e in result.entries:
        writer.writerow(
            [
                e.at.astimezone(request.app.state.zone).isoformat(),
                e.area_id or "",
                e.kind,
                texts.say(f"console.review.kinds.{e.kind}", "ja"),
                e.ja,
                e.en,
                e.who_ja,
                e.who_en,
            ]
        )
    zone = request.app.state.zone
    start, end = (t.astimezone(zone).strftime("%Y%m%d%H%M") for t in (result.since, result.until))
    name = f"kawamori-review-{start}-{end}.csv"
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM: spreadsheet programs in Japan read it as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
