"""Where can I go now? The k nearest open shelters with room that are safe for the
current hazard and outside every area under an active level-4-or-higher alert, with
the reason each nearer shelter was passed over. Pure: no I/O, ``shapely`` only.

:class:`ShelterIndex` is built once from a snapshot of the shelters and the danger
areas (an STRtree over the shelter points answers both "which shelters lie in this
area" and "which shelters are near this point"); each query then looks only at the
shelters in a box around the point, growing the box until the answer is certain.
:func:`recommend_linear` is the obvious scan over every shelter, kept as the
reference the index is tested and benchmarked against.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import shapely
from shapely.geometry import Point, box, shape

from kawamori.model import Hazard, ShelterStatus
from kawamori.texts import both
from shelters.crowding import DEFAULT_BANDS, Bands, crowding, describe
from shelters.crowding import Crowding as CrowdingLevel

EARTH_RADIUS_M = 6_371_008.8
FIRST_RADIUS_M = 2_000.0
_NO_ROOM = frozenset({CrowdingLevel.full, CrowdingLevel.unknown})
MAX_EXPLAINED = 20  # explanations listed per answer; the rest are only counted


@dataclass(frozen=True, slots=True)
class ShelterState:
    """What a recommendation needs to know about one shelter."""

    id: str
    name_ja: str
    name_en: str
    latitude: float
    longitude: float
    capacity: int
    occupancy: int
    status: ShelterStatus
    hazards: frozenset[Hazard]
    address: str = ""
    temporary: bool = False  # 臨時避難所: opened by the city although not designated

    def designated_for(self, hazard: Hazard) -> bool:
        """Whether people may be sent here for ``hazard``: designated for it, or a
        temporary shelter the city opened (its opening is the city's judgement)."""
        return self.temporary or hazard in self.hazards


@dataclass(frozen=True, slots=True)
class DangerArea:
    """An area under an active alert of ``alert_level`` (GeoJSON Polygon/MultiPolygon)."""

    id: str
    name_ja: str
    name_en: str
    alert_level: int
    geometry: dict


class Reason(StrEnum):
    closed = "closed"
    preparing = "preparing"
    full = "full"
    no_capacity = "no_capacity"
    unsafe_for_hazard = "unsafe_for_hazard"
    in_alert_area = "in_alert_area"


@dataclass(frozen=True, slots=True)
class Why:
    reason: Reason
    ja: str
    en: str
    area_id: str | None = None

    def as_dict(self) -> dict:
        out = {"code": self.reason.value, "ja": self.ja, "en": self.en}
        if self.area_id is not None:
            out["area_id"] = self.area_id
        return out


@dataclass(frozen=True, slots=True)
class Ranked:
    shelter: ShelterState
    distance_m: float
    reasons: tuple[Why, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendation:
    latitude: float
    longitude: float
    hazard: Hazard
    chosen: tuple[Ranked, ...]
    excluded: tuple[Ranked, ...] = field(default=())
    more_excluded: int = 0  # passed-over shelters beyond the MAX_EXPLAINED nearest

    def as_dict(self, bands: Bands = DEFAULT_BANDS) -> dict:
        def item(r: Ranked) -> dict:
            s = r.shelter
            out = {
                "id": s.id,
                "name_ja": s.name_ja,
                "name_en": s.name_en,
                "address": s.address,
                "latitude": s.latitude,
                "longitude": s.longitude,
                "distance_m": round(r.distance_m),
                "status": s.status.value,
                "capacity": s.capacity,
                "occupancy": s.occupancy,
                "temporary": s.temporary,
                **describe(s.occupancy, s.capacity, bands),
            }
            if s.temporary:
                out["kind_ja"], out["kind_en"] = both("shelters.labels.temporary")
            if r.reasons:
                out["reasons"] = [w.as_dict() for w in r.reasons]
            return out

        return {
            "latitude": self.latitude,
            "longitude": self.longitude,
            "hazard": self.hazard.value,
            "shelters": [item(r) for r in self.chosen],
            "excluded": [item(r) for r in self.excluded],
            "more_excluded": self.more_excluded,
        }


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _distances(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    p1, p2 = math.radians(lat), np.radians(lats)
    a = np.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(np.radians(lons - lon) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def reasons(
    shelter: ShelterState, hazard: Hazard, areas: Sequence[DangerArea], bands: Bands = DEFAULT_BANDS
) -> tuple[Why, ...]:
    """Why a shelter cannot be recommended now (empty: it can), in the words of the text
    catalogue's ``shelters.passed_over``."""
    out: list[Why] = []
    if shelter.status is ShelterStatus.closed:
        out.append(Why(Reason.closed, *both("shelters.passed_over.closed")))
    elif shelter.status is ShelterStatus.preparing:
        out.append(Why(Reason.preparing, *both("shelters.passed_over.preparing")))
    level = crowding(shelter.occupancy, shelter.capacity, bands)
    if level is CrowdingLevel.unknown:
        out.append(Why(Reason.no_capacity, *both("shelters.passed_over.no_capacity")))
    elif level is CrowdingLevel.full:
        full = both("shelters.passed_over.full", occupancy=shelter.occupancy, capacity=shelter.capacity)
        out.append(Why(Reason.full, *full))
    if not shelter.designated_for(hazard):
        named = {"hazard": both(f"shelters.hazards.{hazard.value}")}
        out.append(Why(Reason.unsafe_for_hazard, *both("shelters.passed_over.unsafe_for_hazard", each=named)))
    for area in areas:
        inside = both(
            "shelters.passed_over.in_alert_area",
            level=area.alert_level,
            each={"area": (area.name_ja, area.name_en)},
        )
        out.append(Why(Reason.in_alert_area, *inside, area.id))
    return tuple(out)


def _geometry(area: DangerArea):
    return shapely.make_valid(shape(area.geometry))


def recommend_linear(
    shelters: Sequence[ShelterState],
    areas: Sequence[DangerArea],
    *,
    latitude: float,
    longitude: float,
    hazard: Hazard,
    k: int = 3,
    bands: Bands = DEFAULT_BANDS,
) -> Recommendation:
    """The reference answer: test every shelter against every area, sort by distance."""
    polygons = [(area, _geometry(area)) for area in areas]
    ranked = []
    for s in shelters:
        point = Point(s.longitude, s.latitude)
        inside = [area for area, polygon in polygons if polygon.intersects(point)]
        why = reasons(s, hazard, inside, bands)
        ranked.append(Ranked(s, distance_m(latitude, longitude, s.latitude, s.longitude), why))
    ranked.sort(key=lambda r: (r.distance_m, r.shelter.id))
    return _pick(ranked, latitude, longitude, hazard, k)


def _pick(
    ranked: Sequence[Ranked], latitude: float, longitude: float, hazard: Hazard, k: int
) -> Recommendation:
    chosen: list[Ranked] = []
    excluded: list[Ranked] = []
    more = 0
    for r in ranked:
        if len(chosen) >= k:
            break
        if not r.reasons:
            chosen.append(r)
        elif len(excluded) < MAX_EXPLAINED:
            excluded.append(r)
        else:
            more += 1
    return Recommendation(latitude, longitude, hazard, tuple(chosen), tuple(excluded), more)


class ShelterIndex:
    """Shelters and danger areas prepared for fast queries (see the module docstring)."""

    def __init__(
        self,
        shelters: Sequence[ShelterState],
        areas: Sequence[DangerArea] = (),
        *,
        bands: Bands = DEFAULT_BANDS,
    ) -> None:
        self.shelters = list(shelters)
        self.bands = bands
        self._lats = np.array([s.latitude for s in self.shelters], dtype=float)
        self._lons = np.array([s.longitude for s in self.shelters], dtype=float)
        self._tree = shapely.STRtree(shapely.points(self._lons, self._lats))
        self._areas_of: dict[int, list[DangerArea]] = {}
        for area in areas:
            for index in self._tree.query(_geometry(area), predicate="intersects"):
                self._areas_of.setdefault(int(index), []).append(area)
        # the part of each shelter's eligibility that does not depend on the hazard
        self._open_with_room = np.array([self._usable(i, s) for i, s in enumerate(self.shelters)], dtype=bool)
        self._extent = (
            box(self._lons.min(), self._lats.min(), self._lons.max(), self._lats.max())
            if self.shelters
            else None
        )

    def _usable(self, index: int, s: ShelterState) -> bool:
        return (
            s.status is ShelterStatus.open
            and crowding(s.occupancy, s.capacity, self.bands)
            not in {CrowdingLevel.full, CrowdingLevel.unknown}
            and index not in self._areas_of
        )

    def __len__(self) -> int:
        return len(self.shelters)

    def with_live_states(self, live: Mapping[str, tuple[ShelterStatus, int, int]]) -> ShelterIndex:
        """A copy with new status, count and capacity per shelter id (same places, same
        areas): cheap, so counts can change every second without rebuilding the tree."""
        fresh = copy.copy(self)
        fresh.shelters = list(self.shelters)
        fresh._open_with_room = self._open_with_room.copy()
        for index, s in enumerate(self.shelters):
            now = live.get(s.id)
            if now is not None and now != (s.status, s.occupancy, s.capacity):
                changed = replace(s, status=now[0], occupancy=now[1], capacity=now[2])
                fresh.shelters[index] = changed
                fresh._open_with_room[index] = fresh._usable(index, changed)
        return fresh

    def _near(self, latitude: float, longitude: float, radius_m: float) -> tuple[np.ndarray, bool]:
        """Indices of shelters in a box of ``radius_m`` around the point, and whether
        the box covers every shelter."""
        dlat = math.degrees(radius_m / EARTH_RADIUS_M)
        # the widest longitude span within the box's latitudes keeps every point within radius_m
        widest = min(abs(latitude) + dlat, 89.999)
        dlon = min(dlat / math.cos(math.radians(widest)), 360.0)
        window = box(longitude - dlon, latitude - dlat, longitude + dlon, latitude + dlat)
        assert self._extent is not None
        return self._tree.query(window), window.covers(self._extent)

    def recommend(self, *, latitude: float, longitude: float, hazard: Hazard, k: int = 3) -> Recommendation:
        if not self.shelters or k <= 0:
            return Recommendation(latitude, longitude, hazard, ())
        radius = FIRST_RADIUS_M
        while True:
            indices, everything = self._near(latitude, longitude, radius)
            distances = _distances(latitude, longitude, self._lats[indices], self._lons[indices])
            order = np.lexsort((np.array([self.shelters[i].id for i in indices]), distances))
            found = 0
            cut = len(order)
            for position, j in enumerate(order):
                if distances[j] > radius and not everything:
                    cut = position  # beyond the radius something nearer may lie outside the box
                    break
                shelter = self.shelters[int(indices[j])]
                if self._open_with_room[indices[j]] and shelter.designated_for(hazard):
                    found += 1
                    if found == k:
                        cut = position + 1
                        break
            if found == k or everything:
                ranked = sorted(
                    (self._rank(int(indices[j]), latitude, longitude, hazard) for j in order[:cut]),
                    key=lambda r: (r.distance_m, r.shelter.id),
                )
                return _pick(ranked, latitude, longitude, hazard, k)
            radius *= 4

    def _rank(self, index: int, latitude: float, longitude: float, hazard: Hazard) -> Ranked:
        shelter = self.shelters[index]
        distance = distance_m(latitude, longitude, shelter.latitude, shelter.longitude)
        return Ranked(shelter, distance, reasons(shelter, hazard, self._areas_of.get(index, []), self.bands))
