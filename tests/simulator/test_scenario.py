"""Scenario files (simulator/scenario.py): the schema, its error messages, and the
shipped scenarios in scenarios/, whose planned rivers must do what their
expectations say."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import scenario as schema
from simulator.plan import plan
from simulator.scenario import ScenarioError, format_offset, load_scenario, parse_offset

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
REQUIRED = {
    "typhoon-two-rivers",
    "flash-flood-small-river",
    "sensor-failing-at-high-water",
    "false-spike",
    "long-outage-backlog",
    "drill",
}

# -- offsets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02:10", timedelta(hours=2, minutes=10)),
        ("00:00", timedelta(0)),
        ("36:05:30", timedelta(hours=36, minutes=5, seconds=30)),
        (" 1:00 ", timedelta(hours=1)),
    ],
)
def test_offsets(text, expected):
    assert parse_offset(text) == expected


@given(st.integers(min_value=0, max_value=99 * 3600))
def test_offsets_round_trip(seconds):
    delta = timedelta(seconds=seconds)
    assert parse_offset(format_offset(delta)) == delta


# -- the shipped scenarios -----------------------------------------------------------------


def test_the_six_scenarios_of_the_issue_are_shipped():
    assert {load_scenario(path).name for path in SCENARIOS} >= REQUIRED
    assert {path.stem for path in SCENARIOS} >= REQUIRED


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda p: p.stem)
def planned(request):
    return plan(load_scenario(request.param))


def test_every_scenario_has_expectations(planned):
    assert planned.scenario.expectations
    assert planned.scenario.description


def offset(planned, when):
    return None if when is None else when - planned.scenario.time.start


def stage_left(river, key: str):
    """When the evaluator's hysteresis (docs/alerts.md §3) lets the station leave the
    stage on the true river: the highest stage reached is left once the level has been
    below it minus the exit margin for the dwell time; each stage below is left at the
    same moment if the level is already below its own exit threshold, else after its
    own dwell."""
    from alerts.rules import RuleSettings

    rules = RuleSettings()
    margin, dwell = rules.exit_margin_m, timedelta(minutes=rules.dwell_min)
    stages = list(river.station.stages)
    levels, times = river.levels, river.times
    peak = int(max(range(len(levels)), key=lambda i: levels[i]))
    reached = [i for i, stage in enumerate(stages) if levels[peak] >= stage.level_m]
    wanted = next(i for i, stage in enumerate(stages) if stage.key == key)
    assert reached and wanted <= reached[-1], key

    def below(after, threshold):
        for i in range(peak, len(levels)):
            stays = all(levels[j] < threshold for j in range(i, len(levels)) if times[j] <= times[i] + dwell)
            if times[i] >= after and stays:  # below, and staying below for the dwell time
                return times[i]
        return None

    left = times[peak]
    for index in range(reached[-1], wanted - 1, -1):
        threshold = stages[index].level_m - margin
        at = next(i for i, t in enumerate(times) if t >= left)
        if index < reached[-1] and levels[at] < threshold:
            continue  # left together with the stage above
        start = below(left, threshold)
        if start is None:
            return None
        left = start + dwell
    return left


def test_stage_expectations_hold_on_the_planned_river(planned):
    for expectation in planned.scenario.expectations:
        if isinstance(expectation, schema.EntersStage):
            crossed = offset(planned, planned.stations[expectation.station].crossings()[expectation.stage])
            low, high = expectation.between
            assert crossed is not None and low <= crossed <= high, (expectation, crossed)
        elif isinstance(expectation, schema.LeavesStage):
            left = offset(planned, stage_left(planned.stations[expectation.station], expectation.stage))
            assert left is not None and expectation.between[0] <= left <= expectation.between[1], (
                expectation,
                left,
            )
        elif isinstance(expectation, schema.StaysBelow):
            river = planned.stations[expectation.station]
            assert river.crossings()[expectation.stage] is None, expectation


def reached_level(planned, station_id: str, by: timedelta) -> int:
    """The highest 警戒レベル whose stage the river at the station reached before ``by``."""
    river = planned.stations[station_id]
    crossings = river.crossings()
    return max(
        (
            stage.alert_level
            for stage in river.station.stages
            if stage.alert_level is not None
            and crossings[stage.key] is not None
            and offset(planned, crossings[stage.key]) <= by
        ),
        default=0,
    )


def test_alert_expectations_follow_from_the_river(planned):
    areas = {a.id: a for a in planned.scenario.network.areas}
    for expectation in planned.scenario.expectations:
        if isinstance(expectation, schema.Alert):
            stations = [expectation.station] if expectation.station else areas[expectation.area].station_ids
            assert max(reached_level(planned, s, expectation.by) for s in stations) >= expectation.level
        elif isinstance(expectation, schema.NoPublicAlert):
            stations = [expectation.station] if expectation.station else areas[expectation.area].station_ids
            end = planned.scenario.time.duration
            assert all(reached_level(planned, s, end) < 2 for s in stations), expectation


def test_level_four_alerts_wait_for_approval(planned):
    for expectation in planned.scenario.expectations:
        if isinstance(expectation, schema.Alert) and expectation.level >= 4:
            assert expectation.state == "pending_approval"


def test_every_sent_reading_is_delivered(planned):
    for river in planned.stations.values():
        assert {d.reading for d in river.stream.deliveries} == set(river.stream.readings)


def test_the_drill_is_an_exercise_that_reaches_no_public_channel():
    drill = load_scenario(ROOT / "scenarios" / "drill.yaml")
    assert drill.status == "Exercise"
    assert any(isinstance(e, schema.NoPublicChannel) for e in drill.expectations)


def test_the_false_spikes_look_like_floods_to_a_naive_threshold():
    planned = plan(load_scenario(ROOT / "scenarios" / "false-spike.yaml"))
    for station_id in ("fujishima-fujikawa", "kyoden-chiwara"):
        river = planned.stations[station_id]
        danger = river.station.stages[-1].level_m
        assert max(r.level_m for r in river.stream.readings) > danger
        assert max(r.true_level_m for r in river.stream.readings) < danger


def test_the_outage_flushes_its_backlog_after_the_network_returns():
    planned = plan(load_scenario(ROOT / "scenarios" / "long-outage-backlog.yaml"))
    start = planned.scenario.time.start
    silent = [d for d in planned.deliveries() if timedelta(hours=3) <= d.at - start < timedelta(hours=7)]
    assert silent == []
    held = [
        d
        for d in planned.deliveries()
        if timedelta(hours=3) <= d.reading.true_time - start < timedelta(hours=7)
    ]
    assert len({d.reading for d in held}) == 5 * 48  # five boards, a reading every 5 minutes
    assert all(d.at - start >= timedelta(hours=7) for d in held)
    assert all(d.reading.time == d.reading.true_time for d in held)  # original stamps


def test_planning_is_deterministic():
    path = ROOT / "scenarios" / "sensor-failing-at-high-water.yaml"
    first, second = plan(load_scenario(path)), plan(load_scenario(path))
    assert first.deliveries() == second.deliveries()
    assert first.notes() == second.notes()


def test_a_replaced_board_continues_the_station_under_its_own_id():
    planned = plan(load_scenario(ROOT / "scenarios" / "sensor-failing-at-high-water.yaml"))
    readings = planned.stations["kyoden-jumonji"].stream.readings
    assert {r.device_id for r in readings} == {"kw-demo-02", "kw-demo-02b"}
    assert [r.seq for r in readings if r.device_id == "kw-demo-02b"][:3] == [0, 1, 2]


# -- validation errors ---------------------------------------------------------------------

VALID = """\
name: tiny
time: {start: 2025-09-20T21:00:00+09:00, duration: "06:00"}
network: ../kawamori/demo/network.yaml
rain:
  - {start: "00:00", duration: "03:00", intensity_mm_h: 30}
