"""The import report is plain lines in the reader's language."""

from __future__ import annotations

from shelters.opendata import parse_file
from shelters.registry import Plan
from shelters.report import MAX_NAMED, changes, summary
from tests.shelters.conftest import NOW, OPENED_UTF8


def test_the_summary_in_english_and_in_easy_japanese():
    parsed = parse_file(OPENED_UTF8.name, OPENED_UTF8.read_bytes(), now=NOW)
    en = summary(parsed, OPENED_UTF8.name, "en")
    assert en[:4] == [
        "tsuruoka-opened-2024-01-01-utf8.csv: 29 rows (UTF-8)",
        "23 shelters read",
        "6 rows skipped (errors)",
        "3 rows imported with warnings",
    ]
    assert "  latitude and longitude swapped: 1 (lines 17)" in en
    easy = summary(parsed, OPENED_UTF8.name, "ja-easy")
    assert "  いど と けいど が ぎゃく: 1こ（17ぎょうめ）" in easy
    assert len(summary(parsed, OPENED_UTF8.name, "en", show_all=True)) == len(en)  # 10 problems: all shown


def test_long_lists_of_changes_are_cut_and_say_how_many_more():
    rows = [{"id": f"s{i}", "name_ja": f"避難所{i}"} for i in range(MAX_NAMED + 12)]
    out = changes(Plan(removed=rows), "en", preview=True)
    assert out[1].startswith("  0 added, 0 changed, 0 unchanged; 42 in the registry but not in this file")
    assert len(out) == 2 + MAX_NAMED + 1 and out[-1] == "… and 12 more (--all shows every one)"
    assert len(changes(Plan(removed=rows), "en", preview=True, show_all=True)) == 2 + MAX_NAMED + 12
