"""The HTTP API through a real uvicorn server."""

from __future__ import annotations

import httpx
import pytest

from dashboard.main import create_app
from tests.helpers import serve


@pytest.fixture
def client(demo_db):
    with serve(create_app(demo_db)) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield http


def test_stations_without_readings_are_stale(client):
    stations = client.get("/api/stations").json()
    assert len(stations) == 5
    assert all(s["stale"] and s["latest_time"] is None for s in stations)


def test_unknown_station_is_404(client):
    response = client.get("/api/stations/nowhere/readings")
    assert response.status_code == 404
    assert "nowhere" in response.json()["detail"]


def test_bad_query_is_422(client):
    assert client.get("/api/stations/kyoden-chiwara/readings", params={"hours": -1}).status_code == 422


def test_shelters_and_areas_are_geojson(client):
    shelters = client.get("/api/shelters.geojson")
    areas = client.get("/api/areas.geojson")
    for response in (shelters, areas):
        assert response.headers["content-type"].startswith("application/geo+json")
        assert response.json()["type"] == "FeatureCollection"
    feature = shelters.json()["features"][0]
    longitude, latitude = feature["geometry"]["coordinates"]
    assert 139 < longitude < 141 and 37 < latitude < 40  # RFC 7946 order: longitude first
    lower = next(f for f in areas.json()["features"] if f["id"] == "area-kyoden-lower")
    assert lower["properties"]["station_ids"] == ["kyoden-jumonji", "kyoden-kanehiro"]


def test_map_page_and_health(client):
    page = client.get("/", params={"lang": "en"})
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert "https://unpkg.com" not in page.text and "cdn" not in page.text
    health = client.get("/api/health")  # no ingest or evaluator runs here: the truth is 503
    assert health.status_code == 503
    assert health.json()["database"] is True and health.json()["stations"] == 5
    assert client.get("/openapi.json").json()["info"]["title"].startswith("Kawamori")


def test_hydrograph_buckets(client, demo_db):
    from datetime import UTC, datetime, timedelta

    from kawamori import db

    now = datetime.now(UTC).replace(microsecond=0)
    with db.connect(demo_db) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (station_id, time, level_m) VALUES ('kyoden-chiwara', %s, %s)",
            [(now - timedelta(minutes=m), 10.0 + m / 100) for m in range(30)],
        )
    raw = client.get("/api/stations/kyoden-chiwara/readings", params={"hours": 1}).json()
    assert len(raw) == 30
    buckets = client.get("/api/stations/kyoden-chiwara/readings", params={"hours": 1, "bucket_s": 600}).json()
    assert sum(b["n"] for b in buckets) == 30 and all(
        b["min_m"] <= b["level_m"] <= b["max_m"] for b in buckets
    )
