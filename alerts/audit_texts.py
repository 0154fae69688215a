"""Why the engine wrote an audit entry, by a stable code.

Every audit entry the engine writes (:mod:`alerts.decision`, :mod:`alerts.lifecycle`,
:mod:`alerts.store`) carries a stable ``details["code"]`` and, when the text needs
figures, ``details["params"]``; its ``reason`` column keeps the English text for logs
and old readers. Entries written for a person (approved, declined, cancelled,
acknowledged) carry a ``staff_*`` code and the person's own words as the reason.

The words are in the text catalogue (``kawamori/texts/<language>.yaml``, section
``audit``): ``audit.reason.<code>`` are templates whose ``{name}`` placeholders come from
``params``; a placeholder whose value is a word (a basis such as ``forecast``, a role)
is looked up in ``audit.term.<value>`` first. The console's API renders them
(:func:`render`; ``dashboard/routers/alerts.py``, ``dashboard/review.py``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from kawamori import texts


@cache
def codes() -> frozenset[str]:
    """Every code the catalogue has a reason for."""
    return frozenset(texts.tree("en")["audit"]["reason"])


@cache
def _terms() -> frozenset[str]:
    return frozenset(texts.tree("en")["audit"]["term"])


def term(value: object, lang: str) -> str:
    """A placeholder's value in ``lang``: a word of the catalogue (``forecast`` → 予測),
    or the value as written (a figure)."""
    return texts.say(f"audit.term.{value}", lang) if str(value) in _terms() else str(value)


def say(code: str, **params: Any) -> tuple[str, dict[str, Any]]:
    """The English reason and the details that name it: ``{"code": …, "params": …}``."""
    if code not in codes():
        raise KeyError(code)
    text = texts.say(f"audit.reason.{code}", "en", **{k: str(v) for k, v in params.items()})
    return text, ({"code": code, "params": params} if params else {"code": code})


def render(code: str, params: dict[str, Any] | None, lang: str) -> str:
    """A catalogue text in ``lang`` (``ja``, ``en`` or ``ja-easy``), as the console renders it."""
    return texts.say(f"audit.reason.{code}", lang, **{k: term(v, lang) for k, v in (params or {}).items()})
