"""The one text catalogue of the shelters package: what the import report, the CLI and
the staff API say, in Japanese (``ja``), English (``en``) and やさしい日本語
(``ja-easy``). Wording lives in ``shelters/texts/<language>.yaml`` (same keys in every
file), so a translator extends it without code; codes and figures live in the program.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

FOLDER = Path(__file__).parent / "texts"
LANGUAGES = ("ja", "en", "ja-easy")


def _keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        keys |= _keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"}
    return keys


@cache
def catalogue(language: str) -> dict[str, Any]:
    """The texts of ``language`` (checked to have exactly the keys of ``ja``)."""
    language = pick(language)
    values = yaml.safe_load((FOLDER / f"{language}.yaml").read_text(encoding="utf-8"))
    reference = yaml.safe_load((FOLDER / "ja.yaml").read_text(encoding="utf-8"))
    if _keys(values) != _keys(reference):
        raise ValueError(f"shelters/texts/{language}.yaml: keys differ from ja.yaml")
    return values


def pick(language: str | None) -> str:
    """A supported language from a choice or a locale (``ja_JP.UTF-8`` → ``ja``); English
    for anything else."""
    if not language:
        return "en"
    if language in LANGUAGES:
        return language
    return "ja" if language.lower().startswith("ja") else "en"


def from_environment() -> str:
    """The user's language from the usual locale variables (LC_ALL, LC_MESSAGES, LANG)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            return pick(os.environ[name])
    return "en"


def say(key: str, language: str, /, **params: Any) -> str:
    """``section.key`` in ``language`` with ``params`` filled in."""
    section, name = key.split(".", 1)
    return str(catalogue(language)[section][name]).format(**params)
