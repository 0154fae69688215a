"""Sanity checks of shelter locations against each other and the municipality's area.
Pure.

A shelter list belongs to one municipality, so its points lie close together. A row
whose point is far from the others (more than :data:`FAR_KM`, or four times the
median distance from their centre, whichever is larger) or outside the municipality's
extent (given by the operator, ``--extent``) is an error, and when latitude and
longitude swapped would put it among the others the message says so. The centre is
the median latitude and longitude, so a few bad rows cannot move it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shelters.errors import Problem
from shelters.recommend import distance_m

FAR_KM = 60.0
MARGIN_KM = 2.0  # an extent is drawn around the municipality's shelters, not its border
MIN_ROWS = 3


class _Located(Protocol):
    id: str
    latitude: float
    longitude: float
    line: int


@dataclass(frozen=True, slots=True)
class Extent:
    """A municipality's bounding box in decimal degrees."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, text: str) -> Extent:
        """``min_lon,min_lat,max_lon,max_lat`` (the GeoJSON bbox order)."""
        try:
            parts = [float(p) for p in text.replace(" ", "").split(",")]
        except ValueError:
            raise ValueError(
                f"an extent is four numbers min_lon,min_lat,max_lon,max_lat, not {text!r}"
            ) from None
        if len(parts) != 4 or parts[0] >= parts[2] or parts[1] >= parts[3]:
            raise ValueError(f"an extent is min_lon,min_lat,max_lon,max_lat with min < max, not {text!r}")
        return cls(*parts)

    @classmethod
    def around(cls, points: list[tuple[float, float]], *, margin: float = 0.05) -> Extent | None:
        """The box around ``points`` (latitude, longitude) widened by ``margin`` degrees;
        ``None`` without points."""
        if not points:
            return None
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        return cls(min(lons) - margin, min(lats) - margin, max(lons) + margin, max(lats) + margin)

    def covers(self, latitude: float, longitude: float) -> bool:
        return self.min_lat <= latitude <= self.max_lat and self.min_lon <= longitude <= self.max_lon

    def km_outside(self, latitude: float, longitude: float) -> float:
        lat = min(max(latitude, self.min_lat), self.max_lat)
        lon = min(max(longitude, self.min_lon), self.max_lon)
        return distance_m(latitude, longitude, lat, lon) / 1000


def _in_range(latitude: float, longitude: float) -> bool:
    return -90 <= latitude <= 90 and -180 <= longitude <= 180


def check(records: Sequence[_Located], problems: list[Problem], *, extent: Extent | None = None) -> set[str]:
    """The ids of the records whose location is plausible; a problem for every other."""
    good = [r for r in records if _in_range(r.latitude, r.longitude) and (r.latitude, r.longitude) != (0, 0)]
    centre = None
    limit_km = FAR_KM
    if len(good) >= MIN_ROWS:
        centre = (statistics.median(r.latitude for r in good), statistics.median(r.longitude for r in good))
        spread = statistics.median(distance_m(*centre, r.latitude, r.longitude) for r in good) / 1000
        limit_km = max(FAR_KM, 4 * spread)

    def plausible(latitude: float, longitude: float) -> bool:
        if not _in_range(latitude, longitude):
            return False
        if extent is not None:
            return extent.km_outside(latitude, longitude) <= MARGIN_KM
        return centre is not None and distance_m(*centre, latitude, longitude) / 1000 <= limit_km

    kept = set()
    for r in records:
        where = {"lat": r.latitude, "lon": r.longitude}

        def bad(code: str, column: str = "緯度", **params) -> None:
            problems.append(Problem(r.line, column, code, {**where, **params}))  # noqa: B023

        if (r.latitude, r.longitude) == (0, 0):
            bad("coord_zero")
        elif plausible(r.longitude, r.latitude) and not plausible(r.latitude, r.longitude):
            bad("coord_swapped")
        elif not -90 <= r.latitude <= 90:
            bad("lat_range", value=r.latitude)
        elif not -180 <= r.longitude <= 180:
            bad("lon_range", "経度", value=r.longitude)
        elif extent is not None and extent.km_outside(r.latitude, r.longitude) > MARGIN_KM:
            bad("coord_outside", km=f"{extent.km_outside(r.latitude, r.longitude):.0f}")
        elif (
            extent is None
            and centre is not None
            and distance_m(*centre, r.latitude, r.longitude) / 1000 > limit_km
        ):
            bad("coord_far", km=f"{distance_m(*centre, r.latitude, r.longitude) / 1000:.0f}")
        else:
            kept.add(r.id)
    return kept
