from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dashboard import queries
from dashboard.deps import Conn, MaybeStaff
from dashboard.geojson import GeoJSONResponse, feature_collection
from dashboard.schemas import AreaLevelsPublic

router = APIRouter(prefix="/api", tags=["alert areas"])

GEOJSON = "application/geo+json"


@router.get(
    "/areas.geojson",
    response_class=GeoJSONResponse,
    summary="Alert areas (polygons) and the stations that cover them",
)
def areas_geojson(conn: Conn) -> JSONResponse:
    features = [
        {
            "type": "Feature",
            "id": row["id"],
            "geometry": row["geometry"],
            "properties": {k: row[k] for k in ("name_ja", "name_en", "station_ids")},
        }
        for row in queries.areas(conn)
    ]
    return JSONResponse(feature_collection(features), media_type=GEOJSON)


@router.get(
    "/areas/levels",
    response_model=AreaLevelsPublic,
    summary="Each area's issued level (発令); with a staff session also open proposals and drills",
)
def area_levels(conn: Conn, session: MaybeStaff) -> dict:
    """What was issued per area is public (the same as the resident page). Proposals
    awaiting staff and drills are only for a signed-in staff member: never for residents."""
    staff = session is not None
    return {"staff": staff, "areas": queries.area_levels(conn, staff=staff)}
