"""The cell parsers, with tables of what municipalities write and with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelters import fields

FULL_WIDTH = str.maketrans("0123456789,.", "０１２３４５６７８９，．")


def with_commas(n: int) -> str:
    return f"{n:,}"


def spelled(n: int, style: str) -> str:
    """A number as a municipality may write it."""
    text = {"plain": str(n), "commas": with_commas(n), "float": f"{n}.0"}[style.removesuffix("-fw")]
    return text.translate(FULL_WIDTH) if style.endswith("-fw") else text


STYLES = st.sampled_from(["plain", "commas", "float", "plain-fw", "commas-fw"])
PEOPLE = st.integers(0, 200_000)


@pytest.mark.parametrize(
    ("text", "indoor", "outdoor", "total", "area"),
    [
        ("屋内480人／屋外3,350人(面積の1/2)", 480, 3350, None, None),
        ("屋内：300人、屋外：2,000人", 300, 2000, None, None),
        ("屋内200人/屋外1,500人", 200, 1500, None, None),
        ("体育館 300人", 300, None, None, None),
        ("校庭 1,000人", None, 1000, None, None),
        ("屋外5,000㎡(2,500人)", None, 2500, None, 5000.0),
        ("5,000m2", None, None, None, 5000.0),
        ("1.2ha", None, None, None, 12000.0),
        ("合計800人(屋内300人/屋外500人)", 300, 500, None, None),
        ("1,200", None, None, 1200, None),
        ("１，２００人", None, None, 1200, None),
        ("1200.0", None, None, 1200, None),
        ("約500人", None, None, 500, None),
        ("480人程度", None, None, 480, None),
        ("1.2万人", None, None, 12000, None),
        ("500名", None, None, 500, None),
    ],
)
def test_capacity_texts(text, indoor, outdoor, total, area):
    capacity = fields.capacity(text)
    assert capacity.readable and capacity.text == text
    assert (capacity.indoor, capacity.outdoor, capacity.total, capacity.area_m2) == (
        indoor,
        outdoor,
        total,
        area,
    )


@pytest.mark.parametrize("text", ["", "-", "不明", "未定", "　"])
def test_unknown_capacity_is_readable_and_empty(text):
    capacity = fields.capacity(text)
    assert capacity.readable and capacity.empty
    assert capacity.for_crowding(designated_shelter=True) == (None, "unknown")


@pytest.mark.parametrize("text", ["校庭", "300人 400人", "abc", "調整中につき後日", "1.5人"])
def test_unreadable_capacity_keeps_its_text(text):
    capacity = fields.capacity(text)
    assert not capacity.readable and capacity.text == text and capacity.empty


def test_which_capacity_crowding_uses():
    school = fields.capacity("屋内480人／屋外3,350人")
    assert school.for_crowding(designated_shelter=True) == (480, "indoor")  # people stay indoors
    assert school.for_crowding(designated_shelter=None) == (480, "indoor")
    assert school.for_crowding(designated_shelter=False) == (3830, "site")  # evacuation site only
    park = fields.capacity("屋外2,000人")
    assert park.for_crowding(designated_shelter=False) == (2000, "site")
    assert park.for_crowding(designated_shelter=True) == (None, "unknown")  # never outdoor for a 避難所
    plain = fields.capacity("1,200")
    assert plain.for_crowding(designated_shelter=True) == (1200, "stated")
    # the school: 576 people are 120 % of indoor, 15 % of indoor + outdoor
    assert 576 / school.for_crowding(designated_shelter=True)[0] == 1.2


@given(PEOPLE, PEOPLE, STYLES, STYLES, st.sampled_from(["／", "/", "、", " ", "・"]))
def test_indoor_and_outdoor_in_any_spelling(indoor, outdoor, style_in, style_out, separator):
    text = f"屋内{spelled(indoor, style_in)}人{separator}屋外{spelled(outdoor, style_out)}人"
    capacity = fields.capacity(text)
    assert (capacity.indoor, capacity.outdoor, capacity.total) == (indoor, outdoor, None)


@given(
    PEOPLE,
    STYLES,
    st.sampled_from(["", "人", "名", " 人"]),
    st.sampled_from(["", "(面積の1/2)", "（2階以上）"]),
)
def test_a_single_number_in_any_spelling(n, style, unit, note):
    capacity = fields.capacity(f"{spelled(n, style)}{unit}{note}")
    assert capacity.readable and capacity.total == n and capacity.indoor is None


@given(st.text(max_size=40))
def test_capacity_never_raises_and_keeps_the_text(text):
    capacity = fields.capacity(text)
    assert capacity.text == text.strip()
    for value in (capacity.indoor, capacity.outdoor, capacity.total):
        assert value is None or value >= 0


@given(
    st.sampled_from(
        ["1", "1.0", "1.00", "○", "◯", "〇", "●", "◎", "TRUE", "True", "true", "有", "あり", "１", " 1 "]
    )
)
def test_yes_flags(value):
    assert fields.flag(value) is True


@given(st.sampled_from(["", "0", "0.0", "×", "-", "－", "無", "なし", "FALSE", "false", "０", "　"]))
def test_no_flags(value):
    assert fields.flag(value) is False


@given(st.text(max_size=8))
def test_flags_are_yes_no_or_not_understood(value):
    assert fields.flag(value) in (True, False, None)


@given(st.floats(-90, 90, allow_nan=False).map(lambda v: round(v, 6)), st.booleans())
def test_coordinates_in_any_width(value, full_width):
    text = f"{value}".translate(FULL_WIDTH) if full_width else f"{value}"
    assert fields.coordinate(text) == value


@given(st.integers(0, 89), st.integers(0, 59), st.integers(0, 59))
def test_degrees_minutes_seconds(d, m, s):
    assert fields.coordinate(f"{d}°{m}′{s}″") == pytest.approx(d + m / 60 + s / 3600)
    assert fields.coordinate(f"{d}度{m}分{s}秒") == pytest.approx(d + m / 60 + s / 3600)


@pytest.mark.parametrize(
    ("text", "code"), [("38,764", "comma"), ("38，764", "comma"), ("north", "not_a_number"), ("", "empty")]
)
def test_coordinates_not_guessed(text, code):
    with pytest.raises(fields.Unreadable) as error:
        fields.coordinate(text)
    assert error.value.code == code


@given(PEOPLE, STYLES, st.sampled_from(["", "人", "名"]))
def test_counts(n, style, unit):
    if style == "float" or style.startswith("float"):
        return
    assert fields.count(f"{spelled(n, style)}{unit}") == n


def test_mojibake():
    real = [
        "鶴岡市立京田小学校",
        "羽黒体育館",
        "Kyoden Elementary School",
        "ｶﾀｶﾅ会館",
        "第三学区コミュニティセンター",
    ]
    assert not any(fields.looks_mojibake(name) for name in real)
    for name in real[:2]:
        assert fields.looks_mojibake(name.encode().decode("cp932", errors="replace"))  # UTF-8 read as SJIS
        assert fields.looks_mojibake(name.encode().decode("latin-1"))  # UTF-8 read as Latin-1
        assert fields.looks_mojibake(name.encode("cp932").decode("utf-8", errors="replace"))  # SJIS as UTF-8
