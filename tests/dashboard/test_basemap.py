"""The basemap settings (pure) and the offline PMTiles file served by the dashboard over
a real uvicorn server."""

from __future__ import annotations

import httpx
import pytest
from pmtiles.tile import TileType

from dashboard.basemap import BasemapError, Source, basemap, from_settings
from dashboard.main import create_app
from kawamori.settings import Settings
from tests.dashboard.tiles import pmtiles_file
from tests.helpers import serve


@pytest.mark.parametrize(
    ("source", "url", "origin"),
    [
        (
            "gsi-std",
            "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png",
            "https://cyberjapandata.gsi.go.jp",
        ),
        (
            "gsi-pale",
            "https://cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png",
            "https://cyberjapandata.gsi.go.jp",
        ),
        (
            "gsi-photo",
            "https://cyberjapandata.gsi.go.jp/xyz/seamlessphoto/{z}/{x}/{y}.jpg",
            "https://cyberjapandata.gsi.go.jp",
        ),
        ("none", None, ""),
    ],
)
def test_builtin_sources(source, url, origin):
    chosen = basemap(source)
    assert (chosen.url, chosen.image_origin) == (url, origin)
    if url:  # GSI asks for 地理院タイル to be credited, with a link to its list of tiles
        assert "地理院タイル" in chosen.attribution_ja and "GSI Tiles" in chosen.attribution_en


def test_the_citys_own_tile_server():
    chosen = basemap(
        "xyz",
        tile_url="https://tiles.city.example.lg.jp/base/{z}/{x}/{y}.png",
        attribution="鶴岡市 <b>",
        max_zoom=20,
    )
    assert chosen.image_origin == "https://tiles.city.example.lg.jp"
    assert chosen.attribution_ja == "鶴岡市 &lt;b&gt;"  # plain text, never markup
    assert chosen.max_zoom == 20 and chosen.page()["url"] == chosen.url


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"source": "osm"}, "choose one of gsi-std, gsi-pale, gsi-photo, xyz, pmtiles, none"),
        ({"source": "xyz"}, "template with {z}, {x} and {y}"),
        (
            {"source": "xyz", "tile_url": "https://tiles.example/{z}/{x}.png", "attribution": "x"},
            "{z}, {x} and {y}",
        ),
        ({"source": "xyz", "tile_url": "file:///{z}/{x}/{y}.png", "attribution": "x"}, "https:// or http://"),
        (
            {
                "source": "xyz",
                "tile_url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attribution": "OSM",
            },
            "does not allow production services",
        ),
        ({"source": "xyz", "tile_url": "https://t.example/{z}/{x}/{y}.png"}, "whose map it is"),
        ({"source": "pmtiles"}, "the path of the .pmtiles file"),
    ],
)
def test_wrong_settings_are_refused_with_a_reason(kwargs, reason):
    with pytest.raises(
        BasemapError, match=reason.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")
    ):
        basemap(**kwargs)


def test_a_pmtiles_file_is_checked_at_start_up(tmp_path):
    with pytest.raises(BasemapError, match="cannot read the PMTiles file"):
        basemap("pmtiles", pmtiles=tmp_path / "missing.pmtiles")
    (tmp_path / "junk.pmtiles").write_bytes(b"not a map" * 40)
    with pytest.raises(BasemapError, match="not a PMTiles v3 file"):
        basemap("pmtiles", pmtiles=tmp_path / "junk.pmtiles")
    vector = pmtiles_file(tmp_path / "vector.pmtiles", tile_type=TileType.MVT)
    with pytest.raises(BasemapError, match="the dashboard serves raster tiles"):
        basemap("pmtiles", pmtiles=vector)
    unnamed = pmtiles_file(tmp_path / "unnamed.pmtiles", attribution=None)
    with pytest.raises(BasemapError, match="names no attribution"):
        basemap("pmtiles", pmtiles=unnamed)
    assert basemap("pmtiles", pmtiles=unnamed, attribution="鶴岡市").attribution_ja == "鶴岡市"


def test_settings_choose_the_basemap(tmp_path):
    assert from_settings(Settings(_env_file=None)).source is Source.gsi_pale
    file = pmtiles_file(tmp_path / "city.pmtiles")
    chosen = from_settings(Settings(_env_file=None, map_basemap="pmtiles", map_pmtiles=file))
    assert (chosen.url, chosen.max_zoom, chosen.attribution_ja) == ("/tiles/{z}/{x}/{y}", 3, "テスト市")


def test_the_dashboard_serves_the_offline_tiles(demo_db, tmp_path):
    chosen = basemap("pmtiles", pmtiles=pmtiles_file(tmp_path / "city.pmtiles"))
    with serve(create_app(demo_db, basemap=chosen)) as base, httpx.Client(base_url=base) as http:
        tile = http.get("/tiles/2/1/3")
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
        assert tile.content.startswith(b"\x89PNG")
        for missing in ("/tiles/4/0/0", "/tiles/2/4/0", "/tiles/2/-1/0"):
            response = http.get(missing)
            assert response.status_code == 404 and "no tile" in response.json()["detail"]
        assert http.get("/tiles/a/b/c").status_code == 422
        page = http.get("/")
        policy = page.headers["content-security-policy"]
        assert "img-src 'self' data:;" in policy  # its own tiles: no other origin allowed
        assert "openstreetmap" not in page.text


def test_the_page_allows_only_the_chosen_tile_server(demo_db):
    with serve(create_app(demo_db, basemap=basemap("gsi-photo"))) as base:
        page = httpx.get(f"{base}/")
    assert "img-src 'self' data: https://cyberjapandata.gsi.go.jp;" in page.headers["content-security-policy"]
    assert "seamlessphoto" in page.text and "openstreetmap" not in page.text
