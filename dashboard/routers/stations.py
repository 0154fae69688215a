from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from dashboard import queries
from dashboard.deps import Conn, Now
from dashboard.geojson import GeoJSONResponse, feature_collection, point_feature
from dashboard.schemas import ReadingPoint, StationPublic

router = APIRouter(prefix="/api/stations", tags=["stations"])

GEOJSON = "application/geo+json"


@router.get("", response_model=list[StationPublic], summary="Every station with its latest judgement")
def list_stations(conn: Conn, now: Now) -> list[dict]:
    return queries.stations(conn, now=now)


@router.get(
    ".geojson", response_class=GeoJSONResponse, summary="Stations as a GeoJSON FeatureCollection (RFC 7946)"
)
def stations_geojson(conn: Conn, now: Now) -> JSONResponse:
    rows = [StationPublic.model_validate(r).model_dump(mode="json") for r in queries.stations(conn, now=now)]
    features = [point_feature(r.pop("id"), r.pop("longitude"), r.pop("latitude"), r) for r in rows]
    return JSONResponse(feature_collection(features), media_type=GEOJSON)


RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$"
MAX_POINTS = 5000  # per answer: a day of 1-minute readings fits several times over


@router.get(
    "/{station_id}/readings",
    response_model=list[ReadingPoint],
    summary="A station's hydrograph, oldest first; at most `limit` points per answer (paged)",
    description="The newest `limit` readings (or buckets, with `bucket_s`) from `hours` before now up to "
    "`until`. When older ones remain, the `Link` header (RFC 8288) names the next page: the same "
    "request with `until` set to the oldest point returned.",
    responses={
        200: {
            "headers": {
                "Link": {"description": 'rel="next": the page of older points', "schema": {"type": "string"}}
            }
        }
    },
)
def station_readings(
    station_id: str,
    request: Request,
    response: Response,
    conn: Conn,
    now: Now,
    hours: Annotated[float, Query(gt=0, le=24 * 366, description="How far back")] = 24,
    bucket_s: Annotated[int | None, Query(ge=1, le=86_400, description="Average per bucket")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS, description="Points per answer")] = MAX_POINTS,
    until: Annotated[
        str | None,
        Query(
            pattern=RFC3339,
            json_schema_extra={"format": "date-time"},
            description="Only points before this time, RFC 3339 with a zone (the next page's cursor)",
        ),
    ] = None,
) -> list[dict]:
    if not queries.station_exists(conn, station_id):
        raise HTTPException(404, f"no station {station_id!r}")
    end = now + timedelta(minutes=10)
    try:
        before = datetime.fromisoformat(until) if until is not None else end
    except ValueError:
        raise HTTPException(422, "until: not a date and time") from None
    rows = queries.station_readings(
        conn,
        station_id=station_id,
        since=now - timedelta(hours=hours),
        until=min(before, end),
        bucket=timedelta(seconds=bucket_s) if bucket_s else None,
        limit=limit + 1,
    )
    if len(rows) > limit:
        rows = rows[1:]
        cursor = rows[0]["time"].isoformat()
        query = urlencode({**request.query_params, "until": cursor})
        response.headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
    return rows
