"""The after-action review (事後検証) of an event: for a time range and some areas, one
timeline of what the water did, what the engine proposed on what evidence, what staff
decided and who, what residents were sent per channel, and how full the shelters got.

The pieces that decide something are pure (:func:`stage_crossings`,
:func:`occupancy_curve`, :func:`timeline`); :func:`load` reads them from the database
(``dashboard/review_store.py``). Every line is in Japanese and English, in the words of
the text catalogue (``console.review``: ``line``, ``actions``, ``kinds``, ``status``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from alerts import audit_texts
from dashboard import queries, review_store
from kawamori.texts import both

MAX_RANGE = timedelta(days=31)
# the hydrograph's buckets: fine enough to see a rise, whole hours (the rollups) past 3 days
FINE_BUCKET, COARSE_BUCKET = timedelta(minutes=10), timedelta(hours=1)

# the audit's actions the timeline shows (in words: console.review.actions)
ACTIONS = frozenset(
    {
        "proposed",
        "proposal_changed",
        "proposal_withdrawn",
        "approved",
        "declined",
        "issued",
        "raised",
        "lowered",
        "lifted",
        "cancelled",
        "acknowledged",
        "reminded",
        "stale",
        "fresh",
    }
)
# the timeline's kinds, in their order at the same time (in words: console.review.kinds)
KINDS = ("reading", "evidence", "decision", "message", "delivery", "shelter")


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    kind: str  # a KINDS key
    ja: str
    en: str
    area_id: str | None = None
    who_ja: str = ""
    who_en: str = ""


@dataclass
class StationSeries:
    id: str
    name_ja: str
    name_en: str
    stages: list[dict]
    points: list[dict]


@dataclass
class ShelterCurve:
    id: str
    name_ja: str
    name_en: str
    capacity: int | None
    curve: list[tuple[datetime, int]]
    checkins: int  # count changes recorded in the range (staff and door counters)


@dataclass
class Review:
    since: datetime
    until: datetime
    areas: list[dict]
    stations: list[StationSeries] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    deliveries: list[dict] = field(default_factory=list)  # per channel: sent, failed, duplicates, …
    shelters: list[ShelterCurve] = field(default_factory=list)


class ReviewError(ValueError):
    """A review that cannot be made as asked (the message says why)."""


def stage_crossings(
    station: str, names: tuple[str, str], points: Sequence[dict], stages: Sequence[dict]
) -> list[Entry]:
    """When the water first rose to each stage and fell below it again, from the
    buckets' maxima (a one-reading peak counts)."""
    out: list[Entry] = []
    above = {s["key"]: None for s in stages}
    for point in points:
        top = point.get("max_m", point["level_m"])
        for s in stages:
            now_above = top >= s["level_m"]
            if above[s["key"]] is None:
                above[s["key"]] = now_above
                continue
            if now_above != above[s["key"]]:
                above[s["key"]] = now_above
                each = {"station": names, "stage": (s["name_ja"], s["name_en"])}
                ja, en = (
                    both("console.review.line.reached", each=each, level=s["level_m"], top=top)
                    if now_above
                    else both("console.review.line.fell", each=each, level=s["level_m"])
                )
                out.append(Entry(point["time"], "reading", ja, en, who_ja=station, who_en=station))
    return out


def occupancy_curve(
    events: Iterable[tuple[datetime, str, int]], *, since: datetime
) -> tuple[list[tuple[datetime, int]], int]:
    """The head count from ``since`` on: the count then, and after each change (events
    ``(at, 'set' | 'delta', value)`` oldest first, from the first one ever). Returns the
    curve and the number of changes in it (check-ins and counts)."""
    count, curve = 0, []
    for at, kind, value in events:
        if at >= since and not curve:
            curve.append((since, count))
        count = value if kind == "set" else max(count + value, 0)
        if at >= since:
            curve.append((at, count))
    return curve or [(since, count)], max(len(curve) - 1, 0)


FILL_MARKS = (0.5, 0.8, 1.0)  # a shelter half full, 80 % full, full: when, in the timeline


def occupancy_marks(shelter: ShelterCurve) -> list[Entry]:
    """What the timeline says of a shelter's count (the plot has every count): the first
    count in the range, when it first passed half, 80 % and all of its capacity, and its
    highest count."""
    changes = shelter.curve[1:]
    if not changes:
        return []
    names = {"shelter": (shelter.name_ja, shelter.name_en)}
    out = [
        Entry(changes[0][0], "shelter", *both("console.review.line.first_count", each=names, n=changes[0][1]))
    ]
    if shelter.capacity:
        start = shelter.curve[0][1]
        for mark in FILL_MARKS:
            limit = mark * shelter.capacity
            if start >= limit:
                continue
            crossed = next(((at, n) for at, n in changes if n >= limit), None)
            if crossed:
                filled = both(
                    "console.review.line.filled",
                    each=names,
                    percent=round(mark * 100),
                    n=crossed[1],
                    capacity=shelter.capacity,
                )
                out.append(Entry(crossed[0], "shelter", *filled))
    top_at, top = max(changes, key=lambda c: c[1])
    if (top_at, top) != changes[0]:
        out.append(Entry(top_at, "shelter", *both("console.review.line.highest", each=names, n=top)))
    return out


def timeline(*parts: Iterable[Entry]) -> list[Entry]:
    """All entries, oldest first; at the same time, in the order of the kinds above."""
    return sorted((e for part in parts for e in part), key=lambda e: (e.at, KINDS.index(e.kind)))


