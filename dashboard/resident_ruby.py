"""Furigana for やさしい日本語 pages: names of areas, rivers, gauges and shelters in
kanji get their readings as ``<ruby>`` (a city's file of words and readings,
``KAWAMORI_NAME_READINGS``; the demo network's in ``kawamori/demo/readings.yaml``).
Pure: text in, escaped markup out."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from markupsafe import Markup, escape

DEMO_READINGS = Path(__file__).resolve().parent.parent / "kawamori" / "demo" / "readings.yaml"
KANA = re.compile(r"^[\u3041-\u309f\u30a0-\u30ffー・\s]+$")


@cache
def load(path: Path | None = None) -> dict[str, str]:
    """Words and readings from a YAML mapping (``word: reading``); readings must be kana."""
    raw = yaml.safe_load(Path(path or DEMO_READINGS).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a mapping of words to their readings")
    bad = [word for word, reading in raw.items() if not isinstance(reading, str) or not KANA.match(reading)]
    if bad:
        raise ValueError(f"{path}: readings must be kana ({', '.join(map(str, bad[:3]))})")
    return {str(word): reading for word, reading in raw.items() if word}


def ruby(text: str, readings: dict[str, str]) -> Markup:
    """``text`` escaped, each listed word (longest first) as ``<ruby>word<rt>reading</rt></ruby>``."""
    if not readings or not text:
        return escape(text)
    pattern = _pattern(tuple(sorted(readings, key=len, reverse=True)))
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(escape(text[last : match.start()]))
        word = match.group(0)
        out.append(Markup("<ruby>{}<rt>{}</rt></ruby>").format(word, readings[word]))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


@cache
def _pattern(words: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(re.escape(w) for w in words))
