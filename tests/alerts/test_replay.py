"""Replays of real crisis-gauge data (tests/alerts/data, MLIT 川の水位情報): the engine
alerts on a real flood, and raises only staff-only conditions on real sensor faults
that the source's naive threshold flags call floods."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.evaluate import evaluate
from alerts.model import Assessment, Kind, Sample, StationState
from alerts.rules import RuleSettings
from kawamori.model import Quality, Station, crisis_gauge_stages

DATA = Path(__file__).parent / "data"

# The data are hourly snapshots (readings up to 2 h 10 min apart): a gauge reporting this
# rarely gets these station overrides (stations.alert_rules) instead of the 10-minute defaults.
HOURLY = RuleSettings.for_station(
    {
        "slow_interval_min": 60,
        "gap_min": 180,
        "confirm_window_min": 180,
        "trend_window_min": 360,
        "flat_line_count": 4,
        "flat_line_min_duration_min": 180,
    }
)


def gauge(code: str) -> Station:
    with (DATA / "stations.csv").open(encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["code"] == code)
    start, danger = float(row["start_level_m"]), float(row["danger_level_m"])
    warning = float(row["warning_level_m"]) if row["warning_level_m"] else None
    # the physical range is unknown: make it wide so that only the evaluator's QC acts
    return Station(
        id=code,
        name_ja=row["name"],
        name_en=code,
        river_ja=row["name"],
        river_en=code,
        latitude=float(row["latitude"]),
        longitude=float(row["longitude"]),
        mount_height_m=200.0,
        level_min_m=start - 10,
        level_max_m=200.0,
        stages=crisis_gauge_stages(start, danger, warning),
    )


def readings(code: str) -> tuple[list[Sample], list[bool]]:
    path = next(DATA.glob(f"{code}-*.csv"))
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    samples = [
        Sample(datetime.fromisoformat(r["observed_at"].replace("Z", "+00:00")), float(r["level_m"]))
        for r in rows
    ]
    return samples, [r["source_is_flood"] == "1" for r in rows]


@dataclass
class Replay:
    samples: list[Sample]
    naive_flood: list[bool]
    assessments: list[Assessment]

    def kinds(self, i: int) -> dict[Kind, tuple[int | None, str | None]]:
        return {c.kind: (c.alert_level, c.stage_key) for c in self.assessments[i].conditions}

    def seen(self) -> set[Kind]:
        return {c.kind for a in self.assessments for c in a.conditions}

    def tests(self) -> set[str]:
        return {
            t
            for a in self.assessments
            for c in a.conditions
            if c.kind is Kind.sensor
            for t in c.details["tests"]
        }


def replay(code: str, settings: RuleSettings = HOURLY) -> Replay:
    """Evaluate after every reading, as the service would, with the readings of
    ``settings.window`` before it."""
    station = gauge(code)
    samples, naive = readings(code)
    state, out = StationState(), []
    for i, sample in enumerate(samples):
        window = [s for s in samples[: i + 1] if sample.time - s.time <= settings.window]
        assessment = evaluate(station, window, state, now=sample.time, settings=settings)
        state = assessment.state
        out.append(assessment)
    return Replay(samples, naive, out)


def test_real_flood_kuwano_river_raises_the_danger_stage():
    flood = replay("8800000052")
    levels = [s.level_m for s in flood.samples]
    first_above = levels.index(4.01)  # 15:10 UTC, the first reading above danger (3.73 m)
    assert all(Kind.stage not in flood.kinds(i) for i in range(first_above))
    # staff see the first reading above danger at once; residents one reading later
    assert flood.kinds(first_above) == {Kind.unverified: (4, "danger")}
    assert flood.kinds(first_above + 1)[Kind.stage] == (4, "danger")
    # held through the peak and the recession (hysteresis), never a sensor fault
    assert all(flood.kinds(i).get(Kind.stage) == (4, "danger") for i in range(first_above + 1, len(levels)))
    assert Kind.sensor not in flood.seen()
    # the gauge then falls silent (crisis gauges stop below observation start): stale, not cleared
    last = flood.assessments[-1].state
    later = evaluate(
        gauge("8800000052"),
        flood.samples[-3:],
        last,
        now=last.last_time + timedelta(hours=4),
        settings=HOURLY,
    )
    found = {c.kind: c for c in later.conditions}
    assert found[Kind.stage].stale and found[Kind.offline].details["critical"]


def test_real_flood_with_the_default_ten_minute_settings_still_alerts():
    flood = replay("8800000052", RuleSettings())
    assert any(Kind.stage in flood.kinds(i) for i in range(len(flood.samples)))


@pytest.mark.parametrize(
    ("code", "tests"),
    [
        pytest.param("4321300007", {"suspect_range", "flat_line"}, id="stuck-at-40.71m"),
        pytest.param("0400000135", {"suspect_range"}, id="snow-or-ice"),
        pytest.param("8100000342", {"suspect_range"}, id="erratic"),
    ],
)
@pytest.mark.parametrize("settings", [HOURLY, RuleSettings()], ids=["hourly-overrides", "defaults"])
def test_real_sensor_faults_raise_only_staff_conditions(code, tests, settings):
    fault = replay(code, settings)
    assert sum(fault.naive_flood) >= 10  # the source's naive flags call these floods
    assert not {Kind.stage, Kind.forecast} & fault.seen()
    assert Kind.sensor in fault.seen()
    # hourly readings are too sparse for the flat-line test at the 10-minute defaults
    assert (tests if settings is HOURLY else {"suspect_range"}) <= fault.tests()


def test_stuck_sensor_readings_are_flagged_for_storage():
    stuck = replay("4321300007")
    flags = {t: q for a in stuck.assessments for t, q in a.flagged}
    at_40 = [s.time for s in stuck.samples if s.level_m == 40.71]
    assert all(flags[t] & Quality.SUSPECT_RANGE for t in at_40)
    assert sum(bool(flags[t] & Quality.FLAT_LINE) for t in at_40) > len(at_40) // 2


def test_lone_readings_above_danger_are_shown_to_staff_as_unverified():
    for code in ("0400000135", "8100000342"):
        fault = replay(code)
        unverified = [c for a in fault.assessments for c in a.conditions if c.kind is Kind.unverified]
        assert unverified and {c.details["reason"] for c in unverified} == {"lone"}
        assert not any(c.public for c in unverified)
