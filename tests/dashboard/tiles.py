"""Map tiles for the basemap tests, made here: a one-colour PNG, a PMTiles archive of
such tiles (the project ships no map data), a local XYZ tile server."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write


def png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """A ``size``×``size`` PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


def pmtiles_file(
    path: Path, *, max_zoom: int = 3, tile_type: TileType = TileType.PNG, attribution: str | None = "テスト市"
) -> Path:
    """Every tile from zoom 0 to ``max_zoom``, light blue."""
    tile = png((200, 225, 240))
    with write(str(path)) as writer:
        for z in range(max_zoom + 1):
            for x in range(2**z):
                for y in range(2**z):
                    writer.write_tile(zxy_to_tileid(z, x, y), tile)
        writer.finalize(
            {
                "tile_type": tile_type,
                "tile_compression": Compression.NONE,
                "min_lon_e7": -1800000000,
                "min_lat_e7": -850511287,
                "max_lon_e7": 1800000000,
                "max_lat_e7": 850511287,
                "center_zoom": 0,
                "center_lon_e7": 0,
                "center_lat_e7": 0,
            },
            {} if attribution is None else {"attribution": attribution},
        )
    return path


@dataclass
class TileServer:
    url: str
    paths: list[str] = field(default_factory=list)  # every path asked for


@contextmanager
def tile_server(tile: bytes) -> Iterator[TileServer]:
    """An XYZ tile server on a free port answering every GET with ``tile`` (PNG)."""
    served = TileServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
