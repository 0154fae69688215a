"""Shelter registry files: the national open-data CSV and GeoJSON, parsed and
validated row by row. Pure: bytes in, shelters or a list of problems out.

CSV: the 自治体標準オープンデータセット 「指定緊急避難場所一覧」 layout (デジタル庁 /
内閣官房; the columns municipalities publish), UTF-8 (with or without BOM) or
Shift_JIS. Columns used (others are ignored):

========================================  =====================================
column                                    use
========================================  =====================================
全国地方公共団体コード                    id prefix (optional)
ID (or NO)                                id: ``<団体コード>-<ID>``
名称                                      Japanese name (required)
名称_英字                                 English name (optional; else 名称)
所在地_連結表記 (or 住所)                 address
緯度, 経度                                latitude, longitude (required)
想定収容人数                              capacity (required; "1,200" and "1200人" accepted)
災害種別_洪水 … 災害種別_火山現象         safe for that hazard when 1 / ○ / ◯
========================================  =====================================

GeoJSON: a FeatureCollection of Point features (RFC 7946, [longitude, latitude])
whose ``id`` (or ``properties.id``) names the shelter and whose properties hold
``name_ja``, ``name_en``, ``address``, ``capacity`` and ``hazards`` (a list of
hazard names) — the shape ``/api/shelters.geojson`` serves, so an export can be
imported again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from kawamori.model import Hazard, Shelter
from shelters.errors import ImportFailed, Problem

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
    "備考",
]
_YES = {"1", "○", "◯", "〇", "有", "可", "true", "yes"}
_NO = {"", "0", "×", "✕", "-", "－", "無", "false", "no"}
_ID_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CAPACITY = re.compile(r"^([0-9０-９][0-9０-９,，]*)\s*人?$")


def decode(data: bytes) -> str:
    """UTF-8 (BOM optional) or Shift_JIS (Windows code page 932) text."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise ImportFailed([Problem(0, "", "the file is neither UTF-8 nor Shift_JIS text")]) from None


def _column(row: dict[str, str], *names: str) -> tuple[str, str]:
    """The first present column among ``names`` and its stripped value."""
    for name in names:
        if name in row and row[name] is not None:
            return name, row[name].strip()
    return names[0], ""


def _flag(value: str) -> bool | None:
    folded = value.strip().lower()
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


