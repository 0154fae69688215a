"""The alert rules' settings: one frozen, validated model with a default for everything.

A station's ``stations.alert_rules`` JSON holds only what differs from the defaults;
:meth:`RuleSettings.for_station` merges it and says clearly what is wrong with it.
Durations are plain numbers with their unit in the name (``_min``, ``_h``) so that
the JSON staff edit reads the way the docs (``docs/alerts.md``) describe it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


@dataclass(frozen=True, slots=True)
class Seconds:
    confirm_window: float
    dwell: float
    flat_line_min_duration: float
    gap: float
    trend_window: float
    forecast_lead: float
    fast_interval: float
    slow_interval: float
    offline_min_wait: float
    no_data_after: float
    max_interval: float


class RuleSettingsError(ValueError):
    """A station's ``alert_rules`` are not valid settings (the message says why)."""


class RuleSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # confirmation and hysteresis (alerts.stages)
    confirm_count: int = Field(
        3, ge=1, le=10, description="Readings whose median is the confirmed level (the last N usable ones)"
    )
    confirm_window_min: float = Field(
        60, gt=0, le=1440, description="Only readings this recent (minutes before the newest) are confirmed"
    )
    exit_margin_m: float = Field(
        0.1, ge=0, le=5, description="A stage is left only below its threshold minus this margin (m)"
    )
    dwell_min: float = Field(
        30, ge=0, le=1440, description="…and only after the level stayed below it this long (minutes)"
    )
    # quality control (alerts.qc), after the IOOS QARTOD water-level tests
    suspect_above_top_m: float = Field(
        3.0, gt=0, le=100, description="Readings this far above the highest stage are suspect (m)"
    )
    spike_m: float = Field(
        0.5, gt=0, le=50, description="A reading this far beyond both of its neighbours is a spike (m)"
    )
    max_rise_m_h: float = Field(
        6.0, gt=0, le=200, description="Faster rises than this are beyond what water does (m/h)"
    )
    max_fall_m_h: float = Field(
        4.0, gt=0, le=200, description="Faster falls than this are beyond what water does (m/h)"
    )
    flat_line_count: int = Field(
        6, ge=3, le=1000, description="A stuck sensor repeats the same level at least this many times"
    )
    flat_line_tolerance_m: float = Field(
        0.001, ge=0, le=1, description="Levels within this of each other count as the same (m)"
    )
    flat_line_high_tolerance_m: float = Field(
        0.01,
        ge=0,
        le=1,
        description="At a stage with a 警戒レベル, levels within this count as the same (m): "
        "for the flat-line test (over twice its duration) and for confirming a stage",
    )
    flat_line_min_duration_min: float = Field(
        50, gt=0, le=10080, description="…over at least this long (minutes)"
    )
    gap_min: float = Field(
        60, gt=0, le=10080, description="Readings further apart than this are not compared (minutes)"
    )
    # corroboration (alerts.qc, alerts.evaluate)
    unverified_jump_m_h: float = Field(
        2.0, gt=0, le=200, description="A rise faster than this needs a further reading to count (m/h)"
    )
    plausible_rise_m_h: float = Field(
        1.0,
        gt=0,
        le=200,
        description="A single reading at a higher stage is plausible after a rise up to twice the "
        "fastest rise the station itself has shown; while its history is too short to say, "
        "up to this (m/h)",
    )
    rise_history_min: int = Field(
        3,
        ge=1,
        le=1000,
        description="Rises (between sound readings below the top stage) a station's history needs "
        "before its own fastest rise alone says what water can do there",
    )
    neighbour_level_gap: int = Field(
        1,
        ge=0,
        le=4,
        description="A neighbour at most this many 警戒レベル below an unverified jump corroborates it",
    )
    # trend and forecast (alerts.trend)
    trend_window_min: float = Field(
        60, gt=0, le=1440, description="Readings this recent give the rate of rise (minutes)"
    )
    trend_min_points: int = Field(
        5, ge=2, le=100, description="Fewest readings for a rate of rise (5 outvote one wild reading)"
    )
    trend_max_points: int = Field(
        10, ge=2, le=100, description="Most readings used for a rate of rise (the newest ones)"
    )
    forecast_lead_h: float = Field(
        3.0, gt=0, le=48, description="Warn when the next stage is projected within this time (hours)"
    )
    forecast_min_rise_m_h: float = Field(
        0.05, ge=0, le=10, description="Slower rises than this are not projected (m/h)"
    )
    forecast_hold_factor: float = Field(
        2.0,
        ge=1,
        le=10,
        description="A forecast already out is kept while the rise continues and the stage is "
        "projected within this many lead times (hysteresis)",
    )
    # station health (alerts.health)
    fast_interval_min: float = Field(
        2, gt=0, le=1440, description="The gauge's reporting interval in fast mode (minutes)"
    )
    slow_interval_min: float = Field(
        10, gt=0, le=10080, description="The gauge's reporting interval in slow mode (minutes)"
    )
    offline_multiple: float = Field(
        3, ge=1, le=100, description="Offline after this many expected intervals without a reading"
    )
    offline_min_wait_min: float = Field(
        15, ge=0, le=10080, description="…but never sooner than this (minutes)"
    )
    no_data_after_min: float = Field(
        330,
        gt=0,
        le=10080,
        description="After high water, a silence this long (and at least the offline time) means "
        "the station's stage no longer counts: no data (minutes)",
    )
    max_interval_min: float = Field(
        120,
        gt=0,
        le=1440,
        description="The longest reporting interval the rules scale to (minutes)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RuleSettings:
        if self.trend_min_points > self.trend_max_points:
            raise ValueError("trend_min_points cannot exceed trend_max_points")
        if self.fast_interval_min > self.slow_interval_min:
            raise ValueError("fast_interval_min cannot exceed slow_interval_min")
        return self

    @cached_property
    def seconds(self) -> Seconds:
        """The duration settings in seconds, computed once (evaluation is hot)."""
        return Seconds(
            confirm_window=self.confirm_window_min * 60,
            dwell=self.dwell_min * 60,
            flat_line_min_duration=self.flat_line_min_duration_min * 60,
            gap=self.gap_min * 60,
            trend_window=self.trend_window_min * 60,
            forecast_lead=self.forecast_lead_h * 3600,
            fast_interval=self.fast_interval_min * 60,
            slow_interval=self.slow_interval_min * 60,
            offline_min_wait=self.offline_min_wait_min * 60,
            no_data_after=self.no_data_after_min * 60,
            max_interval=self.max_interval_min * 60,
        )

    @cached_property
    def cadences(self) -> dict[int, Any]:
        """``alerts.health.cadence`` results by interval (filled as stations use them)."""
        return {}

    @property
    def window(self) -> timedelta:
        """How far back before the station's newest reading the caller must fetch its
        readings: every rule looks back at most this far, plus one slow interval so
        the oldest reading a rule needs has its predecessor. The rules scale to a
        station's cadence (``alerts.health``), up to ``max_interval_min``: the window
        covers them at that interval too."""
        longest = max(
            self.confirm_window_min,
            self.trend_window_min,
            self.flat_line_min_duration_min,
            self.gap_min,
            (self.trend_min_points + 1) * self.max_interval_min,
            (self.confirm_count + 0.5) * self.max_interval_min,
            3 * self.max_interval_min,
        )
        return timedelta(minutes=longest + self.slow_interval_min)

    @classmethod
    def for_station(cls, overrides: dict[str, Any] | None, base: RuleSettings | None = None) -> RuleSettings:
        """The defaults (or ``base``) with a station's ``alert_rules`` JSON applied."""
        if not overrides:
            return base or DEFAULT
        if not isinstance(overrides, dict):
            raise RuleSettingsError("alert rules must be a JSON object of setting: value")
        merged = (base or DEFAULT).model_dump() | overrides
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'alert_rules'}: {e['msg']}" for e in exc.errors()
            )
            raise RuleSettingsError(f"invalid alert rules: {problems}") from None


DEFAULT = RuleSettings()


def load_rules(path: Path) -> RuleSettings:
    """Deployment-wide rule settings from a YAML file of ``setting: value`` lines
    (what differs from the defaults); stations' own ``alert_rules`` apply on top."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RuleSettingsError(f"{path}: {error}") from None
    try:
        return RuleSettings.for_station(document or {})
    except RuleSettingsError as error:
        raise RuleSettingsError(f"{path}: {error}") from None
