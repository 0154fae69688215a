"""The public shelter API (JSON and GeoJSON, RFC 7946 [longitude, latitude]): the
registry with live crowding, one shelter's occupancy history, and "where can I go
now?" for the resident page and alert messages. Staff writes live in
:mod:`dashboard.routers.shelter_staff`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from dashboard.deps import Conn, Now
from dashboard.geojson import GeoJSONResponse, feature_collection, point_feature
from kawamori.model import Hazard
from kawamori.texts import LANGUAGES
from shelters import occupancy, registry
from shelters.crowding import DEFAULT_BANDS, Bands, describe
from shelters.errors import UnknownShelter
from shelters.service import NearestShelters, message_block

router = APIRouter(prefix="/api", tags=["shelters"])
GEOJSON = "application/geo+json"


def bands_of(request: Request) -> Bands:
    return getattr(request.app.state, "shelter_bands", DEFAULT_BANDS)


def nearest_of(request: Request) -> NearestShelters:
    state = request.app.state
    if not hasattr(state, "nearest_shelters"):
        state.nearest_shelters = NearestShelters(bands_of(request))
    return state.nearest_shelters


def public(row: dict, bands: Bands) -> dict:
    """A shelter as the API shows it: registry fields, status, count and crowding."""
    return {
        "id": row["id"],
        "name_ja": row["name_ja"],
        "name_en": row["name_en"],
        "address": row["address"],
        "latitude": row["latitude"],
        "longitude": row["longitude"],
        "hazards": sorted(row["hazards"]),
        "status": row["status"],
        "capacity": row["capacity"],
        "capacity_text": row["capacity_text"],
        "capacity_indoor": row["capacity_indoor"],
        "capacity_outdoor": row["capacity_outdoor"],
        "area_m2": row["area_m2"],
        "capacity_basis": row["capacity_basis"],
        "designated_shelter": row["designated_shelter"],
        "temporary": row["temporary"],
        "occupancy": row["occupancy"],
        **describe(row["occupancy"], row["capacity"], bands),
        "status_changed_at": row["status_changed_at"],
        "count_changed_at": row["count_changed_at"],
        "updated_at": row["updated_at"],
    }


@router.get("/shelters", summary="Shelters with status, head count and crowding")
def list_shelters(conn: Conn, request: Request) -> list[dict]:
    bands = bands_of(request)
    return [public(row, bands) for row in registry.all_shelters(conn)]


@router.get(
    "/shelters.geojson",
    response_class=GeoJSONResponse,
    summary="Shelters with status, head count and crowding as GeoJSON",
)
def shelters_geojson(conn: Conn, request: Request) -> JSONResponse:
    bands = bands_of(request)
    features = []
    for row in jsonable_encoder([public(r, bands) for r in registry.all_shelters(conn)]):
        features.append(point_feature(row.pop("id"), row.pop("longitude"), row.pop("latitude"), row))
    return JSONResponse(feature_collection(features), media_type=GEOJSON)


@router.get(
    "/shelters/nearest",
    summary="Where can I go now? The nearest open shelters with room, safe for the hazard",
    description="The k nearest shelters that are open, not full, designated for the hazard and outside "
    "every area under an alert of level 4 or higher; `excluded` lists each nearer shelter that was "
    "passed over, with the reasons (ja/en). `message` is the block alert messages carry.",
)
def nearest(
    conn: Conn,
    request: Request,
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude")],
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude")],
    hazard: Hazard = Hazard.flood,
    k: Annotated[int, Query(ge=1, le=20)] = 3,
) -> dict:
    recommendation = nearest_of(request)(conn, latitude=lat, longitude=lon, hazard=hazard, k=k)
    bands = bands_of(request)
    return {
        **recommendation.as_dict(bands),
        "message": {lang: message_block(recommendation, lang=lang, bands=bands) for lang in LANGUAGES},
    }


@router.get(
    "/shelters/nearest.geojson",
    response_class=GeoJSONResponse,
    summary="The nearest shelters (as /api/shelters/nearest), GeoJSON",
)
def nearest_geojson(
    conn: Conn,
    request: Request,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    hazard: Hazard = Hazard.flood,
    k: Annotated[int, Query(ge=1, le=20)] = 3,
) -> JSONResponse:
    answer = nearest(conn, request, lat, lon, hazard, k)
    features = []
    for rank, item in enumerate(answer["shelters"], start=1):
        item = dict(item, rank=rank)
        features.append(point_feature(item.pop("id"), item.pop("longitude"), item.pop("latitude"), item))
    return JSONResponse(feature_collection(features), media_type=GEOJSON)


@router.get("/shelters/{shelter_id}", summary="One shelter with status, head count and crowding")
def one_shelter(conn: Conn, request: Request, shelter_id: str) -> dict:
    try:
        return public(registry.get_shelter(conn, shelter_id), bands_of(request))
    except UnknownShelter as error:
        raise HTTPException(404, str(error)) from None


@router.get(
    "/shelters/{shelter_id}/history",
    summary="Occupancy per time bucket (count at the end, peak) and status changes, for review",
)
def shelter_history(
    conn: Conn,
    now: Now,
    shelter_id: str,
    hours: Annotated[float, Query(gt=0, le=24 * 31)] = 24,
    bucket_s: Annotated[int, Query(ge=60, le=86_400)] = 900,
) -> dict:
    if hours * 3600 / bucket_s > 5000:
        raise HTTPException(422, "too many buckets: use a longer bucket_s or fewer hours")
    try:
        return occupancy.history(
            conn,
            shelter_id=shelter_id,
            since=now - timedelta(hours=hours),
            until=now,
            bucket=timedelta(seconds=bucket_s),
        )
    except UnknownShelter as error:
        raise HTTPException(404, str(error)) from None