def _coordinate(value: str, low: float, high: float) -> float | None:
    try:
        number = float(value.replace("，", ".").strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def parse_row(row: dict[str, str], line: int) -> Shelter | list[Problem]:
    """One CSV row (a ``csv.DictReader`` dict) → a shelter, or every problem it has."""
    problems: list[Problem] = []

    def bad(column: str, message: str) -> None:
        problems.append(Problem(line, column, message))

    _, code = _column(row, "全国地方公共団体コード")
    id_column, local_id = _column(row, "ID", "NO")
    shelter_id = f"{code}-{local_id}" if code and local_id else local_id
    if not local_id:
        bad(id_column, "is empty")
    elif not _ID_PART.match(shelter_id) or len(shelter_id) > 64:
        bad(id_column, f"{shelter_id!r} is not a usable id (letters, digits, - _ . ; at most 64)")
    _, name_ja = _column(row, "名称", "施設・場所名")
    if not name_ja:
        bad("名称", "is empty")
    _, name_en = _column(row, "名称_英字")
    _, address = _column(row, "所在地_連結表記", "住所")
    lat_text = _column(row, "緯度")[1]
    lon_text = _column(row, "経度")[1]
    latitude = _coordinate(lat_text, -90, 90)
    longitude = _coordinate(lon_text, -180, 180)
    if latitude is None:
        bad("緯度", f"{lat_text!r} is not a latitude (decimal degrees, -90 … 90)")
    if longitude is None:
        bad("経度", f"{lon_text!r} is not a longitude (decimal degrees, -180 … 180)")
    if latitude == 0 and longitude == 0:
        bad("緯度", "0, 0 is not a real location")
    _, capacity_text = _column(row, "想定収容人数")
    capacity = None
    match = _CAPACITY.match(capacity_text)
    if not capacity_text:
        bad("想定収容人数", "is empty: a capacity is needed to judge crowding")
    elif match is None:
        bad("想定収容人数", f"{capacity_text!r} is not a whole number of people")
    else:
        digits = match[1].translate(str.maketrans("０１２３４５６７８９", "0123456789", ",，"))
        capacity = int(digits)
    hazards = set()
    for hazard, label in HAZARD_COLUMNS.items():
        column, value = _column(row, f"災害種別_{label}", label)
        flag = _flag(value)
        if flag is None:
            bad(column, f"{value!r} is not 1 (safe) or empty (not safe)")
        elif flag:
            hazards.add(hazard)
    if problems:
        return problems
    assert latitude is not None and longitude is not None and capacity is not None
    return Shelter(
        id=shelter_id,
        name_ja=name_ja,
        name_en=name_en or name_ja,
        address=address,
        latitude=latitude,
        longitude=longitude,
        capacity=capacity,
        hazards=frozenset(hazards),
    )


def _unique(shelters: list[Shelter], places: list[int], noun: str) -> list[Problem]:
    first: dict[str, int] = {}
    problems = []
    for shelter, place in zip(shelters, places, strict=True):
        if shelter.id in first:
            problems.append(Problem(place, "ID", f"{shelter.id} repeats {noun} {first[shelter.id]}"))
        else:
            first[shelter.id] = place
    return problems


def parse_csv(data: bytes) -> list[Shelter]:
    """Every shelter in a national-format CSV, or :class:`ImportFailed` listing every
    problem (with its line number) when any row is bad."""
    text = decode(data)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        header = reader.fieldnames or []
        missing = [c for c in ("名称", "緯度", "経度", "想定収容人数") if c not in header]
        if not ({"ID", "NO"} & set(header)):
            missing.insert(0, "ID")
        if missing:
            raise ImportFailed([Problem(1, "", f"missing column(s): {', '.join(missing)}")])
        shelters: list[Shelter] = []
        lines: list[int] = []
        problems: list[Problem] = []
        for row in reader:
            line = reader.line_num
            if None in row:
                problems.append(Problem(line, "", "more fields than the header has"))
                continue
            if not any((v or "").strip() for v in row.values()):
                continue
            result = parse_row(row, line)
            if isinstance(result, list):
                problems += result
            else:
                shelters.append(result)
                lines.append(line)
    except csv.Error as error:
        raise ImportFailed([Problem(reader.line_num, "", f"not valid CSV: {error}")]) from None
    problems += _unique(shelters, lines, "line")
    if problems:
        raise ImportFailed(sorted(problems, key=lambda p: p.line))
    if not shelters:
        raise ImportFailed([Problem(0, "", "the file holds no shelters")])
    return shelters


def _feature(feature: Any, number: int) -> Shelter | list[Problem]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return [Problem(number, "", "is not a GeoJSON Feature")]
    geometry = feature.get("geometry") or {}
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (
        not isinstance(geometry, dict)
        or geometry.get("type") != "Point"
        or not isinstance(coordinates, list)
        or len(coordinates) < 2
    ):
        return [Problem(number, "geometry", "must be a Point [longitude, latitude]")]
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        return [Problem(number, "properties", "must be an object")]
    fields = {
        "id": feature.get("id", properties.get("id")),
        "name_ja": properties.get("name_ja"),
        "name_en": properties.get("name_en") or properties.get("name_ja"),
        "address": properties.get("address") or "",
        "longitude": coordinates[0],
        "latitude": coordinates[1],
        "capacity": properties.get("capacity"),
        "hazards": properties.get("hazards") or [],
    }
    try:
        return Shelter.model_validate(fields)
    except ValidationError as error:
        return [
            Problem(number, ".".join(str(p) for p in e["loc"]) or "", e["msg"])
            for e in error.errors(include_url=False)
        ]


def parse_geojson(data: bytes) -> list[Shelter]:
    """Every shelter in a GeoJSON FeatureCollection; problems are numbered by feature (1-based)."""
    try:
        document = json.loads(decode(data))
    except ValueError as error:
        raise ImportFailed([Problem(0, "", f"not valid JSON: {error}")]) from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise ImportFailed([Problem(0, "", "the file is not a GeoJSON FeatureCollection")])
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise ImportFailed([Problem(0, "", "the FeatureCollection holds no features")])
    shelters, numbers, problems = [], [], []
    for number, feature in enumerate(features, start=1):
        result = _feature(feature, number)
        if isinstance(result, list):
            problems += result
        else:
            shelters.append(result)
            numbers.append(number)
    problems += _unique(shelters, numbers, "feature")
    if problems:
        raise ImportFailed(problems)
    return shelters


def parse_file(name: str, data: bytes) -> list[Shelter]:
    """Pick the parser by file name: ``.geojson`` / ``.json`` or CSV."""
    if name.lower().endswith((".geojson", ".json")):
        return parse_geojson(data)
    return parse_csv(data)


def to_csv_rows(shelters: Iterable[Shelter], municipality_code: str) -> list[list[str]]:
    """Rows (header first) in the national layout, for samples and round-trip tests.
    Shelter ids must be ``<municipality_code>-<ID>``."""
    rows = [HEADER]
    for s in shelters:
        local = s.id.removeprefix(f"{municipality_code}-")
        values = {
            "全国地方公共団体コード": municipality_code,
            "ID": local,
            "名称": s.name_ja,
            "名称_英字": s.name_en,
            "所在地_連結表記": s.address,
            "緯度": f"{s.latitude:.6f}",
            "経度": f"{s.longitude:.6f}",
            "想定収容人数": str(s.capacity),
            **{f"災害種別_{label}": "1" if h in s.hazards else "" for h, label in HAZARD_COLUMNS.items()},
        }
        rows.append([values.get(column, "") for column in HEADER])
    return rows
