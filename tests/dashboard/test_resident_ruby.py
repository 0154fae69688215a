"""Furigana on やさしい日本語 pages: the pure rule, and the page."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.resident_ruby import load, ruby
from tests.notify.subscribers import IN_UPPER, flood

READINGS = {"京田川": "きょうでんがわ", "京田": "きょうでん", "上流": "じょうりゅう"}


def test_longest_word_first_and_everything_escaped():
    assert ruby("京田川上流<b>", READINGS) == (
        "<ruby>京田川<rt>きょうでんがわ</rt></ruby><ruby>上流<rt>じょうりゅう</rt></ruby>&lt;b&gt;"
    )
    assert ruby("京田小学校", READINGS) == "<ruby>京田<rt>きょうでん</rt></ruby>小学校"
    assert ruby("Haguro", READINGS) == "Haguro" and ruby("", READINGS) == ""


@given(st.text(alphabet="京田川上流小学校<>&\"' ab", max_size=30))
def test_the_text_read_without_the_readings_is_the_name(text):
    marked = str(ruby(text, READINGS))
    assert html.unescape(re.sub(r"<rt>.*?</rt>|</?ruby>", "", marked)) == text
    assert "<" not in re.sub(r"</?ruby>|</?rt>", "", marked)


def test_the_demo_readings_are_kana(tmp_path):
    assert load()["京田川"] == "きょうでんがわ"
    bad = tmp_path / "bad.yaml"
    bad.write_text("京田川: Kyoden\n", encoding="utf-8")
    with pytest.raises(ValueError, match="kana"):
        load(bad)


def test_easy_japanese_pages_show_readings(client, conn):
    flood(conn, level=4)  # no shelter open: the designated ones are listed by name
    easy = client.get("/r/", params={"lat": IN_UPPER[0], "lon": IN_UPPER[1], "lang": "ja-easy"}).text
    assert "<ruby>京田川<rt>きょうでんがわ</rt></ruby>" in easy
    assert "<ruby>羽黒<rt>はぐろ</rt></ruby><ruby>体育館<rt>たいいくかん</rt></ruby>" in easy
    plain = client.get("/r/", params={"lat": IN_UPPER[0], "lon": IN_UPPER[1], "lang": "ja"}).text
    assert "<ruby>" not in plain and "京田川" in plain
