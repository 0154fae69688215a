"""The after-action review (事後検証) of an event: for a time range and some areas, one
timeline of what the water did, what the engine proposed on what evidence, what staff
decided and who, what residents were sent per channel, and how full the shelters got.

The pieces that decide something are pure (:func:`stage_crossings`,
:func:`occupancy_curve`, :func:`timeline`); :func:`load` reads them from the database
(``dashboard/review_store.py``). Every line is in Japanese and English.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from alerts import audit_texts
from dashboard import queries, review_store

MAX_RANGE = timedelta(days=31)
# the hydrograph's buckets: fine enough to see a rise, whole hours (the rollups) past 3 days
FINE_BUCKET, COARSE_BUCKET = timedelta(minutes=10), timedelta(hours=1)

ACTIONS = {  # the audit's actions in words (the console's words, dashboard/static/alerts.js)
    "proposed": ("提案", "proposed"),
    "proposal_changed": ("提案の変更", "proposal changed"),
    "proposal_withdrawn": ("提案の取り下げ", "proposal withdrawn"),
    "approved": ("承認", "approved"),
    "declined": ("却下（提案どおりにしない）", "declined"),
    "issued": ("発令", "issued"),
    "raised": ("引き上げ", "raised"),
    "lowered": ("引き下げ", "lowered"),
    "lifted": ("解除", "lifted (all clear)"),
    "cancelled": ("取り消し", "cancelled"),
    "acknowledged": ("確認", "acknowledged"),
    "reminded": ("再通知", "reminder sent"),
    "stale": ("データ途絶", "data stopped"),
    "fresh": ("データ復帰", "data back"),
}
KINDS = {
    "reading": ("水位", "water level"),
    "evidence": ("根拠", "evidence"),
    "decision": ("判断", "decision"),
    "message": ("住民への送信", "sent to residents"),
    "delivery": ("配信結果", "deliveries"),
    "shelter": ("避難所", "shelter"),
}
ENGINE = ("判定エンジン", "engine")


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
                ja, en = (
                    (
                        f"{names[0]}: {s['name_ja']}（{s['level_m']:.2f} m）に達した（最高 {top:.2f} m）",
                        f"{names[1]}: reached {s['name_en']} ({s['level_m']:.2f} m; highest {top:.2f} m)",
                    )
                    if now_above
                    else (
                        f"{names[0]}: {s['name_ja']}（{s['level_m']:.2f} m）を下回った",
                        f"{names[1]}: fell below {s['name_en']} ({s['level_m']:.2f} m)",
                    )
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
    names = (shelter.name_ja, shelter.name_en)
    out = [
        Entry(
            changes[0][0], "shelter", f"{names[0]}: {changes[0][1]} 人", f"{names[1]}: {changes[0][1]} people"
        )
    ]
    if shelter.capacity:
        start = shelter.curve[0][1]
        for mark in FILL_MARKS:
            limit = mark * shelter.capacity
            if start >= limit:
                continue
            crossed = next(((at, n) for at, n in changes if n >= limit), None)
            if crossed:
                percent = round(mark * 100)
                out.append(
                    Entry(
                        crossed[0],
                        "shelter",
                        f"{names[0]}: 収容の{percent}%に達した（{crossed[1]}/{shelter.capacity} 人）",
                        f"{names[1]}: reached {percent} % of capacity ({crossed[1]}/{shelter.capacity})",
                    )
                )
    top_at, top = max(changes, key=lambda c: c[1])
    if (top_at, top) != changes[0]:
        out.append(
            Entry(top_at, "shelter", f"{names[0]}: 最大 {top} 人", f"{names[1]}: highest, {top} people")
        )
    return out


def timeline(*parts: Iterable[Entry]) -> list[Entry]:
    """All entries, oldest first; at the same time, in the order of the kinds above."""
    order = list(KINDS)
    return sorted((e for part in parts for e in part), key=lambda e: (e.at, order.index(e.kind)))


def _who(name: str | None) -> tuple[str, str]:
    return (name, name) if name else ENGINE


def _decisions(rows: Iterable[dict], stations: dict[str, tuple[str, str]]) -> list[Entry]:
    """The audit entries in words, each followed by the evidence it rested on (the
    stations by name, the basis in the console's words: alerts.audit_texts.term)."""
    out = []
    for r in rows:
        if r["action"] not in ACTIONS:
            continue
        word_ja, word_en = ACTIONS[r["action"]]
        details = r["details"] or {}
        code, params = details.get("code"), details.get("params")
        # a person's own words (a staff_* code) stay as written; the engine's are rendered
        if code in audit_texts.codes() and not (str(code).startswith("staff_") and r["reason"].strip()):
            why_ja, why_en = (audit_texts.render(code, params, lang) for lang in ("ja", "en"))
        else:
            why_ja = why_en = r["reason"]
        drill = "" if r["status"] == "Actual" else f"【{r['status']}】"
        who_ja, who_en = _who(r["actor"])
        out.append(
            Entry(
                r["at"],
                "decision",
                f"{drill}{r['area_ja']}: {word_ja} — {why_ja}",
                f"{drill}{r['area_en']}: {word_en} — {why_en}",
                r["area_id"],
                who_ja,
                who_en,
            )
        )
        for e in details.get("evidence") or []:
            level = f" {e['level_m']:.2f} m" if isinstance(e.get("level_m"), int | float) else ""
            station = stations.get(e.get("station"), (e.get("station"), e.get("station")))
            basis = {lang: audit_texts.term(e.get("basis"), lang) for lang in ("ja", "en")}
            out.append(
                Entry(
                    r["at"],
                    "evidence",
                    f"{r['area_ja']}: {station[0]}{level}（{basis['ja']}、警戒レベル{e.get('level')}相当）",
                    f"{r['area_en']}: {station[1]}{level} ({basis['en']}, level {e.get('level')} equivalent)",
                    r["area_id"],
                    *ENGINE,
                )
            )
    return out


def _messages(rows: Iterable[dict]) -> list[Entry]:
    return [
        Entry(
            r["created_at"],
            "message",
            f"{r['area_ja']}: {r['msg_type']} 第{r['version']}版"
            + (f"（警戒レベル{r['level']}）" if r["level"] else "")
            + ("" if r["public"] else "（訓練・非公開）"),
            f"{r['area_en']}: {r['msg_type']} version {r['version']}"
            + (f" (level {r['level']})" if r["level"] else "")
            + ("" if r["public"] else " (drill, not public)"),
            r["area_id"],
            *ENGINE,
        )
        for r in rows
    ]


def _deliveries(rows: Iterable[dict]) -> list[Entry]:
    return [
        Entry(
            r["last_done"] or r["first_created"],
            "delivery",
            f"{r['area_ja']}: 第{r['version']}版 {r['channel']} 送信 {r['sent']}・失敗 {r['failed']}"
            f"・重複 {r['duplicates']}・差し替え {r['superseded']}・未完了 {r['queued']}",
            f"{r['area_en']}: version {r['version']} {r['channel']}: sent {r['sent']}, failed {r['failed']}, "
            f"duplicates {r['duplicates']}, superseded {r['superseded']}, pending {r['queued']}",
            r["area_id"],
            *ENGINE,
        )
        for r in rows
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
    words = {"open": ("開設", "opened"), "preparing": ("開設準備", "preparing"), "closed": ("閉鎖", "closed")}
    names = {sh.id: (sh.name_ja, sh.name_en) for sh in review.shelters}
    shelter_lines += [
        Entry(at, "shelter", f"{names[sid][0]}: {words[status][0]}", f"{names[sid][1]}: {words[status][1]}")
        for sid, at, status in review_store.statuses(conn, list(names), since, until)
    ]
    said, sent = _decisions(decisions, station_names), _messages(messages)
    review.entries = timeline(crossings, said, sent, _deliveries(review.deliveries), shelter_lines)
    return review
