"""What the resident page shows, as plain data: the rivers near a place in plain words,
the current alert level there and what to do, and the nearest open shelters.

Wording lives in the text catalogue a translator extends without code
(``kawamori/texts/<language>.yaml``): the page's own texts in its ``resident`` section,
alert levels and actions in its ``notify`` section, so a push message and the page say
the same thing.
``river_word`` is pure; ``summary`` reads the database.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, tzinfo

import psycopg

from dashboard import queries
from kawamori import texts as catalogue
from kawamori.clock import DEFAULT_ZONE
from kawamori.model import Hazard
from notify import subscriptions
from notify.render import speakable
from notify.render import words as notify_words
from shelters.crowding import DEFAULT_BANDS, Bands, describe
from shelters.crowding import label as crowding_label
from shelters.recommend import distance_m
from shelters.service import NearestShelters

LANGUAGES = catalogue.LANGUAGES
NEAR_M = 15_000  # stations this close to a place are "near" even outside its areas
MAX_RIVERS = 6
# why a designated flood shelter was passed over that still makes it a place to check:
# not yet opened, or its capacity unknown (never full, unsafe or inside a danger area)
UNCONFIRMED = frozenset({"closed", "preparing", "no_capacity"})

# plain words for a river's level, lowest to highest; each has a symbol so that colour
# is never the only sign
WORDS = ("unknown", "normal", "high", "prepare", "danger", "flooding")
SYMBOLS = {"unknown": "?", "normal": "○", "high": "△", "prepare": "▲", "danger": "◆", "flooding": "■"}


def texts(language: str) -> dict[str, str]:
    """The page texts of ``language`` (the catalogue's ``resident`` section)."""
    return catalogue.section("resident", catalogue.pick(language))


def _clock(when: datetime, fmt: str, zone: tzinfo) -> str:
    """Local time in the language's format (``11月3日 9時05分``, ``3 Nov 9:05``)."""
    local = when.astimezone(zone)
    return fmt.format(
        year=local.year,
        month=local.month,
        day=local.day,
        hour=local.hour,
        minute=local.minute,
        month_name=calendar.month_abbr[local.month],
        zone=local.tzname() or "",
    )


def river_word(*, alert_level: int | None, stage_key: str | None, stale: bool, has_reading: bool) -> str:
    """One of :data:`WORDS` for a station's latest judgement."""
    if stale or not has_reading:
        return "unknown"
    if alert_level is not None and alert_level >= 5:
        return "flooding"
    if alert_level == 4:
        return "danger"
    if alert_level == 3:
        return "prepare"
    if stage_key is not None:
        return "high"
    return "normal"


def level_action_key(level: int | None) -> str | None:
    """The message templates' action for an alert level (none below 2)."""
    if level is None or level < 2:
        return None
    return f"action.level{level}" if level >= 3 else "action.monitor"


@dataclass(frozen=True, slots=True)
class Place:
    """Where the reader asked about: a point (rounded by the page) and/or an area."""

    latitude: float | None = None
    longitude: float | None = None
    area: str | None = None

    @property
    def point(self) -> tuple[float, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return self.latitude, self.longitude


def _name(row: dict, language: str, field: str = "name") -> str:
    ja, en = row.get(f"{field}_ja") or "", row.get(f"{field}_en") or ""
    return (en or ja) if language == "en" else (ja or en)


def area_list(conn: psycopg.Connection, *, language: str) -> list[dict]:
    return [
        {"id": a["id"], "name": _name(a, language), "name_ja": a["name_ja"], "name_en": a["name_en"]}
        for a in queries.areas(conn)
    ]


def area_names(conn: psycopg.Connection, *, areas: list[str], language: str) -> str:
    """The names of ``areas`` in ``language``, listed as the language lists them."""
    names = [a["name"] for a in area_list(conn, language=language) if a["id"] in set(areas)]
    return ("、" if language != "en" else ", ").join(names)


def current_levels(conn: psycopg.Connection, *, areas: list[str]) -> dict[str, int]:
    """Each area's issued level (発令中のレベル): what staff or the written policy issued
    for it, and nothing else — not a station's reading, not a proposal awaiting a
    person. Exercises and tests are never shown as if they were real."""
    rows = conn.execute(
        """SELECT area_id, alert_level FROM alerts
           WHERE kind = 'area' AND state = 'active' AND public AND status = 'Actual'
             AND alert_level IS NOT NULL AND area_id = ANY(%s)""",
        (areas,),
    ).fetchall()
    return {area: int(level) for area, level in rows}


def issued_by_area(conn: psycopg.Connection, *, language: str) -> tuple[list[dict], int]:
    """Every area with an issued level (Actual, public, active), most severe first, then
    by name; and how many areas have nothing issued. A station in no area is an area
    of its own, named by its river and station. Proposals and drills are never here."""
    words = notify_words(catalogue.pick(language))
    every = queries.area_levels(conn, staff=False)
    listed = [
        {
            "id": r["id"],
            "name": _name(r, language),
            "level": r["issued"]["level"],
            "level_text": words[f"level.{r['issued']['level']}"],
            "link": r["geometry"],  # an alert area has its own page (?area=)
        }
        for r in every
        if r["issued"] is not None
    ]
    listed.sort(key=lambda r: (-r["level"], r["name"]))
    return listed, len(every) - len(listed)


def summary(
    conn: psycopg.Connection,
    *,
    place: Place,
    language: str,
    now: datetime,
    nearest: NearestShelters,
    bands: Bands = DEFAULT_BANDS,
    zone: tzinfo = DEFAULT_ZONE,
) -> dict:
    """Everything the page shows for ``place`` in ``language``, times in ``zone``."""
    language = catalogue.pick(language)
    t, words = texts(language), notify_words(language)
    all_areas = {a["id"]: a for a in queries.areas(conn)}
    chosen: list[str] = []
    if place.area in all_areas:
        chosen.append(place.area)
    point = place.point
    if point is not None:
        for area_id in subscriptions.areas_at(conn, latitude=point[0], longitude=point[1]):
            if area_id not in chosen:
                chosen.append(area_id)
    outside = point is not None and not chosen
    if point is None and chosen:  # an area only: measure from its stations or its centre
        from shapely.geometry import shape

        centre = shape(all_areas[chosen[0]]["geometry"]).representative_point()
        point = (centre.y, centre.x)
    station_ids = {s for a in chosen for s in all_areas[a]["station_ids"]}
    rivers = []
    for row in queries.stations(conn, now=now):
        distance = distance_m(point[0], point[1], row["latitude"], row["longitude"]) if point else None
        near = row["id"] in station_ids or (distance is not None and distance <= NEAR_M)
        if (chosen or point) and not near:
            continue
        word = river_word(
            alert_level=row["alert_level"],
            stage_key=row["stage_key"],
            stale=row["stale"],
            has_reading=row["latest_level_m"] is not None,
        )
        when = row["latest_time"]
        rivers.append(
            {
                "station_id": row["id"],
                "river": _name(row, language, "river"),
                "station": _name(row, language),
                "word": word,
                "symbol": SYMBOLS[word],
                "text": t[f"river_{word}"],
                "rank": WORDS.index(word),
                "level_m": row["latest_level_m"],
                "observed_at": when,
                "reading": t["reading"].format(
                    level=f"{row['latest_level_m']:.2f} m",
                    time=_clock(when, t["time_format"], zone),
                )
                if when is not None and row["latest_level_m"] is not None
                else "",
                "distance_km": None if distance is None else round(distance / 1000, 1),
            }
        )
    rivers.sort(key=lambda r: (r["distance_km"] is None, r["distance_km"] or 0, -r["rank"]))
    if chosen or point:
        rivers = rivers[:MAX_RIVERS]
    levels = current_levels(conn, areas=chosen or list(all_areas))
    level = max(levels.values(), default=None)
    # no area and no place: each area's issued level by name, not one banner for all
    issued, quiet = ([], 0) if (chosen or point) else issued_by_area(conn, language=language)
    action_key = level_action_key(level)
    shelters: list[dict] | None = None
    fallback: list[dict] = []
    if point is not None and not outside:
        recommendation = nearest(conn, latitude=point[0], longitude=point[1], hazard=Hazard.flood, k=3)
        shelters = []
        for ranked in recommendation.chosen:
            s = ranked.shelter
            look = describe(s.occupancy, s.capacity, bands)
            shelters.append(
                {
                    "id": s.id,
                    "name": s.name_en if language == "en" else s.name_ja,
                    "address": s.address,
                    "distance": t["distance"].format(km=f"{ranked.distance_m / 1000:.1f}"),
                    "crowding": look["crowding"],
                    "icon": look["icon"],
                    "room": crowding_label(look["crowding"], language),
                    "map": f"https://www.openstreetmap.org/?mlat={s.latitude}&mlon={s.longitude}#map=17/"
                    f"{s.latitude}/{s.longitude}",
                }
            )
        if not shelters:  # none open with room: designated ones not yet confirmed open
            fallback = [
                {
                    "id": r.shelter.id,
                    "name": r.shelter.name_en if language == "en" else r.shelter.name_ja,
                    "address": r.shelter.address,
                    "distance": t["distance"].format(km=f"{r.distance_m / 1000:.1f}"),
                }
                for r in recommendation.excluded
                if r.reasons and all(why.reason.value in UNCONFIRMED for why in r.reasons)
            ][:3]
    return {
        "language": language,
        "areas": [{"id": a, "name": _name(all_areas[a], language)} for a in chosen],
        "fallback": fallback,
        "outside": outside,
        "alert_level": level,
        "level_text": words[f"level.{level}"] if level else t["level_none"],
        "action": words[action_key] if action_key else t["level_none_action"],
        "area_levels": levels,
        "issued_areas": issued,
        "quiet_areas": quiet,
        "rivers": rivers,
        "shelters": shelters,
        "updated": t["updated"].format(time=_clock(now, t["time_format"], zone)),
    }


def spoken(view: dict, language: str) -> str:
    """What the page says aloud for a place: its areas, the issued level and what to do,
    in words written for speech (no symbols, no URLs)."""
    t, words = texts(language), notify_words(catalogue.pick(language))
    pause = words["meta.list_separator"].strip() or ","
    end = words["meta.sentence_end"]
    names = (pause + " ").join(a["name"] for a in view["areas"])
    parts = [t["areas_here"].format(areas=names) if names else "", view["level_text"], view["action"]]
    text = " ".join(p if p.rstrip()[-1:] in ".。!！?？" else p + end for p in parts if p)
    return speakable(text, pause)
