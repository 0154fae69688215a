"""Shelter registry files as municipalities publish them: the national open-data CSV
and GeoJSON, read row by row. Pure: bytes in, :class:`Parsed` out.

CSV: the 自治体標準オープンデータセット 「指定緊急避難場所一覧」 / 「指定避難所一覧」
layout (the columns municipalities publish), UTF-8 (with or without BOM) or Shift_JIS
(CP932). Columns read (every other column is listed as not used):

========================================  =====================================
column (aliases)                          use
========================================  =====================================
全国地方公共団体コード                    id prefix (optional)
ID (NO, 番号)                             id: ``<団体コード>-<ID>``
名称 (施設・場所名, 避難所名, 施設名)     Japanese name (required)
名称_英字                                 English name (optional; else 名称)
所在地_連結表記 (住所, 所在地)            address
緯度, 経度                                location (required)
想定収容人数 (収容人数, 収容可能人数)     capacity, free text: ``屋内480人／屋外3,350人``
災害種別_洪水 … 災害種別_火山現象         designated for that hazard (1, 1.0, ○, TRUE, 有 …)
指定避難所との重複 (指定避難所)           also a 指定避難所 (decides which capacity counts)
備考, 種別, 避難所種別, 区分              「臨時」 marks a temporary shelter
人数_<time>時点 (避難者数_…)             a head count at that time (JST)
========================================  =====================================

A row with an **error** is skipped (with its line, column and reason); a row with a
**warning** is imported as the warning says. Nothing here ever stops the other rows;
only an unreadable file or a missing required column fails as a whole
(:class:`~shelters.errors.ImportFailed`).

GeoJSON: a FeatureCollection of Point features (RFC 7946, [longitude, latitude])
whose ``id`` (or ``properties.id``) names the shelter and whose properties hold
``name_ja``, ``name_en``, ``address``, ``capacity`` (and optionally ``capacity_text``,
``designated_shelter``, ``temporary``) and ``hazards`` — the shape
``/api/shelters.geojson`` serves, so an export can be imported again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from kawamori.clock import DEFAULT_ZONE
from kawamori.model import Hazard
from shelters import csvlines, fields, geocheck
from shelters.errors import ERROR, WARNING, ImportFailed, Problem

HAZARD_COLUMNS: dict[Hazard, str] = {
    Hazard.flood: "洪水",
    Hazard.landslide: "崖崩れ、土石流及び地滑り",
    Hazard.storm_surge: "高潮",
    Hazard.earthquake: "地震",
    Hazard.tsunami: "津波",
    Hazard.fire: "大規模な火事",
    Hazard.inland_flood: "内水氾濫",
    Hazard.volcano: "火山現象",
}
HEADER = [
    "全国地方公共団体コード",
    "ID",
    "地方公共団体名",
    "名称",
    "名称_カナ",
    "名称_英字",
    "所在地_連結表記",
    "緯度",
    "経度",
    "標高",
    "電話番号",
    *(f"災害種別_{label}" for label in HAZARD_COLUMNS.values()),
    "指定避難所との重複",
    "想定収容人数",
    "対象となる町会・自治会",
    "URL",
    "備考",
]
COLUMNS = {
    "code": ("全国地方公共団体コード",),
    "id": ("ID", "NO", "No", "No.", "番号"),
    "name": ("名称", "施設・場所名", "避難所名", "施設名", "避難場所名"),
    "name_en": ("名称_英字", "名称_英語"),
    "address": ("所在地_連結表記", "住所", "所在地"),
    "lat": ("緯度",),
    "lon": ("経度",),
    "capacity": ("想定収容人数", "収容人数", "収容可能人数", "収容人員"),
    "shelter": ("指定避難所との重複", "指定避難所"),
    "notes": ("備考", "種別", "避難所種別", "区分"),
}
REQUIRED = ("id", "name", "lat", "lon")
MAX_TITLE_LINES = 5
_COORDINATE_PROBLEMS = {"empty": "coord_empty", "comma": "coord_comma"}
_ID_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HEADCOUNT = re.compile(r"^(?:避難者数|避難者|人数)[_\s]*\(?(?P<when>.+?)(?:時点|現在)\)?$")
_WHEN = re.compile(
    r"^(?:(?P<era>令和|R)?(?P<y>\d{1,4})[年/.-])?(?P<mo>\d{1,2})[月/.-](?P<d>\d{1,2})日?"
    r"(?:\([^)]*\))?[\sT_]*(?P<h>\d{1,2})(?:[時:](?P<mi>\d{1,2})?分?)?$"
)


@dataclass(frozen=True, slots=True)
class Record:
    """One shelter as a file describes it."""

    id: str
    name_ja: str
    name_en: str
    address: str
    latitude: float
    longitude: float
    hazards: frozenset[Hazard]
    capacity: fields.Capacity
    designated_shelter: bool | None = None  # 指定避難所 (None: the file does not say)
    temporary: bool = False  # 臨時避難所: opened although not designated
    line: int = 0

    @property
    def crowding_capacity(self) -> tuple[int | None, str]:
        return self.capacity.for_crowding(designated_shelter=self.designated_shelter)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A head count the file states for a shelter at a time (an official figure)."""

    shelter_id: str
    count: int
    at: datetime
    column: str
    line: int


