"""The domain model's pure parts (kawamori/model.py): stage lists, station
validation, and which stage a water level has reached."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kawamori.model import Stage, Station, crisis_gauge_stages, stage_at, stage_problem


def stage(key: str, level_m: float, alert_level: int | None = None) -> Stage:
    return Stage(key=key, name_ja=key, name_en=key, level_m=level_m, alert_level=alert_level)


def station(**overrides) -> Station:
    """十文字橋 (Jumonji Bridge) on the Kyoden River, as in the demo network."""
    values = {
        "id": "kyoden-jumonji",
        "name_ja": "十文字橋",
        "name_en": "Jumonji Bridge",
        "river_ja": "京田川",
        "river_en": "Kyoden River",
        "latitude": 38.809193,
        "longitude": 139.89922,
        "mount_height_m": 10.3,
        "level_min_m": 1.85,
        "level_max_m": 10.0,
        "stages": crisis_gauge_stages(4.35, 7.77, warning=7.07),
    }
    return Station(**{**values, **overrides})


OBSERVATION, CAUTION, DANGER = station().stages

# -- stage_problem -----------------------------------------------------------------------

PROBLEMS = [
    ("none", [], None),
    ("one stage", [stage("danger", 5.0, 4)], None),
    ("crisis gauge", [stage("obs", 2.0), stage("caution", 4.0, 2), stage("danger", 5.0, 4)], None),
    ("equal alert levels", [stage("a", 2.0, 3), stage("b", 3.0, 3)], None),
    ("stage at the top of the range", [stage("top", 10.0, 5)], None),
    ("duplicate keys", [stage("danger", 2.0, 2), stage("danger", 5.0, 4)], "unique"),
    ("equal levels", [stage("caution", 5.0, 2), stage("danger", 5.0, 4)], "ascend"),
    ("descending", [stage("danger", 6.0, 4), stage("caution", 5.0, 2)], "ascend"),
    ("alert level goes down", [stage("danger", 4.0, 4), stage("caution", 6.0, 2)], "alert level"),
    (
        "alert level goes down across a watch-only stage",
        [stage("danger", 4.0, 4), stage("note", 5.0), stage("caution", 6.0, 2)],
        "alert level",
    ),
    ("at the bottom of the range", [stage("obs", 0.0)], "outside"),
    ("below the range", [stage("obs", -1.0)], "outside"),
    ("above the range", [stage("danger", 10.01, 4)], "outside"),
]


@pytest.mark.parametrize(("stages", "problem"), [p[1:] for p in PROBLEMS], ids=[p[0] for p in PROBLEMS])
def test_stage_problem(stages, problem):
    found = stage_problem(stages, 0.0, 10.0)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_stage_problem_names_the_offending_stage():
    found = stage_problem([stage("caution", 5.0, 2), stage("danger", 4.5, 4)], 0.0, 10.0)
    assert found is not None
    assert "danger" in found


# -- Station validation ------------------------------------------------------------------

INVALID_STATIONS = [
    ("min equals max", {"level_min_m": 10.0, "level_max_m": 10.0}, "level_min_m must be below level_max_m"),
    ("min above max", {"level_min_m": 11.0, "level_max_m": 10.0}, "level_min_m must be below level_max_m"),
    ("max above the sensor", {"level_max_m": 10.31}, "cannot be above the sensor"),
    ("stage above max", {"stages": (stage("danger", 10.5, 4),)}, "outside"),
    ("stages out of order", {"stages": (DANGER, CAUTION)}, "ascend"),
    ("NaN level", {"level_min_m": math.nan}, "finite"),
    ("infinite mount", {"mount_height_m": math.inf}, "finite"),
    ("bad id", {"id": "-kyoden"}, "pattern"),
    ("id too long", {"id": "k" * 65}, "at most 64"),
    ("latitude", {"latitude": 91}, "less than or equal to 90"),
    ("unknown field", {"elevation": 3.0}, "Extra inputs"),
]


@pytest.mark.parametrize(
    ("overrides", "message"), [s[1:] for s in INVALID_STATIONS], ids=[s[0] for s in INVALID_STATIONS]
)
def test_invalid_station(overrides, message):
    with pytest.raises(ValidationError, match=message):
        station(**overrides)


def test_station_may_reach_its_sensor_and_needs_no_stages():
    assert station(level_max_m=10.3, stages=()).stages == ()


def test_station_is_frozen():
    with pytest.raises(ValidationError):
        station().level_max_m = 20.0


# -- stage_at ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (-math.inf, None),
        (0.0, None),
        (4.349, None),
        (4.35, OBSERVATION),
        (7.0, OBSERVATION),
        (7.07, CAUTION),
        (7.769, CAUTION),
        (7.77, DANGER),
        (15.0, DANGER),
        (math.inf, DANGER),
        (math.nan, None),
    ],
)
def test_stage_at(level, expected):
    assert stage_at(level, station().stages) == expected


def test_stage_at_without_stages():
    assert stage_at(5.0, ()) is None


@st.composite
def ascending_stages(draw) -> tuple[Stage, ...]:
    levels = sorted(
        draw(st.lists(st.floats(min_value=-1e6, max_value=1e6), unique=True, max_size=6)),
    )
    stages = tuple(stage(f"s{i}", level) for i, level in enumerate(levels))
    assert stage_problem(stages, -math.inf, math.inf) is None
    return stages


def index(found: Stage | None, stages: tuple[Stage, ...]) -> int:
    return -1 if found is None else stages.index(found)


levels = st.floats(allow_nan=False)


@given(ascending_stages(), levels, levels)
def test_stage_at_is_monotonic_in_level(stages, a, b):
    low, high = sorted((a, b))
    assert index(stage_at(low, stages), stages) <= index(stage_at(high, stages), stages)


@given(ascending_stages(), levels)
def test_stage_at_is_the_highest_threshold_reached(stages, level):
    position = index(stage_at(level, stages), stages)
    if position >= 0:
        assert stages[position].level_m <= level
    if position + 1 < len(stages):
        assert level < stages[position + 1].level_m


@given(ascending_stages())
def test_stage_at_nan_is_none(stages):
    assert stage_at(math.nan, stages) is None


# -- crisis_gauge_stages -----------------------------------------------------------------


def test_crisis_gauge_without_warning_level():
    stages = crisis_gauge_stages(4.35, 7.77)
    assert [(s.key, s.level_m, s.alert_level) for s in stages] == [
        ("observation", 4.35, None),
        ("danger", 7.77, 4),
    ]
    assert [s.name_ja for s in stages] == ["観測開始水位", "氾濫危険水位"]


def test_crisis_gauge_with_warning_level():
    stages = crisis_gauge_stages(4.35, 7.77, warning=7.07)
    assert [(s.key, s.level_m, s.alert_level) for s in stages] == [
        ("observation", 4.35, None),
        ("caution", 7.07, 2),
        ("danger", 7.77, 4),
    ]
    assert stages[1].name_ja == "氾濫注意水位"


@pytest.mark.parametrize("warning", [4.35, 7.77, 3.0, 9.0], ids=["at start", "at danger", "below", "above"])
def test_crisis_gauge_ignores_warning_outside_start_and_danger(warning):
    assert [s.key for s in crisis_gauge_stages(4.35, 7.77, warning=warning)] == ["observation", "danger"]


@given(
    st.floats(min_value=-100, max_value=100),
    st.floats(min_value=0.01, max_value=50),
    st.none() | st.floats(min_value=-200, max_value=200),
)
def test_crisis_gauge_stages_are_always_usable(start, span, warning):
    danger = start + span
    stages = crisis_gauge_stages(start, danger, warning)
    assert stage_problem(stages, start - 1, danger + 1) is None
