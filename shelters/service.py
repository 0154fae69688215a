"""Nearest shelters for a point, as the resident page and alert messages ask for
them: ``nearest(conn, latitude=…, longitude=…, hazard=…)``. The spatial index is
rebuilt only when shelters are added, moved or renamed or the danger areas change;
status and count changes only refresh the shelters' states."""

from __future__ import annotations

import threading

import psycopg

from kawamori.model import Hazard
from kawamori.texts import say
from shelters import registry
from shelters.areas import danger_areas
from shelters.crowding import DEFAULT_BANDS, Bands, describe, label
from shelters.recommend import Recommendation, ShelterIndex

MAX_K = 20


class NearestShelters:
    """A cache of one :class:`ShelterIndex` keyed by what it was built from."""

    def __init__(self, bands: Bands = DEFAULT_BANDS) -> None:
        self.bands = bands
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._live_key: tuple | None = None
        self._index: ShelterIndex | None = None
        self.rebuilds = 0

    def index(self, conn: psycopg.Connection) -> ShelterIndex:
        areas = danger_areas(conn)
        places, live = registry.fingerprints(conn)
        where = (conn.info.host, conn.info.port, conn.info.dbname)
        key = (where, places, tuple((a.id, a.alert_level, repr(a.geometry)) for a in areas))
        with self._lock:
            if self._key != key or self._index is None:
                states = [registry.state(row) for row in registry.all_shelters(conn)]
                self._index = ShelterIndex(states, areas, bands=self.bands)
                self._key, self._live_key = key, live
                self.rebuilds += 1
            elif self._live_key != live:
                self._index = self._index.with_live_states(registry.live_states(conn))
                self._live_key = live
            return self._index

    def __call__(
        self, conn: psycopg.Connection, *, latitude: float, longitude: float, hazard: Hazard, k: int = 3
    ) -> Recommendation:
        k = max(1, min(k, MAX_K))
        return self.index(conn).recommend(latitude=latitude, longitude=longitude, hazard=hazard, k=k)


_default = NearestShelters()


def nearest(
    conn: psycopg.Connection,
    *,
    latitude: float,
    longitude: float,
    hazard: Hazard = Hazard.flood,
    k: int = 3,
) -> Recommendation:
    """The k nearest open shelters with room, safe for ``hazard`` and outside areas
    under level ≥ 4, with the reasons nearer shelters were passed over."""
    return _default(conn, latitude=latitude, longitude=longitude, hazard=hazard, k=k)


def message_block(recommendation: Recommendation, *, lang: str = "ja", bands: Bands = DEFAULT_BANDS) -> str:
    """The nearest-shelters block for alert messages (plain text, one line each), in
    ``lang`` (``ja``, ``en`` or ``ja-easy``)."""
    if not recommendation.chosen:
        return say("shelters.block.none", lang)
    lines = [say("shelters.block.head", lang)]
    english = lang == "en"
    for number, r in enumerate(recommendation.chosen, start=1):
        s = r.shelter
        look = describe(s.occupancy, s.capacity, bands)
        named = s.name_en if english else s.name_ja
        # a Japanese name that already says 臨時 needs no second word for it
        temporary = s.temporary and (english or "臨時" not in s.name_ja)
        short = say("shelters.labels.temporary_short", lang)
        kind = say("shelters.block.kind", lang, short=short) if temporary else ""
        lines.append(
            say(
                "shelters.block.line",
                lang,
                number=number,
                name=named,
                kind=kind,
                km=f"{r.distance_m / 1000:.1f}",
                icon=look["icon"],
                label=label(look["crowding"], lang),
            )
        )
    return "\n".join(lines)
