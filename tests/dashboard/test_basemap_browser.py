"""The staff map's basemap in headless Chromium: tiles from a local XYZ tile server (the
city's own, started here on a free port) with its attribution; when the server is down, a
visible notice saying the map goes on with rivers and areas; the offline PMTiles file
served by the dashboard."""

from __future__ import annotations

from playwright.sync_api import expect, sync_playwright

from dashboard.basemap import basemap
from dashboard.main import create_app
from tests.dashboard.tiles import pmtiles_file, png, tile_server
from tests.helpers import serve

TILE = png((210, 230, 210))


def open_map(base: str, lang: str = "ja"):
    """A Chromium page on the map; the caller closes the returned playwright."""
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
    )
    page = browser.new_context(locale="ja-JP", viewport={"width": 1200, "height": 900}).new_page()
    page.goto(f"{base}/?lang={lang}")
    return playwright, page


def test_tiles_from_the_citys_server_and_the_notice_when_it_is_down(demo_db):
    with tile_server(TILE) as tiles:
        chosen = basemap("xyz", tile_url=f"{tiles.url}/base/{{z}}/{{x}}/{{y}}.png", attribution="鶴岡市 地図")
        with serve(create_app(demo_db, basemap=chosen)) as base:
            playwright, page = open_map(base)
            try:
                expect(page.locator("img.leaflet-tile-loaded").first).to_be_visible()
                assert any(path.startswith("/base/") for path in tiles.paths)
                expect(page.locator(".leaflet-control-attribution")).to_contain_text("鶴岡市 地図")
                expect(page.locator("#tiles-notice")).to_be_hidden()
            finally:
                playwright.stop()
    # the server is gone now: every tile fails
    with serve(create_app(demo_db, basemap=chosen)) as base:
        playwright, page = open_map(base)
        try:
            notice = page.locator("#tiles-notice")
            expect(notice).to_be_visible()
            expect(notice).to_contain_text("背景地図（タイル）を読み込めません")
            expect(notice).to_contain_text("川（観測所を結ぶ線）と地区の境界だけで表示しています")
            expect(
                page.locator("path[stroke='#1f78b4']").first
            ).to_be_attached()  # the rivers, drawn from data
            expect(page.locator("path.area").first).to_be_attached()  # the areas
            page.click("#lang")
            expect(notice).to_contain_text("The background map (tiles) cannot be loaded")
        finally:
            playwright.stop()


def test_the_offline_pmtiles_basemap(demo_db, tmp_path):
    chosen = basemap("pmtiles", pmtiles=pmtiles_file(tmp_path / "city.pmtiles"))
    with serve(create_app(demo_db, basemap=chosen)) as base:
        playwright, page = open_map(base, lang="en")
        try:
            tile = page.locator("img.leaflet-tile-loaded").first
            expect(tile).to_be_visible()
            assert "/tiles/3/" in tile.get_attribute("src")  # its deepest zoom, enlarged beyond
            expect(page.locator(".leaflet-control-attribution")).to_contain_text("テスト市")
            expect(page.locator("#tiles-notice")).to_be_hidden()
        finally:
            playwright.stop()
