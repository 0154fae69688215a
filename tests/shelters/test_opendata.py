"""Municipal shelter files as they are published: the national layout in UTF-8 and
Shift_JIS, every bad row reported on its own line, the good rows read."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kawamori.model import Hazard
from shelters import fields
from shelters.errors import ImportFailed
from shelters.geocheck import Extent
from shelters.opendata import (
    HEADER,
    Record,
    decode,
    parse_csv,
    parse_file,
    parse_geojson,
    snapshot_time,
    to_csv_rows,
)
from tests.shelters.conftest import NOW, OPENED_SJIS, OPENED_UTF8, SAMPLE_CSV, SAMPLE_GEOJSON


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def row(**changes: str) -> list[str]:
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
    return list(base.values())


def near(n: int) -> list[list[str]]:
    """n good rows around Tsuruoka, so that a row far away stands out."""
    return [
        row(ID=f"9{i:03d}", 緯度=f"{38.70 + i * 0.01:.4f}", 経度=f"{139.80 + i * 0.01:.4f}") for i in range(n)
    ]


def parse(rows: list[list[str]], **kwargs):
    return parse_csv(csv_bytes([HEADER, *rows]), now=NOW, **kwargs)


def codes(parsed) -> list[tuple[int, str, str]]:
    return [(p.line, p.code, p.severity) for p in parsed.problems]


def test_the_opened_shelters_file_in_both_encodings():
    utf8 = parse_file(OPENED_UTF8.name, OPENED_UTF8.read_bytes(), now=NOW)
    sjis = parse_file(OPENED_SJIS.name, OPENED_SJIS.read_bytes(), now=NOW)
    assert (utf8.encoding, sjis.encoding) == ("UTF-8", "Shift_JIS")
    assert utf8.records == sjis.records and utf8.snapshots == sjis.snapshots
    assert (utf8.rows, len(utf8.records), len(utf8.snapshots)) == (29, 23, 19)
    assert Counter(p.code for p in utf8.errors) == {
        "name_mojibake": 1,
        "coord_swapped": 1,
        "coord_comma": 1,
        "coord_far": 1,
        "quote_open": 1,
        "id_repeat": 1,
    }
    assert Counter(p.code for p in utf8.warnings) == {
        "capacity_empty": 2,
        "capacity_unreadable": 1,
        "flag_unknown": 1,
    }
    # each error on the line it belongs to, even after a field that spans two lines
    assert {p.code: p.line for p in utf8.errors} == {
        "name_mojibake": 15,
        "coord_swapped": 17,
        "coord_comma": 18,
        "coord_far": 20,
        "quote_open": 22,
        "id_repeat": 23,
    }
    by_id = {r.id: r for r in utf8.records}
    kyoden = by_id["062031-0001"]
    assert kyoden.capacity.text == "屋内480人／屋外3,350人(面積の1/2)"
    assert (kyoden.capacity.indoor, kyoden.capacity.outdoor) == (480, 3350)
    assert kyoden.crowding_capacity == (480, "indoor")  # a 指定避難所: indoor only
    assert kyoden.hazards == {
        Hazard.flood,
        Hazard.earthquake,
        Hazard.tsunami,
        Hazard.fire,
        Hazard.inland_flood,
    }
    assert by_id["062031-0005"].crowding_capacity == (2500, "site")  # a park, evacuation site only
    assert by_id["062031-0005"].capacity.area_m2 == 5000
    assert by_id["062031-0007"].crowding_capacity == (None, "unknown")
    assert by_id["062031-0011"].temporary and by_id["062031-0011"].hazards == frozenset()
    assert (by_id["062031-0018"].latitude, by_id["062031-0018"].longitude) == (38.61, 139.602)  # full width
    assert "062031-0124" in by_id  # ID ０１２４
    assert by_id["062031-0026"].name_ja == "三川町民体育館"  # after the quoted line break
    assert Hazard.tsunami not in by_id["062031-0020"].hazards  # 要確認: not designated
    at = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    counts = {s.shelter_id: (s.count, s.at) for s in utf8.snapshots}
    assert counts["062031-0001"] == (576, at) and counts["062031-0004"][0] == 15
    assert counts["062031-0006"][0] == 1024 and "062031-0013" not in counts  # "-": no count
    assert utf8.ignored_columns == [
        "地方公共団体名",
        "名称_カナ",
        "標高",
        "電話番号",
        "対象となる町会・自治会",
        "URL",
    ]


@pytest.mark.parametrize(
    "spelling", ["1", "1.0", "1.00", "○", "◯", "〇", "●", "TRUE", "true", "有", "あり", "１"]
)
def test_flag_spellings_as_exported_mean_designated(spelling):
    parsed = parse([row(災害種別_地震=spelling)])
    assert parsed.records[0].hazards == {Hazard.flood, Hazard.earthquake} and not parsed.problems


@pytest.mark.parametrize("spelling", ["", "0", "0.0", "×", "-", "無", "なし", "FALSE"])
def test_flag_spellings_for_not_designated(spelling):
    assert parse([row(災害種別_地震=spelling)]).records[0].hazards == {Hazard.flood}


def test_one_bad_row_never_blocks_the_others():
    rows = [row(ID="1"), row(ID="2", 緯度="north"), row(ID="3", 名称=""), row(ID="4", 想定収容人数="")]
    parsed = parse(rows)
    assert [r.id for r in parsed.records] == ["062031-1", "062031-4"]
    assert codes(parsed) == [
        (3, "coord_bad", "error"),
        (4, "name_empty", "error"),
        (5, "capacity_empty", "warning"),
    ]
    assert parsed.records[1].crowding_capacity == (None, "unknown")
    assert (
        str(parsed.problems[0])
        == "line 3: 緯度: 緯度 'north' is not a coordinate (decimal degrees such as 38.764)"
    )
    assert (
        parsed.problems[0].render("ja")
        == "3行目: 緯度: 緯度 'north' は座標ではありません（38.764 のような十進の度）"
    )


def test_undesignated_rows_become_temporary_shelters():
    parsed = parse([*near(4), row(ID="5", 災害種別_洪水="")])
    temporary = parsed.records[-1]
    assert temporary.temporary and codes(parsed) == [(6, "undesignated", "warning")]
    marked = parse([*near(4), row(ID="6", 災害種別_洪水="", 備考="臨時開設")])
    assert marked.records[-1].temporary and not marked.problems


def test_swapped_far_and_outside_coordinates():
    parsed = parse(
        [*near(5), row(ID="s", 緯度="139.88", 経度="38.77"), row(ID="f", 緯度="35.68", 経度="139.76")]
    )
    assert codes(parsed)[-2:] == [(7, "coord_swapped", "error"), (8, "coord_far", "error")]
    assert "km from the other shelters" in parsed.problems[-1].message()
    # against the municipality's extent
    tsuruoka = Extent(139.5, 38.5, 140.1, 38.9)
    inside_range = parse(
        [row(ID="a", 緯度="38.77", 経度="139.88"), row(ID="b", 緯度="40", 経度="38.7")], extent=tsuruoka
    )
    assert [p.code for p in inside_range.errors] == ["coord_outside"]
    swapped = parse([row(緯度="139.88", 経度="38.77")], extent=tsuruoka)  # no other rows needed
    assert [p.code for p in swapped.errors] == ["coord_swapped"]


def test_full_width_punctuation_is_read_as_what_it_is():
    parsed = parse(
        [*near(3), row(ID="１２", 緯度="３８．７７", 経度="１３９．８８", 想定収容人数="１，２００人")]
    )
    record = parsed.records[-1]
    assert (record.id, record.latitude, record.longitude) == ("062031-12", 38.77, 139.88)
    assert record.crowding_capacity == (1200, "stated")
    comma = parse([*near(3), row(ID="c", 緯度="38，77")])  # a comma is not a decimal point
    assert [p.code for p in comma.errors] == ["coord_comma"]


def test_mojibake_is_rejected_and_damaged_files_are_read_row_by_row():
    garbled = "鶴岡市立京田小学校".encode().decode("cp932", errors="replace")
    parsed = parse([*near(3), row(ID="m", 名称=garbled), row(ID="e", 名称_英字="Ã©cole")])
    assert [(p.code, p.severity) for p in parsed.problems] == [
        ("name_mojibake", "error"),
        ("name_en_mojibake", "warning"),
    ]
    damaged = csv_bytes([HEADER, row(ID="1"), row(ID="2")]).replace("テスト".encode(), b"\xff\xfe\xfd", 1)
    mixed = parse_csv(damaged, now=NOW)
    assert [p.code for p in mixed.problems] == ["file_damaged", "name_mojibake"]
    assert [r.id for r in mixed.records] == ["062031-2"]


def test_quotes_across_lines_and_the_line_an_open_quote_is_on():
    text = "\r\n".join(
        [
            ",".join(HEADER),
            ",".join(row(ID="1")),
            ",".join(row(ID="2", 備考='"二階以上\r\n体育館"')),  # lines 3-4
            ",".join(row(ID="3", 備考='"閉じ忘れ')),  # line 5
            ",".join(row(ID="4")),  # line 6
        ]
    )
    parsed = parse_csv(text.encode("cp932"), now=NOW)
    assert [r.id for r in parsed.records] == ["062031-1", "062031-2", "062031-4"]
    assert codes(parsed) == [(5, "quote_open", "error")]
    assert [r.line for r in parsed.records] == [2, 3, 6]


def test_head_count_columns_with_their_time():
    header = [*HEADER, "人数_1月9日18時時点", "避難者数（2024/1/10 6:00時点）"]
    data = csv_bytes(
        [header, [*row(ID="1"), "120", "95"], [*row(ID="2"), "", "1,024人"], [*row(ID="3"), "many", ""]]
    )
    parsed = parse_csv(data, now=datetime(2024, 1, 20, tzinfo=UTC))
    assert [(s.shelter_id, s.count, s.at.isoformat()) for s in parsed.snapshots] == [
        ("062031-1", 120, "2024-01-09T18:00:00+09:00"),
        ("062031-1", 95, "2024-01-10T06:00:00+09:00"),
        ("062031-2", 1024, "2024-01-10T06:00:00+09:00"),
    ]
    assert codes(parsed) == [(4, "count_bad", "warning")]
    assert parsed.ignored_columns == [
        "地方公共団体名",
        "名称_カナ",
        "標高",
        "電話番号",
        "対象となる町会・自治会",
        "URL",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1月9日18時", "2024-01-09T18:00:00+09:00"),
        ("2023年12月31日23時30分", "2023-12-31T23:30:00+09:00"),
        ("令和6年1月1日21時00分", "2024-01-01T21:00:00+09:00"),
        ("2024/1/10 6:00", "2024-01-10T06:00:00+09:00"),
        ("12月30日(土)9時", "2023-12-30T09:00:00+09:00"),  # no year: the latest not in the future
    ],
)
def test_snapshot_times(text, expected):
    assert snapshot_time(text, now=datetime(2024, 1, 20, tzinfo=UTC)).isoformat() == expected


def test_missing_columns_and_non_csv_input():
    with pytest.raises(ImportFailed, match="missing column"):
        parse_csv(csv_bytes([["名称", "住所"], ["a", "b"]]), now=NOW)
    with pytest.raises(ImportFailed, match="neither UTF-8 nor Shift_JIS"):
        parse_csv(bytes(range(128, 256)) * 4, now=NOW)
    with pytest.raises(ImportFailed, match="no shelters"):
        parse_csv(csv_bytes([HEADER]), now=NOW)
    extra = parse([[*row(), "extra"]])
    assert codes(extra) == [(2, "fields_extra", "error")]


def test_older_layout_with_no_and_address_columns():
    header = ["NO", "名称", "住所", "緯度", "経度", "想定収容人数", "洪水", "地震"]
    parsed = parse_csv(
        csv_bytes([header, ["12", "旧公民館", "鶴岡市", "38.7", "139.8", "80", "1", ""]]), now=NOW
    )
    assert parsed.records[0].id == "12" and parsed.records[0].address == "鶴岡市"
    assert parsed.records[0].hazards == {Hazard.flood}


def test_the_samples_are_shift_jis_csv_and_geojson_with_the_same_shelters():
    raw = SAMPLE_CSV.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    from_csv = parse_file(SAMPLE_CSV.name, raw, now=NOW)
    from_geojson = parse_file(SAMPLE_GEOJSON.name, SAMPLE_GEOJSON.read_bytes(), now=NOW)
    assert len(from_csv.records) == 20 and not from_csv.problems
    assert [r.id for r in from_csv.records] == [r.id for r in from_geojson.records]
    assert [r.crowding_capacity for r in from_csv.records] == [
        r.crowding_capacity for r in from_geojson.records
    ]


def test_geojson_problems_are_numbered_by_feature():
    document = json.loads(SAMPLE_GEOJSON.read_text(encoding="utf-8"))
    document["features"][4]["geometry"] = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    document["features"][5]["id"] = document["features"][0]["id"]
    parsed = parse_geojson(json.dumps(document).encode())
    assert [(p.line, p.code) for p in parsed.problems] == [(5, "feature_bad"), (6, "id_repeat")]
    assert len(parsed.records) == 18 and parsed.unit == "feature"
    with pytest.raises(ImportFailed, match="not valid JSON"):
        parse_geojson(b"{")
    with pytest.raises(ImportFailed, match="FeatureCollection"):
        parse_geojson(b"[]")


JAPANESE = st.text(
    alphabet="避難所小学校公民館体育館センター鶴岡羽黒藤島京田ー一二三", min_size=1, max_size=12
)
records = st.builds(
    Record,
    id=st.from_regex(r"\A[0-9]{4}\Z").map(lambda local: f"062031-{local}"),
    name_ja=JAPANESE,
    name_en=st.from_regex(r"\A[A-Z][a-z]{2,10}( Hall)?\Z"),
    address=JAPANESE,
    latitude=st.floats(38.6, 38.9).map(lambda v: round(v, 6)),
    longitude=st.floats(139.7, 140.0).map(lambda v: round(v, 6)),
    hazards=st.frozensets(st.sampled_from(list(Hazard)), min_size=1),
    capacity=st.integers(0, 50_000).map(lambda n: fields.capacity(str(n))),
    designated_shelter=st.sampled_from([True, False]),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(records, min_size=1, max_size=8, unique_by=lambda s: s.id),
    st.sampled_from(["utf-8", "utf-8-sig", "cp932"]),
)
def test_csv_round_trip_in_every_supported_encoding(items, encoding):
    parsed = parse_csv(csv_bytes(to_csv_rows(items, "062031"), encoding), now=NOW)
    assert not parsed.problems
    strip = [
        (r.id, r.name_ja, r.name_en, r.latitude, r.longitude, r.hazards, r.capacity, r.designated_shelter)
        for r in items
    ]
    assert [
        (r.id, r.name_ja, r.name_en, r.latitude, r.longitude, r.hazards, r.capacity, r.designated_shelter)
        for r in parsed.records
    ] == strip


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_fail_cleanly(data):
    try:
        parsed = parse_csv(data, now=NOW)
    except ImportFailed as failure:
        assert failure.problems
    else:
        assert parsed.rows >= len(parsed.records)


def test_decode_prefers_utf8():
    assert decode("避難所".encode())[:2] == ("避難所", "UTF-8")
    assert decode("避難所".encode("cp932"))[:2] == ("避難所", "Shift_JIS")


def test_a_title_line_above_the_header_is_skipped_and_lines_still_count_from_the_top():
    data = csv_bytes(
        [["指定緊急避難場所一覧（令和6年4月1日現在）"], [], HEADER, row(ID="1"), row(ID="2", 緯度="x")]
    )
    parsed = parse_csv(data, now=NOW)
    assert [r.id for r in parsed.records] == ["062031-1"] and parsed.records[0].line == 4
    assert codes(parsed) == [(5, "coord_bad", "error")]
