"""The staff map's basemap, chosen in the settings (``KAWAMORI_MAP_BASEMAP``): GSI's
地理院タイル (standard, pale, aerial photo), any XYZ tile server (the city's own), an
offline PMTiles file of raster tiles served by the dashboard itself (a municipal LAN
without internet), or none. The project ships no map data, and never leans on
tile.openstreetmap.org, whose policy does not allow a production service to.

:func:`basemap` is pure: it turns the settings into what the page needs (the tile URL
template, the attribution in ja and en, the zoom range) and the origin the page's
Content-Security-Policy must allow for images; a wrong setting is a clear
:class:`BasemapError` at start-up. :class:`PmtilesArchive` serves a raster PMTiles file
at ``/tiles/{z}/{x}/{y}``.
"""

from __future__ import annotations

import html
import mmap
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pmtiles.reader import Reader
from pmtiles.tile import Compression, TileType

GSI = "https://cyberjapandata.gsi.go.jp/xyz"
GSI_ATTRIBUTION_JA = '<a href="https://maps.gsi.go.jp/development/ichiran.html">地理院タイル</a>'
GSI_ATTRIBUTION_EN = '<a href="https://maps.gsi.go.jp/development/ichiran.html">GSI Tiles (地理院タイル)</a>'
TILE_PATH = "/tiles/{z}/{x}/{y}"
MEDIA_TYPES = {TileType.PNG: "image/png", TileType.JPEG: "image/jpeg", TileType.WEBP: "image/webp"}


class Source(StrEnum):
    gsi_std = "gsi-std"  # 標準地図
    gsi_pale = "gsi-pale"  # 淡色地図: the stations and areas stand out
    gsi_photo = "gsi-photo"  # 全国最新写真（シームレス）
    xyz = "xyz"  # any {z}/{x}/{y} server: the city's own (KAWAMORI_MAP_TILE_URL)
    pmtiles = "pmtiles"  # a raster PMTiles file served by the dashboard (KAWAMORI_MAP_PMTILES)
    none = "none"  # no tiles: rivers and areas only


class BasemapError(ValueError):
    """A basemap setting that cannot work; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Basemap:
    source: Source
    url: str | None  # a Leaflet tile URL template; None: no tiles
    attribution_ja: str  # HTML: the GSI links written here; any other attribution escaped text
    attribution_en: str
    min_zoom: int = 0
    max_zoom: int = 18
    pmtiles: Path | None = None

    @property
    def image_origin(self) -> str:
        """What the page's CSP must allow in img-src: the tile server's origin ('' for
        this site's own tiles or none)."""
        if self.url is None or self.url.startswith("/"):
            return ""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def page(self) -> dict:
        """What the map page is given (as a data attribute)."""
        return {
            "source": str(self.source),
            "url": self.url,
            "attribution": {"ja": self.attribution_ja, "en": self.attribution_en},
            "minZoom": self.min_zoom,
            "maxZoom": self.max_zoom,
        }


GSI_LAYERS = {
    Source.gsi_std: ("std", "png", 5, 18),
    Source.gsi_pale: ("pale", "png", 5, 18),
    Source.gsi_photo: ("seamlessphoto", "jpg", 2, 18),
}


def basemap(
    source: str,
    *,
    tile_url: str | None = None,
    attribution: str | None = None,
    pmtiles: Path | None = None,
    max_zoom: int | None = None,
) -> Basemap:
    try:
        chosen = Source(source)
    except ValueError:
        choices = ", ".join(s.value for s in Source)
        raise BasemapError(f"KAWAMORI_MAP_BASEMAP={source!r}: choose one of {choices}") from None
    if chosen in GSI_LAYERS:
        layer, ext, low, high = GSI_LAYERS[chosen]
        url = f"{GSI}/{layer}/{{z}}/{{x}}/{{y}}.{ext}"
        return Basemap(chosen, url, GSI_ATTRIBUTION_JA, GSI_ATTRIBUTION_EN, low, high)
    if chosen is Source.xyz:
        if not tile_url or not all(part in tile_url for part in ("{z}", "{x}", "{y}")):
            raise BasemapError("KAWAMORI_MAP_TILE_URL must be a URL template with {z}, {x} and {y}")
        if urlsplit(tile_url).scheme not in {"http", "https"}:
            raise BasemapError("KAWAMORI_MAP_TILE_URL must start with https:// or http://")
        if "tile.openstreetmap.org" in tile_url:
            raise BasemapError(
                "tile.openstreetmap.org does not allow production services (its tile usage policy): "
                "use 地理院タイル, the city's own tile server or an offline PMTiles file"
            )
        if not attribution:
            raise BasemapError("KAWAMORI_MAP_TILE_ATTRIBUTION: whose map it is (the tiles' licence asks)")
        text = html.escape(attribution)
        return Basemap(chosen, tile_url, text, text, 0, max_zoom or 18)
    if chosen is Source.pmtiles:
        if pmtiles is None:
            raise BasemapError("KAWAMORI_MAP_PMTILES: the path of the .pmtiles file to serve")
        archive = PmtilesArchive(pmtiles)  # refuses a missing, unreadable or vector file now
        text = html.escape(attribution or archive.attribution)
        if not text:
            raise BasemapError(f"{pmtiles}: the file names no attribution; set KAWAMORI_MAP_TILE_ATTRIBUTION")
        return Basemap(chosen, TILE_PATH, text, text, archive.min_zoom, archive.max_zoom, pmtiles=pmtiles)
    return Basemap(chosen, None, "", "")


def from_settings(settings) -> Basemap:
    return basemap(
        settings.map_basemap,
        tile_url=settings.map_tile_url,
        attribution=settings.map_tile_attribution,
        pmtiles=settings.map_pmtiles,
        max_zoom=settings.map_max_zoom,
    )


class PmtilesArchive:
    """A raster PMTiles file (PNG, JPEG or WebP tiles), memory-mapped and read-only."""

    def __init__(self, path: Path) -> None:
        try:
            handle = path.open("rb")
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as error:
            raise BasemapError(f"{path}: cannot read the PMTiles file ({error})") from None
        handle.close()
        self._reader = Reader(lambda offset, length: self._map[offset : offset + length])
        try:
            header = self._reader.header()
        except Exception as error:  # the library's own parse errors: a file that is not PMTiles v3
            raise BasemapError(f"{path}: not a PMTiles v3 file ({error})") from None
        if header["tile_type"] not in MEDIA_TYPES:
            raise BasemapError(
                f"{path}: tiles of type {header['tile_type'].name}; the dashboard serves raster tiles "
                "(PNG, JPEG, WebP): see docs/staff.md for making one"
            )
        if header["tile_compression"] not in (Compression.NONE, Compression.UNKNOWN):
            raise BasemapError(f"{path}: compressed raster tiles ({header['tile_compression'].name})")
        self.media_type = MEDIA_TYPES[header["tile_type"]]
        self.min_zoom, self.max_zoom = header["min_zoom"], header["max_zoom"]
        try:
            self.attribution = str(self._reader.metadata().get("attribution") or "")
        except ValueError:
            self.attribution = ""

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if not (self.min_zoom <= z <= self.max_zoom and 0 <= x < 2**z and 0 <= y < 2**z):
            return None
        return self._reader.get(z, x, y)
