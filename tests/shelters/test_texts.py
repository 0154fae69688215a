"""The shelters section of the text catalogue (kawamori/texts): every problem code the
importer can report has a message and a kind, and every template fills in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kawamori.texts import LANGUAGES, say, tree

SOURCES = Path(__file__).resolve().parents[2] / "shelters"


def codes_in_the_source() -> set[str]:
    """Every problem code the package can report: the code arguments of Problem(…) and
    of the row's bad(…), and the codes csvlines and fields hand over."""
    text = "".join(p.read_text(encoding="utf-8") for p in SOURCES.glob("*.py"))
    found = set(re.findall(r'bad\(\s*(?:(?:"[^"]*"|[^,()"]+),\s*)?"([a-z_]+)"', text))
    found |= set(re.findall(r'Problem\([^()"]*?,\s*(?:"[^"]*"|[^,()"]+),\s*"([a-z_]+)"', text))
    found |= set(re.findall(r'"(coord_[a-z]+|quote_open|csv_bad|fields_extra)"', text))
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_text(language):
    texts = tree(language)["shelters"]
    assert set(texts["problems"]) == set(texts["kinds"])
    params = {"value": "x", "column": "c", "first": 2, "lat": 1, "lon": 2, "km": 3, "count": 4, "expected": 5}
    params |= {"end": 6, "detail": "d", "columns": "a, b"}
    for code in texts["problems"]:
        assert say(f"shelters.problems.{code}", language, **params)


def test_every_code_the_code_raises_is_in_the_catalogue():
    codes = codes_in_the_source()
    assert {"name_mojibake", "coord_swapped", "quote_open", "count_time_bad", "undesignated"} <= codes
    assert codes <= set(tree("en")["shelters"]["problems"])
