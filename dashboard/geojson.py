"""GeoJSON (RFC 7946) building blocks: coordinates are [longitude, latitude]."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

MEDIA_TYPE = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    media_type = MEDIA_TYPE


def point_feature(feature_id: str, longitude: float, latitude: float, properties: dict[str, Any]) -> dict:
    return {
        "type": "Feature",
        "id": feature_id,
        "geometry": {"type": "Point", "coordinates": [longitude, latitude]},
        "properties": properties,
    }


def feature_collection(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}
