"""How crowded a shelter is (避難所のひっ迫度): four levels from configurable bands.

The default bands follow the shelter-crowding services Japanese municipalities use:
vacant (空いています) below 30 % of capacity, somewhat crowded (やや混雑) from 30 %,
crowded (混雑) from 60 %, full (満員) from 80 %. A shelter above its capacity is
allowed (nobody is turned away by software) and is flagged as full and over capacity.

Every level has a colour, an icon *and* words (the text catalogue's
``shelters.crowding``), so nothing depends on colour alone. Pure functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kawamori.texts import say


class Crowding(StrEnum):
    vacant = "vacant"
    somewhat_crowded = "somewhat_crowded"
    crowded = "crowded"
    full = "full"
    unknown = "unknown"  # capacity 0: no meaningful percentage


@dataclass(frozen=True, slots=True)
class Bands:
    """Lower bounds, in percent of capacity, of somewhat crowded, crowded and full."""

    somewhat_crowded: float = 30.0
    crowded: float = 60.0
    full: float = 80.0

    def __post_init__(self) -> None:
        if not 0 < self.somewhat_crowded < self.crowded < self.full <= 100:
            raise ValueError(
                "crowding bands must ascend strictly within 0–100 %: "
                f"{self.somewhat_crowded}, {self.crowded}, {self.full}"
            )


DEFAULT_BANDS = Bands()


def parse_bands(text: str) -> Bands:
    """``"30,60,80"`` → :class:`Bands`; raises ``ValueError`` with a clear message."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise ValueError(f"crowding bands need three percentages like 30,60,80, not {text!r}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"crowding bands must be numbers: {text!r}") from None
    return Bands(*numbers)


@dataclass(frozen=True, slots=True)
class Look:
    colour: str  # background; text colour is chosen for WCAG AA contrast
    text_colour: str
    icon: str


LOOKS: dict[Crowding, Look] = {
    Crowding.vacant: Look("#1b7f3b", "#ffffff", "○"),
    Crowding.somewhat_crowded: Look("#f2e700", "#111111", "△"),
    Crowding.crowded: Look("#e05a00", "#111111", "▲"),
    Crowding.full: Look("#b00020", "#ffffff", "×"),
    Crowding.unknown: Look("#ffffff", "#333333", "?"),
}


def label(level: Crowding | str, lang: str) -> str:
    """A level (or its ``describe()["crowding"]``) in words, in ``lang`` (``ja``, ``en``
    or ``ja-easy``)."""
    return say(f"shelters.crowding.{Crowding(level).value}", lang)


def percent(occupancy: int, capacity: int) -> float | None:
    """Occupancy as a percentage of capacity, or ``None`` when capacity is 0."""
    if capacity <= 0:
        return None
    return 100.0 * max(occupancy, 0) / capacity


def crowding(occupancy: int, capacity: int, bands: Bands = DEFAULT_BANDS) -> Crowding:
    share = percent(occupancy, capacity)
    if share is None:
        return Crowding.unknown
    if share >= bands.full:
        return Crowding.full
    if share >= bands.crowded:
        return Crowding.crowded
    if share >= bands.somewhat_crowded:
        return Crowding.somewhat_crowded
    return Crowding.vacant


def describe(occupancy: int, capacity: int, bands: Bands = DEFAULT_BANDS) -> dict:
    """Everything a page or a message needs to show the crowding of one shelter."""
    level = crowding(occupancy, capacity, bands)
    look = LOOKS[level]
    share = percent(occupancy, capacity)
    return {
        "crowding": level.value,
        "percent": None if share is None else round(share, 1),
        "over_capacity": capacity > 0 and occupancy > capacity,
        "has_room": level not in {Crowding.full, Crowding.unknown},
        "colour": look.colour,
        "text_colour": look.text_colour,
        "icon": look.icon,
        "label_ja": label(level, "ja"),
        "label_en": label(level, "en"),
    }
