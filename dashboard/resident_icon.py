"""The resident web app's manifest and icons (a Home-Screen web app: iPhones allow Web
Push only for those). The icon is drawn here — the three strokes of 川 in white on the
brand blue — as PNG (zlib, no image library) and SVG, so nothing binary is committed."""

from __future__ import annotations

import struct
import zlib
from functools import cache

BRAND = (0x0B, 0x3D, 0x5C)
WHITE = (0xFF, 0xFF, 0xFF)
SIZES = (180, 192, 512)


def _inside_stroke(x: float, y: float) -> bool:
    """Three vertical strokes of 川 in a unit square (the left one bends a little)."""
    if not 0.2 <= y <= 0.8:
        return False
    bend = 0.05 * (y - 0.2) / 0.6
    strokes = ((0.25 - bend, 0.34 - bend), (0.455, 0.545), (0.67, 0.76))
    return any(left <= x <= right for left, right in strokes)


@cache
def png(size: int) -> bytes:
    """A ``size`` × ``size`` PNG of the icon."""
    rows = bytearray()
    for j in range(size):
        rows.append(0)  # filter: none
        for i in range(size):
            rows.extend(WHITE if _inside_stroke((i + 0.5) / size, (j + 0.5) / size) else BRAND)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
    '<rect width="100" height="100" fill="#0b3d5c"/>'
    '<path d="M25 20 L34 20 L29 80 L20 80 Z M45.5 20 H54.5 V80 H45.5 Z M67 20 H76 V80 H67 Z" fill="#fff"/>'
    "</svg>"
)


def manifest(language: str, *, name: str, short_name: str) -> dict:
    return {
        "name": name,
        "short_name": short_name,
        "lang": "ja" if language == "ja-easy" else language,
        "start_url": f"/r/?lang={language}",
        "scope": "/r/",
        "display": "standalone",
        "background_color": "#f2f4f6",
        "theme_color": "#0b3d5c",
        "icons": [
            *(
                {"src": f"/r/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
                for size in SIZES
            ),
            {"src": "/r/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
        ],
    }
