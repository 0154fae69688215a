from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from dashboard import queries
from dashboard.deps import Conn, Now
from dashboard.geojson import feature_collection, point_feature
from dashboard.schemas import ReadingPoint, StationPublic

router = APIRouter(prefix="/api/stations", tags=["stations"])

GEOJSON = "application/geo+json"


@router.get("", response_model=list[StationPublic], summary="Every station with its latest judgement")
def list_stations(conn: Conn, now: Now) -> list[dict]:
    return queries.stations(conn, now=now)


@router.get(".geojson", summary="Stations as a GeoJSON FeatureCollection (RFC 7946)")
def stations_geojson(conn: Conn, now: Now) -> JSONResponse:
    rows = [StationPublic.model_validate(r).model_dump(mode="json") for r in queries.stations(conn, now=now)]
    features = [point_feature(r.pop("id"), r.pop("longitude"), r.pop("latitude"), r) for r in rows]
    return JSONResponse(feature_collection(features), media_type=GEOJSON)


@router.get("/{station_id}/readings", response_model=list[ReadingPoint], summary="A station's hydrograph")
def station_readings(
    station_id: str,
    conn: Conn,
    now: Now,
    hours: Annotated[float, Query(gt=0, le=24 * 366, description="How far back")] = 24,
    bucket_s: Annotated[int | None, Query(ge=1, le=86_400, description="Average per bucket")] = None,
) -> list[dict]:
    if not queries.station_exists(conn, station_id):
        raise HTTPException(404, f"no station {station_id!r}")
    return queries.station_readings(
        conn,
        station_id=station_id,
        since=now - timedelta(hours=hours),
        until=now + timedelta(minutes=10),
        bucket=timedelta(seconds=bucket_s) if bucket_s else None,
    )
