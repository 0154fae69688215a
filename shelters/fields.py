"""The cells of a municipal shelter file, read as municipalities write them. Pure.

* :func:`flag` — a designation flag: ``1``, ``1.0`` (pandas / Excel exports), ``○ ◯ 〇 ● ◎``,
  ``TRUE``, ``有``, ``あり`` … are yes; empty, ``0``, ``×``, ``-``, ``無``, ``なし`` … are no;
  anything else is ``None`` (not understood).
* :func:`capacity` — free text such as ``屋内480人／屋外3,350人(面積の1/2)`` → indoor and
  outdoor persons, a stated total, an area in m²; the original text is kept.
* :func:`coordinate` — decimal degrees (full-width digits allowed; a comma is never
  taken for a decimal point) or degrees-minutes-seconds.
* :func:`count` — a head count cell (``1,234``, ``１２人``).
* :func:`looks_mojibake` — text decoded with the wrong encoding.

Full-width digits and punctuation are folded with NFKC before anything is read, so
``１，２００`` is 1200 and ``３８．７６`` is 38.76.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_YES = frozenset(
    {"1", "○", "◯", "〇", "●", "◎", "true", "t", "yes", "y", "有", "有り", "あり", "可", "該当", "指定",
     "対象", "✓", "✔"}
)  # fmt: skip
_NO = frozenset(
    {"", "0", "×", "✕", "✖", "-", "ー", "―", "‐", "無", "無し", "なし", "false", "f", "no", "n", "否",
     "非該当", "対象外"}
)  # fmt: skip
_ONE_POINT_ZERO = re.compile(r"^([01])\.0+$")


def fold(text: str) -> str:
    """NFKC (full-width digits, letters and punctuation to their ordinary forms), stripped
    of spaces including the ideographic space."""
    return unicodedata.normalize("NFKC", text or "").strip()


def flag(value: str) -> bool | None:
    """Whether a designation cell says yes (True), no (False) or neither (None)."""
    folded = fold(value).lower()
    one = _ONE_POINT_ZERO.match(folded)
    if one:
        folded = one[1]
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


# --- numbers ------------------------------------------------------------------------

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"


def _number(text: str) -> float:
    return float(text.replace(",", ""))


# --- capacity -----------------------------------------------------------------------

_INDOOR = ("屋内", "室内", "建物内", "施設内", "校舎", "体育館", "館内")
_OUTDOOR = ("屋外", "室外", "グラウンド", "グランド", "校庭", "運動場", "敷地", "広場", "屋外広場")
_TOTAL = ("合計", "総数", "収容", "計")
_LABEL = "|".join(sorted((*_INDOOR, *_OUTDOOR, *_TOTAL), key=len, reverse=True))
_QUANTITY = re.compile(
    rf"(?P<label>{_LABEL})?\s*(?:[:=]\s*)?(?:約|およそ|概ね|最大)?\s*(?P<num>{_NUMBER})\s*(?P<man>万)?"
    r"\s*(?P<unit>人|名|m2|m\^2|平方メートル|平米|ha)?"
)
_PAREN = re.compile(r"\(([^()]*)\)")
_UNKNOWN_WORDS = frozenset(
    {"", "-", "ー", "―", "不明", "未定", "なし", "無", "調査中", "未設定", "n/a", "na"}
)
_PERSONS, _AREA = "persons", "area"


@dataclass(frozen=True, slots=True)
class Capacity:
    """What a capacity cell says. ``text`` is the cell as written; ``readable`` is False
    when it holds something that is not understood (the numbers are then all None)."""

    text: str
    indoor: int | None = None
    outdoor: int | None = None
    total: int | None = None  # a number of people not said to be indoor or outdoor
    area_m2: float | None = None
    readable: bool = True
    approximate: bool = False

    @property
    def empty(self) -> bool:
        return self.indoor is None and self.outdoor is None and self.total is None

    def for_crowding(self, *, designated_shelter: bool | None) -> tuple[int | None, str]:
        """The capacity crowding is judged against, and its basis:

        * a 指定避難所 (people stay there): the indoor capacity (``indoor``), or a number
          not said to be indoor or outdoor (``stated``); an outdoor figure never counts;
        * a place designated only as 指定緊急避難場所 (people take refuge for their
          immediate safety): the whole site, indoor plus outdoor (``site``);
        * nothing usable: ``(None, "unknown")``.
        """
        if designated_shelter is False:
            if self.indoor is not None or self.outdoor is not None:
                return (self.indoor or 0) + (self.outdoor or 0), "site"
            if self.total is not None:
                return self.total, "stated"
            return None, "unknown"
        if self.indoor is not None:
            return self.indoor, "indoor"
        if self.total is not None:
            return self.total, "stated"
        return None, "unknown"


def capacity(text: str) -> Capacity:
    """Read a capacity cell (see :class:`Capacity`)."""
    original = (text or "").strip()
    folded = fold(original).replace("㎡", "m2").replace("m²", "m2").replace("人数", "")
    if folded.lower() in _UNKNOWN_WORDS:
        return Capacity(original)
    # notes in brackets (面積の1/2, 2階以上) are kept in the text but not read, unless they
    # hold a labelled quantity themselves: 屋外(3,350人)
    body = _PAREN.sub(lambda m: f" {m[1]} " if re.search(r"人|名|m2", m[1]) else " ", folded)
    found: dict[str, dict[str, float]] = {_PERSONS: {}, _AREA: {}}
    approximate = bool(re.search(r"約|およそ|概ね|程度", body))
    previous: tuple[str, str | None] = ("", None)  # kind and label of the figure before
    rest = body
    for match in _QUANTITY.finditer(body):
        unit = match["unit"]
        value = _number(match["num"]) * (10_000 if match["man"] else 1)
        if unit in ("m2", "m^2", "平方メートル", "平米", "ha"):
            kind, value = _AREA, value * (10_000 if unit == "ha" else 1)
        else:
            kind = _PERSONS
        # 屋外5,000㎡(2,500人): the persons in brackets belong to the area's label
        label = match["label"] or (previous[1] if previous[0] == _AREA and kind == _PERSONS else None)
        previous = (kind, label)
        if kind == _PERSONS and value != int(value):
            return Capacity(original, readable=False)
        where = (
            "indoor"
            if label in _INDOOR
            else "outdoor"
            if label in _OUTDOOR
            else "total"
            if label in _TOTAL
            else ""
        )
        key = where or "total"
        if key in found[kind] and kind == _PERSONS:
            return Capacity(original, readable=False)  # two unlabelled or repeated figures
        found[kind][key] = found[kind].get(key, 0) + value
        rest = rest.replace(match[0], " ", 1)
    leftover = re.sub(r"[\s/、,;・:と+&]|および|及び|人|名|程度|可能|まで|以内", "", rest)
    if leftover or not (found[_PERSONS] or found[_AREA]):
        return Capacity(original, readable=False)
    persons = found[_PERSONS]
    total = persons.get("total")
    indoor, outdoor = persons.get("indoor"), persons.get("outdoor")
    if total is not None and (indoor is not None or outdoor is not None):
        # 合計 given with its parts: keep the parts (a total must not be read as indoor)
        total = None if (indoor or 0) + (outdoor or 0) == total else total
    area = sum(found[_AREA].values()) if found[_AREA] else None
    return Capacity(
        original,
        indoor=None if indoor is None else int(indoor),
        outdoor=None if outdoor is None else int(outdoor),
        total=None if total is None else int(total),
        area_m2=area,
        approximate=approximate,
    )


# --- coordinates and counts ---------------------------------------------------------

_DECIMAL = re.compile(r"^[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_DMS = re.compile(
    r"^(?P<h>[NSEW北南東西]|北緯|南緯|東経|西経)?\s*(?P<d>\d+(?:\.\d+)?)\s*[°度]\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*['′分]\s*)?(?:(?P<s>\d+(?:\.\d+)?)\s*(?:[\"″秒]|'')\s*)?(?P<t>[NSEW])?$"
)


class Unreadable(ValueError):
    """A cell that cannot be read; the message says why, in English (callers translate
    by ``code``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def coordinate(value: str) -> float:
    """Decimal degrees from a coordinate cell, or :class:`Unreadable` with a code:
    ``empty``, ``comma`` (a comma is not a decimal point: ``38,764`` is refused rather than
    guessed), ``not_a_number``."""
    folded = fold(value).replace("−", "-").replace("′′", '"').replace("′", "'")
    if not folded:
        raise Unreadable("empty")
    if _DECIMAL.match(folded):
        return float(folded)
    if "," in folded:
        raise Unreadable("comma")
    dms = _DMS.match(folded)
    if dms:
        degrees = float(dms["d"]) + float(dms["m"] or 0) / 60 + float(dms["s"] or 0) / 3600
        hemisphere = (dms["h"] or "") + (dms["t"] or "")
        return -degrees if hemisphere and hemisphere[0] in "SW南西" else degrees
    raise Unreadable("not_a_number")


_COUNT = re.compile(rf"^(?:約)?({_NUMBER})\s*(?:人|名)?$")


def count(value: str) -> int | None:
    """A head count cell: ``None`` when empty or a dash; :class:`Unreadable` when not a
    whole number of people."""
    folded = fold(value)
    if folded in ("", "-", "ー", "―", "−"):
        return None
    match = _COUNT.match(folded)
    if match is None:
        raise Unreadable("not_a_count")
    number = _number(match[1])
    if number != int(number) or number < 0:
        raise Unreadable("not_a_count")
    return int(number)


# --- mojibake -----------------------------------------------------------------------

_C1 = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


def _japanese(text: str) -> int:
    return sum(1 for ch in text if "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff")


def looks_mojibake(text: str) -> bool:
    """Whether ``text`` looks like Japanese decoded with the wrong encoding: replacement
    or control characters, UTF-8 read as Shift_JIS (驛ｿ髮｣…) or as Latin-1 (é¿é£…)."""
    if not text:
        return False
    if _C1.search(text):
        return True
    for wrong in ("cp932", "cp1252", "latin-1"):
        try:
            fixed = text.encode(wrong).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if fixed == text:
            continue
        if wrong == "cp932" and _japanese(fixed) >= max(1, len(fixed) // 3):
            return True
        if wrong != "cp932" and len(fixed) < len(text) and not fixed.isascii():
            return True  # UTF-8 read as Latin-1: é became Ã©, 避 became é¿
    return False
