"""The one text catalogue: every word a person reads, in Japanese (``ja``), English
(``en``) and やさしい日本語 (``ja-easy``).

Wording lives in ``kawamori/texts/<language>.yaml``, one section per reader, the same
keys in every file; codes, figures and layout live in the program::

    cap        CAP 1.2 alerts and the Atom feed (alerts/cap.py)
    notify     resident notifications and the confirmation e-mail (notify/render.py)
    resident   the resident pages, LINE replies (dashboard/resident_view.py)
    shelters   the shelter import report, CLI and staff API, crowding and why a shelter
               is passed over (shelters/)
    audit      why the engine wrote an audit entry (alerts/audit_texts.py)
    console    the staff pages (dashboard/): a script's words embedded in its page as JSON;
               the review's timeline, why a gauge needs a visit

:func:`say` fills a text's ``{placeholders}`` (:func:`both`: in ja and en at once);
:func:`pick` turns a choice, a locale (``ja_JP.UTF-8``) or an ``Accept-Language`` header
into a supported language. A translator extends a file without touching code;
``tests/kawamori/test_texts.py`` checks that every language has every key with the same
placeholders.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

FOLDER = Path(__file__).parent / "texts"
LANGUAGES = ("ja", "en", "ja-easy")
SECTIONS = ("cap", "notify", "resident", "shelters", "audit", "console")

# Every language uses the same placeholders in a text, except these few, where each
# language picks from what the code fills in: a time written the language's way, and a
# sentence that やさしい日本語 words with the level's headline rather than the stage's name.
_CLOCK = frozenset({"year", "month", "day", "hour", "minute", "month_name"})
_WHAT = frozenset({"river", "station", "stage", "headline", "eta"})
OWN_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "cap.time": _CLOCK | {"zone"},
    "resident.time_format": _CLOCK | {"zone"},
    "notify.format.time": _CLOCK,
    **{f"notify.what.{event}": _WHAT for event in ("new", "update", "forecast", "forecast_update")},
}


class TextError(ValueError):
    """A catalogue file that cannot be used: unreadable, or keys unlike ``ja.yaml``'s."""


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": "x"}}`` → ``{"a.b": "x"}`` (every value as a string)."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def placeholders(text: str) -> set[str]:
    """The names a text fills in: ``"{river} {value!r:>3}"`` → ``{"river", "value"}``."""
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(text) if field}


def _read(language: str) -> dict[str, Any]:
    path = FOLDER / f"{language}.yaml"
    try:
        tree = yaml.load(
            path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    except (OSError, yaml.YAMLError) as error:
        raise TextError(f"{path.name}: {error}") from None
    if not isinstance(tree, dict):
        raise TextError(f"{path.name}: not a mapping of sections to texts")
    return tree


@cache
def tree(language: str) -> dict[str, Any]:
    """The texts of a supported ``language`` as written (sections → keys → texts),
    checked to have exactly the keys of ``ja.yaml``."""
    if language not in LANGUAGES:
        raise TextError(f"no texts for language {language!r}; have {LANGUAGES}")
    values = _read(language)
    if language != "ja":
        missing, unknown = _difference(flatten(_read("ja")), flatten(values))
        if missing or unknown:
            raise TextError(f"{language}.yaml: missing keys {missing[:5]}, unknown keys {unknown[:5]}")
    return values


def _difference(reference: Iterable[str], keys: Iterable[str]) -> tuple[list[str], list[str]]:
    reference, keys = set(reference), set(keys)
    return sorted(reference - keys), sorted(keys - reference)


@cache
def catalogue(language: str) -> dict[str, str]:
    """Every text of ``language`` by its full key (``"cap.event.observed"``)."""
    return flatten(tree(language))


@cache
def section(name: str, language: str) -> dict[str, str]:
    """One reader's texts by their key inside the section (``"title.new"``)."""
    return flatten(tree(language)[name])


def say(key: str, language: str, /, **params: Any) -> str:
    """The text ``key`` (``section.key``) in ``language`` with ``params`` filled in."""
    return catalogue(language)[key].format(**params)


def both(key: str, /, *, each: Mapping[str, tuple[Any, Any]] | None = None, **params: Any) -> tuple[str, str]:
    """The text ``key`` in Japanese and in English, for records that keep both (the
    review's timeline, a recommendation's reasons): ``params`` fill both languages,
    ``each`` the values written differently in each, as ``(ja, en)`` (a name, a word)."""
    each = each or {}
    return (
        say(key, "ja", **params, **{name: pair[0] for name, pair in each.items()}),
        say(key, "en", **params, **{name: pair[1] for name, pair in each.items()}),
    )


def pick(language: str | None, *, offered: Iterable[str] = LANGUAGES, default: str = "ja") -> str:
    """A language of ``offered`` for a choice (``ja-easy``), a locale (``ja_JP.UTF-8``,
    ``en_US``) or an ``Accept-Language`` header (``en-GB,en;q=0.9``); ``default`` when
    none of them fits."""
    offered = tuple(offered)
    if language in offered:
        return str(language)
    first = (language or "").strip().lower()[:2]
    for candidate in ("ja", "en"):
        if first == candidate and candidate in offered:
            return candidate
    return default


def from_environment(*, default: str = "en") -> str:
    """The user's language from the usual locale variables (LC_ALL, LC_MESSAGES, LANG)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            return pick(os.environ[name], default=default)
    return default
