from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dashboard import queries
from dashboard.deps import Conn
from dashboard.geojson import feature_collection

router = APIRouter(prefix="/api", tags=["alert areas"])

GEOJSON = "application/geo+json"


@router.get("/areas.geojson", summary="Alert areas (polygons) and the stations that cover them")
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
