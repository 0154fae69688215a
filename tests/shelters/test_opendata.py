from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kawamori.model import Hazard, Shelter
from shelters.errors import ImportFailed
from shelters.opendata import HEADER, decode, parse_csv, parse_file, parse_geojson, parse_row, to_csv_rows
from tests.shelters.conftest import SAMPLE_CSV, SAMPLE_GEOJSON


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def row(**changes: str) -> dict[str, str]:
    base = {column: "" for column in HEADER}
    base.update(
        {
            "全国地方公共団体コード": "062031",
            "ID": "0100",
            "名称": "テスト小学校",
            "名称_英字": "Test School",
            "所在地_連結表記": "山形県鶴岡市",
            "緯度": "38.77",
            "経度": "139.88",
            "想定収容人数": "300",
            "災害種別_洪水": "1",
        }
    )
    base.update(changes)
    return base


def test_the_samples_are_shift_jis_csv_and_geojson_with_the_same_shelters():
    raw = SAMPLE_CSV.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    from_csv = parse_file(SAMPLE_CSV.name, raw)
    from_geojson = parse_file(SAMPLE_GEOJSON.name, SAMPLE_GEOJSON.read_bytes())
    assert 15 <= len(from_csv) <= 25
    assert from_csv == from_geojson
    for shelter in from_csv:
        assert 38.70 < shelter.latitude < 38.86 and 139.82 < shelter.longitude < 139.99
        assert shelter.id.startswith("062031-")


def test_utf8_with_bom_and_shift_jis_read_the_same():
    text = SAMPLE_CSV.read_bytes().decode("cp932")
    assert parse_csv(("\ufeff" + text).encode("utf-8")) == parse_csv(text.encode("cp932"))
    assert parse_csv(text.encode("utf-8")) == parse_csv(text.encode("cp932"))


def test_a_good_row():
    shelter = parse_row(row(**{"災害種別_地震": "○", "想定収容人数": "1,200人"}), 2)
    assert isinstance(shelter, Shelter)
    assert shelter.id == "062031-0100"
    assert shelter.capacity == 1200
    assert shelter.hazards == {Hazard.flood, Hazard.earthquake}
    assert shelter.name_en == "Test School"


def test_english_name_falls_back_to_japanese():
    shelter = parse_row(row(**{"名称_英字": ""}), 2)
    assert isinstance(shelter, Shelter) and shelter.name_en == "テスト小学校"


@pytest.mark.parametrize(
    ("changes", "column", "words"),
    [
        ({"名称": ""}, "名称", "empty"),
        ({"緯度": "north"}, "緯度", "not a latitude"),
        ({"緯度": "91"}, "緯度", "not a latitude"),
        ({"経度": "nan"}, "経度", "not a longitude"),
        ({"緯度": "0", "経度": "0"}, "緯度", "0, 0"),
        ({"想定収容人数": ""}, "想定収容人数", "empty"),
        ({"想定収容人数": "-5"}, "想定収容人数", "not a whole number"),
        ({"想定収容人数": "many"}, "想定収容人数", "not a whole number"),
        ({"災害種別_津波": "maybe"}, "災害種別_津波", "not 1"),
        ({"ID": ""}, "ID", "empty"),
        ({"ID": "a b"}, "ID", "not a usable id"),
    ],
)
def test_bad_rows_say_where_and_why(changes, column, words):
    problems = parse_row(row(**changes), 7)
    assert isinstance(problems, list)
    assert any(p.line == 7 and p.column == column and words in p.message for p in problems)


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_returned():
    rows = [HEADER, list(row().values()), list(row(ID="2", 緯度="x").values())]
    rows.append(list(row(ID="3", 名称="改行を\n含む名前").values()))  # a quoted newline: lines 4–5
    rows.append(list(row(ID="4", 想定収容人数="-1").values()))  # line 6
    rows.append(list(row(ID="0100").values()))  # line 7: repeats line 2
    with pytest.raises(ImportFailed) as failure:
        parse_csv(csv_bytes(rows))
    lines = [(p.line, p.column) for p in failure.value.problems]
    assert lines == [(3, "緯度"), (6, "想定収容人数"), (7, "ID")]
    assert "line 3: 緯度" in str(failure.value) and "nothing was imported" in str(failure.value)


def test_missing_columns_and_non_csv_input():
    with pytest.raises(ImportFailed, match="missing column"):
        parse_csv(csv_bytes([["名称", "住所"], ["a", "b"]]))
    with pytest.raises(ImportFailed, match="neither UTF-8 nor Shift_JIS"):
        parse_csv(b"\xff\xfe\x00\x81\x00")
    with pytest.raises(ImportFailed, match="no shelters"):
        parse_csv(csv_bytes([HEADER]))
    with pytest.raises(ImportFailed, match="more fields"):
        parse_csv(csv_bytes([HEADER, [*row().values(), "extra"]]))


def test_older_layout_with_no_and_address_columns():
    header = ["NO", "名称", "住所", "緯度", "経度", "想定収容人数", "洪水", "地震"]
    shelters = parse_csv(csv_bytes([header, ["12", "旧公民館", "鶴岡市", "38.7", "139.8", "80", "1", ""]]))
    assert shelters[0].id == "12" and shelters[0].address == "鶴岡市"
    assert shelters[0].hazards == {Hazard.flood}


def test_geojson_problems_are_numbered_by_feature():
    document = json.loads(SAMPLE_GEOJSON.read_text(encoding="utf-8"))
    document["features"][2]["properties"]["capacity"] = -3
    document["features"][4]["geometry"] = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    document["features"][5]["id"] = document["features"][0]["id"]
    with pytest.raises(ImportFailed) as failure:
        parse_geojson(json.dumps(document).encode())
    assert [(p.line, p.column) for p in failure.value.problems] == [
        (3, "capacity"),
        (5, "geometry"),
        (6, "ID"),
    ]
    with pytest.raises(ImportFailed, match="not valid JSON"):
        parse_geojson(b"{")
    with pytest.raises(ImportFailed, match="FeatureCollection"):
        parse_geojson(b"[]")


JAPANESE = st.text(
    alphabet="避難所小学校公民館体育館センター鶴岡羽黒藤島京田ー一二三", min_size=1, max_size=12
)
shelters = st.builds(
    Shelter,
    id=st.from_regex(r"\A[0-9]{4}\Z").map(lambda local: f"062031-{local}"),
    name_ja=JAPANESE,
    name_en=st.from_regex(r"\A[A-Z][a-z]{2,10}( Hall)?\Z"),
    address=JAPANESE,
    latitude=st.floats(24, 46).map(lambda v: round(v, 6)),
    longitude=st.floats(122, 154).map(lambda v: round(v, 6)),
    capacity=st.integers(0, 50_000),
    hazards=st.frozensets(st.sampled_from(list(Hazard))),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(shelters, min_size=1, max_size=8, unique_by=lambda s: s.id),
    st.sampled_from(["utf-8", "utf-8-sig", "cp932"]),
)
def test_csv_round_trip_in_every_supported_encoding(items, encoding):
    data = csv_bytes(to_csv_rows(items, "062031"), encoding)
    assert parse_csv(data) == items


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_fail_cleanly(data):
    try:
        parse_csv(data)
    except ImportFailed as failure:
        assert failure.problems


def test_decode_prefers_utf8():
    assert decode("避難所".encode()) == "避難所"
    assert decode("避難所".encode("cp932")) == "避難所"
