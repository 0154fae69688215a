from __future__ import annotations

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from dashboard import queries
from dashboard.deps import Conn
from dashboard.geojson import feature_collection, point_feature

router = APIRouter(prefix="/api", tags=["shelters and areas"])

GEOJSON = "application/geo+json"


@router.get("/shelters.geojson", summary="Shelters with status and occupancy as GeoJSON")
def shelters_geojson(conn: Conn) -> JSONResponse:
    features = []
    for row in jsonable_encoder(queries.shelters(conn)):
        features.append(point_feature(row.pop("id"), row.pop("longitude"), row.pop("latitude"), row))
    return JSONResponse(feature_collection(features), media_type=GEOJSON)


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
