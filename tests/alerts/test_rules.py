"""Rule settings: defaults, bounds, per-station overrides with clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.rules import DEFAULT, RuleSettings, RuleSettingsError


def test_every_setting_has_a_default_a_description_and_bounds():
    for name, field in RuleSettings.model_fields.items():
        assert not field.is_required(), name
        assert field.description, name
        bounds = {type(m).__name__ for m in field.metadata}
        assert bounds & {"Gt", "Ge"} and "Le" in bounds, f"{name} has no bounds"


def test_settings_are_frozen():
    with pytest.raises(ValidationError):
        DEFAULT.gap_min = 5  # type: ignore[misc]


def test_settings_round_trip_through_json():
    custom = RuleSettings(gap_min=90, forecast_lead_h=1.5)
    assert RuleSettings.model_validate_json(custom.model_dump_json()) == custom


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(None, {}, id="no-overrides"),
        pytest.param({}, {}, id="empty-object"),
        pytest.param({"gap_min": 180}, {"gap_min": 180}, id="one-setting"),
        pytest.param(
            {"slow_interval_min": 60, "confirm_count": 1},
            {"slow_interval_min": 60, "confirm_count": 1},
            id="two-settings",
        ),
        pytest.param({"forecast_lead_h": "1.5"}, {"forecast_lead_h": 1.5}, id="numeric-string"),
    ],
)
def test_station_overrides_are_merged_over_the_defaults(overrides, expected):
    settings = RuleSettings.for_station(overrides)
    for name in RuleSettings.model_fields:
        assert getattr(settings, name) == expected.get(name, getattr(DEFAULT, name)), name


def test_overrides_merge_over_a_given_base():
    base = RuleSettings(gap_min=120)
    assert RuleSettings.for_station({"dwell_min": 5}, base).gap_min == 120


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"gap": 5}, "gap: Extra inputs are not permitted", id="unknown-setting"),
        pytest.param({"gap_min": 0}, "gap_min: Input should be greater than 0", id="below-bounds"),
        pytest.param({"confirm_count": 99}, "confirm_count: Input should be less than", id="above-bounds"),
        pytest.param({"dwell_min": "soon"}, "dwell_min: Input should be a valid number", id="wrong-type"),
        pytest.param(
            {"trend_min_points": 8, "trend_max_points": 4},
            "trend_min_points cannot exceed",
            id="inconsistent",
        ),
        pytest.param(
            {"fast_interval_min": 30, "slow_interval_min": 10}, "fast_interval_min cannot", id="intervals"
        ),
        pytest.param([1, 2], "must be a JSON object", id="not-an-object"),
    ],
)
def test_invalid_overrides_say_what_is_wrong(overrides, message):
    with pytest.raises(RuleSettingsError, match=r"invalid alert rules|JSON object") as caught:
        RuleSettings.for_station(overrides)
    assert message in str(caught.value)


def test_the_window_covers_every_look_back():
    settings = RuleSettings(
        confirm_window_min=30, trend_window_min=200, gap_min=40, slow_interval_min=15, max_interval_min=20
    )
    assert settings.window.total_seconds() == (200 + 15) * 60
    # the rules scale to a station's cadence up to max_interval_min: the trend then
    # looks back trend_min_points + 1 intervals
    assert DEFAULT.window.total_seconds() >= (DEFAULT.trend_min_points + 1) * DEFAULT.max_interval_min * 60
    for setting in ("confirm_window_min", "trend_window_min", "gap_min", "flat_line_min_duration_min"):
        assert DEFAULT.window.total_seconds() >= getattr(DEFAULT, setting) * 60


def test_durations_in_seconds_follow_the_settings():
    settings = RuleSettings(dwell_min=45, forecast_lead_h=2)
    assert settings.seconds.dwell == 45 * 60
    assert settings.seconds.forecast_lead == 2 * 3600