@dataclass(slots=True)
class Parsed:
    records: list[Record] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    rows: int = 0
    encoding: str = ""
    unit: str = "line"  # what Problem.line counts: CSV lines or GeoJSON features

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.error]

    @property
    def skipped_lines(self) -> set[int]:
        return {p.line for p in self.errors if p.line}


def decode(data: bytes) -> tuple[str, str, list[Problem]]:
    """UTF-8 (BOM optional) or Shift_JIS (CP932) text, the encoding's name, and a
    file-level warning when neither decodes cleanly (bad characters are replaced; rows
    whose names come out garbled are then rejected one by one)."""
    try:
        return data.decode("utf-8-sig"), "UTF-8", []
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "Shift_JIS", []
    except UnicodeDecodeError:
        pass
    utf8 = data.decode("utf-8-sig", errors="replace")
    sjis = data.decode("cp932", errors="replace")
    text, name = (utf8, "UTF-8") if utf8.count("\ufffd") <= sjis.count("\ufffd") else (sjis, "Shift_JIS")
    if text.count("\ufffd") > max(16, len(text) // 20):
        raise ImportFailed([Problem(0, "", "file_not_text")])
    return text, name, [Problem(0, "", "file_damaged", severity=WARNING)]


def _pick(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def snapshot_time(text: str, *, now: datetime, zone: tzinfo = DEFAULT_ZONE) -> datetime | None:
    """The time in a head-count column's name (``1月1日18時``, ``2024/1/1 18:00``,
    ``令和6年1月1日18時00分``), in ``zone`` (the city's); without a year, the latest year that is not in
    the future. ``None`` if not understood."""
    folded = fields.fold(text)
    match = _WHEN.match(folded)
    if match is None:
        try:
            parsed = datetime.fromisoformat(folded)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    year = int(match["y"]) if match["y"] else None
    if year is not None and (match["era"] or year < 100):
        year += 2018 if match["era"] else 2000
    try:
        local_now = now.astimezone(zone)
        candidates = [year] if year else [local_now.year, local_now.year - 1]
        for y in candidates:
            at = datetime(
                y, int(match["mo"]), int(match["d"]), int(match["h"]), int(match["mi"] or 0), tzinfo=zone
            )
            if year or at <= local_now:
                return at
    except ValueError:
        return None
    return None


class _Row:
    """One CSV row being read: its values by column and the problems found."""

    def __init__(self, line: int, values: list[str], header: list[str], problems: list[Problem]) -> None:
        self.line, self.values, self.header, self.problems = line, values, header, problems
        self.failed = False  # an error: the row is skipped

    def get(self, index: int | None) -> str:
        return (
            self.values[index].strip().strip("\u3000")
            if index is not None and index < len(self.values)
            else ""
        )

    def bad(self, column: str, code: str, severity: str = ERROR, **params) -> None:
        self.problems.append(Problem(self.line, column, code, params, severity))
        self.failed = self.failed or severity == ERROR


def _row(row: _Row, at: dict[str, int | None], hazard_at: dict[Hazard, int | None]) -> Record | None:
    header = row.header
    code = fields.fold(row.get(at["code"]))
    local = fields.fold(row.get(at["id"]))
    id_column = header[at["id"]] if at["id"] is not None else "ID"
    shelter_id = f"{code}-{local}" if code and local else local
    if not local:
        row.bad(id_column, "id_empty")
    elif not _ID_PART.match(shelter_id) or len(shelter_id) > 64:
        row.bad(id_column, "id_bad", value=shelter_id)
    name = row.get(at["name"])
    name_column = header[at["name"]] if at["name"] is not None else "名称"
    if not name:
        row.bad(name_column, "name_empty")
    elif fields.looks_mojibake(name):
        row.bad(name_column, "name_mojibake", value=name)
    name_en = row.get(at["name_en"])
    if name_en and fields.looks_mojibake(name_en):
        row.bad(header[at["name_en"]], "name_en_mojibake", WARNING, value=name_en)
        name_en = ""
    address = row.get(at["address"])
    if address and fields.looks_mojibake(address):
        row.bad(header[at["address"]], "address_mojibake", WARNING, value=address)
        address = ""
    position = []
    for key, label in (("lat", "緯度"), ("lon", "経度")):
        text = row.get(at[key])
        try:
            position.append(fields.coordinate(text))
        except fields.Unreadable as error:
            row.bad(label, _COORDINATE_PROBLEMS.get(error.code, "coord_bad"), value=text)
            position.append(None)
    latitude, longitude = position
    hazards = set()
    for hazard, index in hazard_at.items():
        if index is None:
            continue
        value = row.get(index)
        flag = fields.flag(value)
        if flag is None:
            row.bad(header[index], "flag_unknown", WARNING, value=value)
        elif flag:
            hazards.add(hazard)
    shelter_flag = fields.flag(row.get(at["shelter"])) if at["shelter"] is not None else None
    if at["shelter"] is not None and shelter_flag is None:
        row.bad(header[at["shelter"]], "flag_unknown", WARNING, value=row.get(at["shelter"]))
    notes = " ".join(row.get(i) for i in (at.get(f"notes{n}") for n in range(4)) if i is not None)
    temporary = "臨時" in name or "臨時" in notes
    says_designation = at["shelter"] is not None or any(i is not None for i in hazard_at.values())
    if says_designation and not hazards and shelter_flag is not True and not temporary:
        row.bad("", "undesignated", WARNING)
        temporary = True
    capacity_column = header[at["capacity"]] if at["capacity"] is not None else "想定収容人数"
    capacity = fields.capacity(row.get(at["capacity"]))
    if not capacity.readable:
        row.bad(capacity_column, "capacity_unreadable", WARNING, value=capacity.text)
    elif capacity.empty:
        row.bad(capacity_column, "capacity_empty", WARNING)
    elif capacity.for_crowding(designated_shelter=shelter_flag)[0] is None:
        row.bad(capacity_column, "capacity_no_indoor", WARNING, value=capacity.text)
    if row.failed or latitude is None or longitude is None:
        return None
    return Record(
        id=shelter_id,
        name_ja=name,
        name_en=name_en or name,
        address=address,
        latitude=latitude,
        longitude=longitude,
        hazards=frozenset(hazards),
        capacity=capacity,
        designated_shelter=shelter_flag,
        temporary=temporary,
        line=row.line,
    )


def parse_csv(
    data: bytes, *, now: datetime, extent: geocheck.Extent | None = None, zone: tzinfo = DEFAULT_ZONE
) -> Parsed:
    """Every shelter of a national-layout CSV, each bad row reported (not raised)."""
    text, encoding, problems = decode(data)
    parsed = Parsed(problems=problems, encoding=encoding)
    stream = csvlines.records(text)
    header: list[str] = []
    for _ in range(
        MAX_TITLE_LINES + 1
    ):  # a title line such as 「指定緊急避難場所一覧（4月1日現在）」 may come first
        first = next(stream, None)
        if first is None:
            raise ImportFailed([Problem(1, "", "no_rows")])
        header = [fields.fold(h) for h in first.fields or []]
        if {*COLUMNS["name"], *COLUMNS["lat"]} & set(header):
            break
    at: dict[str, int | None] = {key: _pick(header, names) for key, names in COLUMNS.items()}
    notes = [i for i, h in enumerate(header) if h in COLUMNS["notes"]]
    for n, index in enumerate(notes):
        at[f"notes{n}"] = index
    hazard_at = {h: _pick(header, (f"災害種別_{label}", label)) for h, label in HAZARD_COLUMNS.items()}
    missing = [COLUMNS[key][0] for key in REQUIRED if at[key] is None]
    if missing:
        raise ImportFailed([Problem(1, "", "header_missing", {"columns": ", ".join(missing)})])
    counts: dict[int, tuple[str, datetime]] = {}
    for index, name in enumerate(header):
        match = _HEADCOUNT.match(fields.fold(name))
        if match:
            when = snapshot_time(match["when"], now=now, zone=zone)
            if when is None:
                parsed.problems.append(Problem(1, name, "count_time_bad", {"value": match["when"]}, WARNING))
            else:
                counts[index] = (name, when)
    used = (
        {i for i in at.values() if i is not None}
        | {i for i in hazard_at.values() if i is not None}
        | set(counts)
    )
    parsed.ignored_columns = [h for i, h in enumerate(header) if i not in used and h]
    seen: dict[str, int] = {}
    pending: list[tuple[Record, list[Snapshot]]] = []
    for record in stream:
        if record.fields is None:
            params = {"end": record.end} if record.problem == "quote_open" else {"detail": record.detail}
            parsed.problems.append(Problem(record.line, "", record.problem, params))
            parsed.rows += 1
            continue
        if not any(f.strip() for f in record.fields):
            continue
        parsed.rows += 1
        row = _Row(record.line, record.fields, header, parsed.problems)
        if len(record.fields) > len(header):
            row.bad("", "fields_extra", count=len(record.fields), expected=len(header))
            continue
        if len(record.fields) < len(header):
            row.bad("", "fields_missing", WARNING, count=len(record.fields), expected=len(header))
        shelter = _row(row, at, hazard_at)
        if shelter is None:
            continue
        if shelter.id in seen:
            row.bad(
                header[at["id"]] if at["id"] is not None else "ID",
                "id_repeat",
                value=shelter.id,
                first=seen[shelter.id],
            )
            continue
        seen[shelter.id] = record.line
        snapshots = []
        for index, (column, when) in counts.items():
            value = row.get(index)
            try:
                number = fields.count(value)
            except fields.Unreadable:
                row.bad(column, "count_bad", WARNING, value=value)
                continue
            if number is not None:
                snapshots.append(Snapshot(shelter.id, number, when, column, record.line))
        pending.append((shelter, snapshots))
    kept = geocheck.check([s for s, _ in pending], parsed.problems, extent=extent)
    for shelter, snapshots in pending:
        if shelter.id in kept:
            parsed.records.append(shelter)
            parsed.snapshots += snapshots
    parsed.problems.sort(key=lambda p: (p.line, p.severity != ERROR))
    if not parsed.rows:
        raise ImportFailed([Problem(0, "", "no_rows")])
    return parsed


def _feature(feature: object, number: int, problems: list[Problem]) -> Record | None:
    def bad(column: str, code: str, **params) -> None:
        problems.append(Problem(number, column, code, params))

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return bad("", "feature_bad")
    geometry = feature.get("geometry") or {}
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    properties = feature.get("properties") or {}
    if (
        not isinstance(geometry, dict)
        or geometry.get("type") != "Point"
        or not isinstance(coordinates, list)
        or len(coordinates) < 2
    ):
        return bad("geometry", "feature_bad")
    if not isinstance(properties, dict):
        return bad("properties", "field_bad", detail="must be an object")
    shelter_id = str(feature.get("id", properties.get("id")) or "")
    name = str(properties.get("name_ja") or "")
    if not _ID_PART.match(shelter_id) or len(shelter_id) > 64:
        bad("id", "id_bad", value=shelter_id)
    if not name:
        bad("name_ja", "name_empty")
    longitude, latitude = coordinates[0], coordinates[1]
    if not isinstance(latitude, int | float) or not -90 <= latitude <= 90:
        bad("geometry", "lat_range", value=latitude)
    if not isinstance(longitude, int | float) or not -180 <= longitude <= 180:
        bad("geometry", "lon_range", value=longitude)
    hazards = set()
    for value in properties.get("hazards") or []:
        if value in Hazard.__members__:
            hazards.add(Hazard(value))
        else:
            bad("hazards", "field_bad", detail=f"unknown hazard {value!r}")
    text = properties.get("capacity_text")
    capacity_value = properties.get("capacity")
    capacity = fields.capacity(
        str(text if text is not None else capacity_value if capacity_value is not None else "")
    )
    if any(p.line == number for p in problems):
        return None
    return Record(
        id=shelter_id,
        name_ja=name,
        name_en=str(properties.get("name_en") or name),
        address=str(properties.get("address") or ""),
        latitude=float(latitude),
        longitude=float(longitude),
        hazards=frozenset(hazards),
        capacity=capacity,
        designated_shelter=properties.get("designated_shelter"),
        temporary=bool(properties.get("temporary", False)),
        line=number,
    )


def parse_geojson(data: bytes, *, extent: geocheck.Extent | None = None) -> Parsed:
    """Every shelter of a GeoJSON FeatureCollection; problems are numbered by feature."""
    text, encoding, problems = decode(data)
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ImportFailed([Problem(0, "", "json_bad", {"detail": str(error)})]) from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise ImportFailed([Problem(0, "", "not_collection")])
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise ImportFailed([Problem(0, "", "no_rows")])
    parsed = Parsed(problems=problems, encoding=encoding, rows=len(features), unit="feature")
    seen: dict[str, int] = {}
    records = []
    for number, feature in enumerate(features, start=1):
        record = _feature(feature, number, parsed.problems)
        if record is None:
            continue
        if record.id in seen:
            parsed.problems.append(
                Problem(number, "id", "id_repeat", {"value": record.id, "first": seen[record.id]})
            )
            continue
        seen[record.id] = number
        records.append(record)
    kept = geocheck.check(records, parsed.problems, extent=extent)
    parsed.records = [r for r in records if r.id in kept]
    return parsed


def parse_file(
    name: str,
    data: bytes,
    *,
    now: datetime,
    extent: geocheck.Extent | None = None,
    zone: tzinfo = DEFAULT_ZONE,
) -> Parsed:
    """Pick the parser by file name: ``.geojson`` / ``.json`` or CSV."""
    if name.lower().endswith((".geojson", ".json")):
        return parse_geojson(data, extent=extent)
    return parse_csv(data, now=now, extent=extent, zone=zone)


def to_csv_rows(records: Iterable[Record], municipality_code: str) -> list[list[str]]:
    """Rows (header first) in the national layout, for samples and round-trip tests.
    Record ids must be ``<municipality_code>-<ID>``."""
    rows = [HEADER]
    for s in records:
        values = {
            "全国地方公共団体コード": municipality_code,
            "ID": s.id.removeprefix(f"{municipality_code}-"),
            "名称": s.name_ja,
            "名称_英字": s.name_en,
            "所在地_連結表記": s.address,
            "緯度": f"{s.latitude:.6f}",
            "経度": f"{s.longitude:.6f}",
            "想定収容人数": s.capacity.text,
            "指定避難所との重複": {True: "1", False: "", None: ""}[s.designated_shelter],
            **{f"災害種別_{label}": "1" if h in s.hazards else "" for h, label in HAZARD_COLUMNS.items()},
        }
        rows.append([values.get(column, "") for column in HEADER])
    return rows
