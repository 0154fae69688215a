from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kawamori import texts
from shelters.crowding import LOOKS, Bands, Crowding, crowding, describe, label, parse_bands


@pytest.mark.parametrize(
    ("occupancy", "capacity", "expected"),
    [
        (0, 100, Crowding.vacant),
        (29, 100, Crowding.vacant),
        (30, 100, Crowding.somewhat_crowded),
        (59, 100, Crowding.somewhat_crowded),
        (60, 100, Crowding.crowded),
        (79, 100, Crowding.crowded),
        (80, 100, Crowding.full),
        (100, 100, Crowding.full),
        (250, 100, Crowding.full),  # over capacity: allowed, flagged as full
        (5, 0, Crowding.unknown),
        (0, 0, Crowding.unknown),
    ],
)
def test_default_bands(occupancy, capacity, expected):
    assert crowding(occupancy, capacity) is expected


def test_custom_bands():
    bands = parse_bands("50, 75, 90")
    assert crowding(60, 100, bands) is Crowding.somewhat_crowded
    assert crowding(89, 100, bands) is Crowding.crowded
    assert crowding(90, 100, bands) is Crowding.full


@pytest.mark.parametrize("text", ["30,60", "a,b,c", "60,30,80", "0,30,60", "30,60,101", "30,30,80"])
def test_bad_bands_are_refused(text):
    with pytest.raises(ValueError, match="bands"):
        parse_bands(text)


ORDER = [Crowding.vacant, Crowding.somewhat_crowded, Crowding.crowded, Crowding.full]


@given(
    capacity=st.integers(1, 10_000),
    a=st.integers(0, 20_000),
    b=st.integers(0, 20_000),
    cuts=st.lists(st.floats(1, 100), min_size=3, max_size=3, unique=True),
)
def test_more_people_never_means_less_crowded(capacity, a, b, cuts):
    bands = Bands(*sorted(cuts))
    low, high = sorted((a, b))
    assert ORDER.index(crowding(low, capacity, bands)) <= ORDER.index(crowding(high, capacity, bands))


@given(occupancy=st.integers(0, 5000), capacity=st.integers(0, 5000))
def test_description_never_relies_on_colour_alone(occupancy, capacity):
    d = describe(occupancy, capacity)
    assert d["icon"] and d["label_ja"] and d["label_en"]
    assert d["over_capacity"] == (capacity > 0 and occupancy > capacity)
    assert d["has_room"] == (d["crowding"] not in {"full", "unknown"})
    if d["over_capacity"]:
        assert d["crowding"] == "full"


@pytest.mark.parametrize("level", list(Crowding))
def test_every_level_has_words_in_every_language(level):
    words = [label(level, language) for language in texts.LANGUAGES]
    assert all(words) and len(set(words)) == len(words)  # やさしい日本語 is its own
    assert label(level.value, "ja") == describe(*SAMPLE[level])["label_ja"]


SAMPLE = {  # (occupancy, capacity) at each level
    Crowding.vacant: (0, 100),
    Crowding.somewhat_crowded: (30, 100),
    Crowding.crowded: (60, 100),
    Crowding.full: (80, 100),
    Crowding.unknown: (5, 0),
}


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("level", list(LOOKS))
def test_badge_text_meets_wcag_aa_contrast(level):
    look = LOOKS[level]
    lighter, darker = sorted((_luminance(look.colour), _luminance(look.text_colour)), reverse=True)
    assert (lighter + 0.05) / (darker + 0.05) >= 4.5
