"""Message templates: one YAML file per language in ``notify/templates/``.

A translator adds a language by copying ``ja.yaml`` or ``en.yaml`` to
``<language>.yaml`` and translating the values: no code changes. Every file must
have exactly the keys in :data:`KEYS` and may only use the placeholders listed
there for each key (a file that does not is refused with a message naming the key).
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from notify.errors import TemplateError, UnknownLanguage

TEMPLATE_DIR = Path(__file__).parent.parent / "kawamori" / "texts"

_NAMES = frozenset({"river", "station", "stage", "headline", "eta"})
_TIME = frozenset({"year", "month", "day", "hour", "minute", "month_name"})

# key → the placeholders its text may use
KEYS: dict[str, frozenset[str]] = {
    "meta.name": frozenset(),
    "meta.names": frozenset(),
    "meta.sentence_end": frozenset(),
    "meta.list_separator": frozenset(),
    "label.exercise": frozenset(),
    "label.test": frozenset(),
    "label.exercise_speech": frozenset(),
    "label.test_speech": frozenset(),
    **{f"level.{n}": frozenset() for n in range(1, 6)},
    **{
        f"{group}.{event}": _NAMES
        for group in ("title", "what")
        for event in ("new", "update", "all_clear", "cancel", "forecast", "forecast_update")
    },
    "word.high_water": frozenset(),
    "word.soon": frozenset(),
    "word.eta": frozenset({"time"}),
    "fact.level": frozenset({"level", "time"}),
    "fact.rate": frozenset({"rate"}),
    "format.metres": frozenset({"value"}),
    "format.time": _TIME,
    "format.km": frozenset({"value"}),
    "areas.list": frozenset({"areas"}),
    "areas.more": frozenset({"areas", "count"}),
    **{
        f"action.{a}": frozenset()
        for a in ("level3", "level4", "level5", "evacuate", "prepare", "monitor", "all_clear", "cancel")
    },
    "shelters.head": frozenset(),
    "shelters.item": frozenset({"number", "name", "distance", "room"}),
    "shelters.none": frozenset(),
    **{f"shelters.{c}": frozenset() for c in ("vacant", "somewhat_crowded", "crowded", "full", "unknown")},
    "note": frozenset({"note"}),
    "link.resident": frozenset({"url"}),
    "link.safety": frozenset({"url"}),
    "link.unsubscribe": frozenset({"url"}),
    "sms": frozenset({"title", "action", "url"}),
    "speech.intro": frozenset(),
    "speech.outro": frozenset(),
    "speech.metres": frozenset({"value"}),
    "speech.time": _TIME,
    "speech.km": frozenset({"value"}),
    "speech.shelters_head": frozenset(),
    "speech.shelter_item": frozenset({"name", "distance", "room"}),
    # the confirmation e-mail of a subscribe request (not an alert: notify/optin_mail.py)
    "confirm.subject": frozenset({"sender"}),
    "confirm.body": frozenset({"sender", "areas", "url", "hours"}),
}


def languages() -> tuple[str, ...]:
    """The languages there is a template file for, e.g. ``("en", "ja", "ja-easy")``."""
    return tuple(sorted(path.stem for path in TEMPLATE_DIR.glob("*.yaml")))


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def placeholders(text: str) -> set[str]:
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(text) if field}


@cache
def load(language: str) -> dict[str, str]:
    """The checked, flattened templates of ``language`` (``{"title.new": "…", …}``)."""
    if language not in languages():
        raise UnknownLanguage(f"no message templates for language {language!r}; have {languages()}")
    path = TEMPLATE_DIR / f"{language}.yaml"
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"{path.name}: {error}") from None
    if not isinstance(tree, dict):
        raise TemplateError(f"{path.name}: not a mapping of keys to texts")
    flat = {key: str(value) for key, value in _flatten(tree).items()}
    missing = sorted(set(KEYS) - set(flat))
    unknown = sorted(set(flat) - set(KEYS))
    if missing or unknown:
        raise TemplateError(f"{path.name}: missing keys {missing}, unknown keys {unknown}")
    for key, text in flat.items():
        try:
            used = placeholders(text)
        except ValueError as error:
            raise TemplateError(f"{path.name}: {key}: {error}") from None
        if not used <= KEYS[key]:
            raise TemplateError(
                f"{path.name}: {key} uses {sorted(used - KEYS[key])}; allowed: {sorted(KEYS[key])}"
            )
    if flat["meta.names"] not in {"ja", "en"}:
        raise TemplateError(f"{path.name}: meta.names must be ja or en")
    return flat
