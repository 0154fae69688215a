"""Replays of real crisis-gauge data (tests/alerts/data, MLIT 川の水位情報): the engine
alerts on a real flood, and raises only staff-only conditions on real sensor faults
that the source's naive threshold flags call floods."""

from __future__ import annotations

import csv
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from alerts.evaluate import evaluate
from alerts.model import Assessment, Kind, Sample, StationState
from alerts.rules import RuleSettings
from kawamori.model import Quality, Station, crisis_gauge_stages

DATA = Path(__file__).parent / "data"
DEFAULT = RuleSettings()  # no station overrides: the rules scale to each gauge's own cadence


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
        mount_height_m=max(200.0, danger + 100),
        level_min_m=start - 10,
        level_max_m=max(200.0, danger + 100),
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


def replay(code: str, settings: RuleSettings = DEFAULT, samples: list[Sample] | None = None) -> Replay:
    """Evaluate after every reading, as the service would, with the readings of
    ``settings.window`` before it (kept incrementally: linear in the readings), and
    health ticks every hour of a silence."""
    station = gauge(code)
    naive: list[bool] = []
    if samples is None:
        samples, naive = readings(code)
    state, out, window = StationState(), [], deque()
    for sample in samples:
        if window:
            tick = window[-1].time + timedelta(hours=1)
            while tick < sample.time:
                state = evaluate(station, list(window), state, now=tick, settings=settings).state
                tick += timedelta(hours=1)
        window.append(sample)
        while sample.time - window[0].time > settings.window:
            window.popleft()
        assessment = evaluate(station, list(window), state, now=sample.time, settings=settings)
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
        settings=DEFAULT,
    )
    found = {c.kind: c for c in later.conditions}
    assert found[Kind.stage].stale and found[Kind.offline].details["critical"]


def test_the_same_flood_reported_every_ten_minutes_alerts_no_later():
    """The kuwano flood resampled to 10-minute readings (linear between the hourly
    ones): the same default rules confirm the danger stage no later in wall-clock."""
    hourly, _ = readings("8800000052")
    ten: list[Sample] = []
    for a, b in pairwise(hourly):
        steps = max(1, round((b.time - a.time) / timedelta(minutes=10)))
        for k in range(steps):
            frac = k / steps
            ten.append(
                Sample(
                    a.time + (b.time - a.time) * frac, round(a.level_m + (b.level_m - a.level_m) * frac, 3)
                )
            )
    ten.append(hourly[-1])
    slow, fast = replay("8800000052"), replay("8800000052", samples=ten)

    def first_stage(r: Replay) -> datetime:
        return next(r.samples[i].time for i in range(len(r.samples)) if Kind.stage in r.kinds(i))

    assert first_stage(fast) <= first_stage(slow)


@pytest.mark.parametrize(
    ("code", "tests"),
    [
        pytest.param("4321300007", {"suspect_range", "flat_line"}, id="stuck-at-40.71m"),
        pytest.param("0400000135", {"suspect_range"}, id="snow-or-ice"),
        pytest.param("8100000342", {"suspect_range"}, id="erratic"),
    ],
)
def test_real_sensor_faults_raise_only_staff_conditions(code, tests):
    fault = replay(code)
    assert sum(fault.naive_flood) >= 10  # the source's naive flags call these floods
    assert not {Kind.stage, Kind.forecast} & fault.seen()
    assert Kind.sensor in fault.seen()
    assert tests <= fault.tests()  # the flat line too: it scales to the hourly cadence


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


def test_a_stuck_sensor_dithering_by_a_centimetre_above_danger_never_confirms_a_stage():
    """平糠川朴舘橋: 197.54–197.55 m (danger 195.95 m) hour after hour for days."""
    stuck = replay("0300000205")
    start = next(i for i, s in enumerate(stuck.samples) if s.level_m >= 197.5)
    first_day = range(start, start + 24)
    assert not any(Kind.stage in stuck.kinds(i) for i in first_day)
    assert not any(Kind.forecast in stuck.kinds(i) for i in range(len(stuck.samples)))
    assert "flat_line" in stuck.tests()


def test_a_stage_is_not_held_through_a_long_silence_and_does_not_revive():
    """平石川: level 4 at 216.4 m, then 20 hours of silence: no data, and the first
    reading back is judged on its own (lone), not as the old stage."""
    station = gauge("0700000480")
    quiet = replay("0700000480")
    before = max(i for i, s in enumerate(quiet.samples) if s.time.day == 1 and s.time.month == 3)
    assert quiet.kinds(before)[Kind.stage] == (4, "danger")
    state = quiet.assessments[before].state
    later = evaluate(station, [], state, now=state.last_time + timedelta(hours=7), settings=DEFAULT)
    found = {c.kind: c for c in later.conditions}
    assert Kind.stage not in found and found[Kind.offline].details["no_data"] is True
    back = before + 1
    assert quiet.kinds(back) == {Kind.unverified: (4, "danger")}
    unverified = next(c for c in quiet.assessments[back].conditions if c.kind is Kind.unverified)
    assert unverified.details["reason"] == "lone" and unverified.details["plausible"] is False