"""


def write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    (tmp_path / "kawamori" / "demo").mkdir(parents=True, exist_ok=True)
    (tmp_path / "kawamori" / "demo" / "network.yaml").write_text(
        (ROOT / "kawamori" / "demo" / "network.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    path = folder / "s.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_minimal_scenario_loads_with_defaults(tmp_path):
    loaded = load_scenario(write(tmp_path, VALID))
    assert loaded.status == "Actual"
    assert loaded.devices.interval == timedelta(minutes=1)
    assert loaded.rain[0].duration == timedelta(hours=3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("colour: blue\n", ":6: colour: Extra inputs are not permitted"),
        (
            "faults:\n  - {kind: spike, station: kyoden-chiwara, at: '01:00'}\n",
            ":7: faults[0].height_m: Field required",
        ),
        (
            "faults:\n  - {kind: flood, station: kyoden-chiwara}\n",
            ":7: faults[0]: Input tag 'flood' found using 'kind' does not match",
        ),
        (
            "faults:\n  - kind: spike\n    station: nowhere\n    at: '01:00'\n    height_m: 3\n",
            ":8: faults[0].station: unknown station 'nowhere'",
        ),
        (
            "expectations:\n  - {kind: enters_stage, station: kyoden-chiwara, stage: flood,"
            " between: [01:00, 02:00]}\n",
            ":7: expectations[0].stage: station kyoden-chiwara has no stage 'flood'",
        ),
        (
            "expectations:\n  - {kind: alert, level: 4, state: pending_approval, by: '09:00'}\n",
            "expectations[0].by: 09:00 is after the scenario ends",
        ),
        (
            "expectations:\n  - {kind: alert, level: 4, state: pending_approval, by: '01:00'}\n",
            ":7: expectations[0]: name either a station or an area",
        ),
        (
            "devices: {interval: '00:00:30'}\n",
            ":6: devices.interval: must be a positive multiple of time.step",
        ),
        ("status: Drill\n", ":6: status: Input should be 'Actual', 'Exercise' or 'Test'"),
        (
            "faults:\n  - {kind: outage, start: '02:00', end: '01:00'}\n",
            ":7: faults[0].end: must be after start",
        ),
        (
            "staff:\n  - {at: '01:00', action: approve, area: area-nowhere}\n",
            ":7: staff[0].area: unknown area 'area-nowhere'",
        ),
        (
            "staff:\n  - {at: '01:00', action: decline, area: area-kyoden-upper}\n",
            ":7: staff[0].reason: a reason is required to decline",
        ),
        (
            "staff:\n  - {at: '01:00', action: approve, area: area-kyoden-upper, role: operator}\n"
            "  - {at: '02:00', action: approve, area: area-kyoden-upper}\n",
            ":8: staff[1].role: duty-officer is already operator",
        ),
        (
            "expectations:\n  - {kind: issued_level, area: area-kyoden-upper, between: ['01:00', '02:00']}\n",
            ":7: expectations[0]: give never_below or never_above",
        ),
        (
            "expectations:\n  - {kind: issued, area: area-x, level: 4, by: '01:00'}\n",
            ":7: expectations[0].area: unknown area 'area-x'",
        ),
    ],
)
def test_errors_name_the_line_and_the_path(tmp_path, extra, message):
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, VALID + extra))
    assert message in str(caught.value)


def test_times_written_without_quotes_are_times_not_sexagesimal_numbers(tmp_path):
    loaded = load_scenario(write(tmp_path, VALID.replace('"00:00"', "00:00").replace('"03:00"', "03:00")))
    assert loaded.rain[0].duration == timedelta(hours=3)


def test_a_missing_network_file_is_reported(tmp_path):
    path = write(tmp_path, VALID.replace("../kawamori/demo/network.yaml", "nowhere.yaml"))
    with pytest.raises(ScenarioError, match=r"s.yaml:3: network: .*nowhere.yaml"):
        load_scenario(path)


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="a scenario is a mapping"):
        load_scenario(write(tmp_path, "- 1\n"))