def _who(name: str | None) -> tuple[str, str]:
    return (name, name) if name else both("console.review.engine")


def _decisions(rows: Iterable[dict], stations: dict[str, tuple[str, str]]) -> list[Entry]:
    """The audit entries in words, each followed by the evidence it rested on (the
    stations by name, the basis in the console's words: alerts.audit_texts.term)."""
    out = []
    for r in rows:
        if r["action"] not in ACTIONS:
            continue
        details = r["details"] or {}
        code, params = details.get("code"), details.get("params")
        # a person's own words (a staff_* code) stay as written; the engine's are rendered
        if code in audit_texts.codes() and not (str(code).startswith("staff_") and r["reason"].strip()):
            why_ja, why_en = (audit_texts.render(code, params, lang) for lang in ("ja", "en"))
        else:
            why_ja = why_en = r["reason"]
        said = both(
            "console.review.line.decision",
            drill="" if r["status"] == "Actual" else f"【{r['status']}】",
            each={
                "area": _area(r),
                "action": both(f"console.review.actions.{r['action']}"),
                "why": (why_ja, why_en),
            },
        )
        out.append(Entry(r["at"], "decision", *said, r["area_id"], *_who(r["actor"])))
        for e in details.get("evidence") or []:
            station = stations.get(e.get("station"), (e.get("station"), e.get("station")))
            evidence = both(
                "console.review.line.evidence",
                reading=f" {e['level_m']:.2f} m" if isinstance(e.get("level_m"), int | float) else "",
                level=e.get("level"),
                each={
                    "area": _area(r),
                    "station": station,
                    "basis": (audit_texts.term(e.get("basis"), "ja"), audit_texts.term(e.get("basis"), "en")),
                },
            )
            out.append(Entry(r["at"], "evidence", *evidence, r["area_id"], *_who(None)))
    return out


def _area(row: dict) -> tuple[str, str]:
    return row["area_ja"], row["area_en"]


def _messages(rows: Iterable[dict]) -> list[Entry]:
    out = []
    for r in rows:
        level = both("console.review.line.message_level", level=r["level"]) if r["level"] else ("", "")
        drill = ("", "") if r["public"] else both("console.review.line.message_drill")
        said = both(
            "console.review.line.message",
            msg_type=r["msg_type"],
            version=r["version"],
            each={"area": _area(r), "with_level": level, "drill": drill},
        )
        out.append(Entry(r["created_at"], "message", *said, r["area_id"], *_who(None)))
    return out


def _deliveries(rows: Iterable[dict]) -> list[Entry]:
    return [
        Entry(
            r["last_done"] or r["first_created"],
            "delivery",
            *both(
                "console.review.line.delivery",
                each={"area": _area(r)},
                **{
                    k: r[k]
                    for k in ("version", "channel", "sent", "failed", "duplicates", "superseded", "queued")
                },
            ),
            r["area_id"],
            *_who(None),
        )
        for r in rows
    ]


def _statuses(rows: Iterable[tuple[str, datetime, str]], names: dict[str, tuple[str, str]]) -> list[Entry]:
    """When a shelter opened, was being prepared or closed (``(shelter id, at, status)``)."""
    return [
        Entry(at, "shelter", *both(f"console.review.status.{status}", each={"shelter": names[sid]}))
        for sid, at, status in rows
    ]


def load(conn: psycopg.Connection, *, area_ids: Sequence[str], since: datetime, until: datetime) -> Review:
    if until <= since:
        raise ReviewError("the end of the range must be after its start")
    if until - since > MAX_RANGE:
        raise ReviewError(f"a review covers at most {MAX_RANGE.days} days")
    areas = review_store.areas(conn, area_ids)
    unknown = sorted(set(area_ids) - {a["id"] for a in areas})
    if unknown:
        raise ReviewError(f"no area {', '.join(unknown)}")
    review = Review(since, until, areas)
    bucket = FINE_BUCKET if until - since <= timedelta(days=3) else COARSE_BUCKET
    station_ids = sorted({s for a in areas for s in a["station_ids"]})
    crossings = []
    station_names = {}
    for s in review_store.stations(conn, station_ids):
        station_names[s["id"]] = (s["name_ja"], s["name_en"])
        points = queries.station_readings(conn, station_id=s["id"], since=since, until=until, bucket=bucket)
        review.stations.append(StationSeries(s["id"], s["name_ja"], s["name_en"], s["stages"], points))
        crossings += stage_crossings(s["id"], (s["name_ja"], s["name_en"]), points, s["stages"])
    decisions = review_store.audit(conn, area_ids, since, until)
    messages = review_store.messages(conn, area_ids, since, until)
    review.deliveries = review_store.deliveries(conn, [m["alert_id"] for m in messages])
    for shelter in review_store.shelters_near(conn, areas):
        curve, checkins = occupancy_curve(review_store.counts(conn, shelter["id"], until), since=since)
        review.shelters.append(
            ShelterCurve(
                shelter["id"], shelter["name_ja"], shelter["name_en"], shelter["capacity"], curve, checkins
            )
        )
    shelter_lines = [e for sh in review.shelters for e in occupancy_marks(sh)]
    names = {sh.id: (sh.name_ja, sh.name_en) for sh in review.shelters}
    shelter_lines += _statuses(review_store.statuses(conn, list(names), since, until), names)
    said, sent = _decisions(decisions, station_names), _messages(messages)
    review.entries = timeline(crossings, said, sent, _deliveries(review.deliveries), shelter_lines)
    return review
