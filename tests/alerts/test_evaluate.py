"""evaluate(): a station's readings, state and now → new state, conditions, QC flags."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.evaluate import conditions, evaluate, state_from_json, state_to_json
from alerts.model import Kind, Sample, StationState
from alerts.rules import DEFAULT, RuleSettings
from alerts.stages import index_of, reached
from kawamori.model import Quality
from tests.alerts.factories import JP_STAGES, T0, at, series, station

STATION = station()


def replay(samples, settings=DEFAULT, neighbours=None, now=None, prior=None, every=1):
    """Evaluate as the service would: after every ``every`` new readings, with the
    window the settings ask for. Returns the assessments."""
    state, out = prior or StationState(), []
    for end in range(every, len(samples) + every, every):
        newest = samples[min(end, len(samples)) - 1].time
        window = [s for s in samples[:end] if newest - s.time <= settings.window]
        assessment = evaluate(
            STATION, window, state, now=now or newest, settings=settings, neighbours=neighbours or {}
        )
        state = assessment.state
        out.append(assessment)
    return out


def kinds(assessment):
    return {c.kind: (c.alert_level, c.stage_key) for c in assessment.conditions}


def public(assessment):
    return {k: v for k, v in kinds(assessment).items() if k in (Kind.stage, Kind.forecast)}


S = Kind.stage
CASES = [
    # name, levels every 10 min, the public conditions after the last one
    ("low-water", [1.0, 1.02, 1.01, 1.03], {}),
    ("standby-has-no-alert-level", [2.2, 2.25, 2.3, 2.28], {}),
    ("caution", [3.1, 3.15, 3.1, 3.12], {S: (2, "caution")}),
    ("judgement", [4.1, 4.15, 4.1, 4.12], {S: (3, "judgement")}),
    ("danger", [5.1, 5.2, 5.2, 5.15], {S: (4, "danger")}),
    ("flooding", [6.1, 6.2, 6.25, 6.2], {S: (5, "flooding")}),
    ("a-single-spike-is-not-a-flood", [1.0, 1.0, 5.5, 1.0, 1.0], {}),
    ("a-single-new-jump-is-not-yet-a-flood", [1.0, 1.0, 1.0, 5.5], {}),
    ("stuck-far-above-the-top-stage", [9.5] * 8, {}),
    (
        "hovering-within-the-margin-stays",
        [3.1, 3.1, 3.1, 2.95, 2.92, 2.95, 2.93, 2.94, 2.96],
        {S: (2, "caution")},
    ),
    ("left-after-the-dwell", [3.1, 3.1, 3.1] + [2.5] * 8, {}),
]


@pytest.mark.parametrize(("levels", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_public_conditions(levels, expected):
    assert public(replay(series(levels))[-1]) == expected


def test_stage_details_for_people():
    last = replay(series([5.0, 5.1, 5.15, 5.2, 5.2, 5.3]))[-1]
    stage = next(c for c in last.conditions if c.kind is Kind.stage)
    assert stage.public and not stage.stale
    assert (stage.alert_level, stage.stage_key) == (4, "danger")
    assert stage.details["stage_ja"] == "氾濫危険水位" and stage.details["stage_en"] == "Flood danger"
    assert stage.details["level_m"] == 5.2  # the lower median of the last three
    assert stage.details["observed_at"] == at(50).isoformat()
    assert stage.details["since"] == at(10).isoformat()
    assert stage.details["rate_m_h"] == pytest.approx(0.3)  # Theil–Sen: the median of 15 pairwise slopes
    json.dumps(stage.details)


def test_entering_needs_two_readings_at_the_stage():
    trail = [kinds(a).get(S) for a in replay(series([2.9, 2.9, 3.05, 3.1]))]
    assert trail == [None, None, None, (2, "caution")]


def test_an_oscillating_sensor_enters_once():
    levels = [2.8, 3.2] * 12  # flips across the caution level every 10 minutes for 4 hours
    entries = 0
    was = False
    for a in replay(series(levels)):
        now = Kind.stage in kinds(a)
        entries += now and not was
        was = now
    assert entries <= 1


def test_escalation_is_not_held_back_by_a_dwell():
    trail = [public(a).get(S) for a in replay(series([3.2, 3.2, 2.8, 2.8, 4.2, 4.3]))]
    assert trail[-1] == (3, "judgement")


def test_forecast_of_the_highest_stage_within_the_lead_time():
    rising = [3.2 + 0.1 * i for i in range(7)]  # 0.6 m/h from 3.2 m: judgement in ~0.5 h, danger ~2.2 h
    last = replay(series(rising))[-1]
    forecast = next(c for c in last.conditions if c.kind is Kind.forecast)
    assert (forecast.alert_level, forecast.stage_key) == (4, "danger")
    assert forecast.details["rate_m_h"] == pytest.approx(0.6, abs=0.01)
    assert 1.0 < forecast.details["hours"] < 3.0
    assert forecast.details["eta"] > forecast.details["observed_at"]


@pytest.mark.parametrize(
    ("levels", "forecast"),
    [
        pytest.param([3.2 + 0.01 * i for i in range(7)], None, id="too-slow"),
        pytest.param([3.8 - 0.05 * i for i in range(7)], None, id="falling"),
        pytest.param([3.6 + 0.05 * i for i in range(7)], (3, "judgement"), id="next-stage-only"),
    ],
)
def test_forecast_table(levels, forecast):
    last = replay(series(levels))[-1]
    found = [(c.alert_level, c.stage_key) for c in last.conditions if c.kind is Kind.forecast]
    assert found == ([] if forecast is None else [forecast])


@pytest.mark.parametrize(
    ("levels", "reason"),
    [
        pytest.param([1.0, 1.0, 5.5], "rate", id="implausible-rate"),
        pytest.param([4.7, 4.75, 5.1], "jump", id="fast-jump"),
        pytest.param([4.8, 4.85, 5.01], "awaiting", id="awaiting-confirmation"),
    ],
)
def test_an_unconfirmed_reading_at_a_higher_stage_is_unverified(levels, reason):
    last = replay(series(levels))[-1]
    unverified = next(c for c in last.conditions if c.kind is Kind.unverified)
    assert not unverified.public
    assert (unverified.alert_level, unverified.stage_key, unverified.details["reason"]) == (
        4,
        "danger",
        reason,
    )
    assert Kind.stage not in kinds(last) or kinds(last)[Kind.stage][0] < 4


def test_a_lone_reading_after_a_gap_is_unverified():
    samples = series([1.0, 1.0]) + series([5.3], start=T0 + timedelta(hours=5))
    last = replay(samples)[-1]
    assert kinds(last) == {Kind.unverified: (4, "danger")}
    assert last.conditions[0].details["reason"] == "lone"


def test_a_jump_is_confirmed_by_the_next_readings():
    trail = [public(a).get(S) for a in replay(series([1.0, 1.0, 5.5, 5.6, 5.6]))]
    assert trail == [None, None, None, (4, "danger"), (4, "danger")]


def test_a_jump_that_the_next_reading_contradicts_never_counts():
    samples = series([3.2]) + series([1.0, 1.0, 1.0], start=at(10))  # a lone first reading at caution
    assert all(kinds(a).get(S) is None for a in replay(samples))


@pytest.mark.parametrize(
    ("neighbours", "stage"),
    [
        pytest.param({"up": 4}, (4, "danger"), id="neighbour-at-danger"),
        pytest.param({"up": 3}, (4, "danger"), id="neighbour-one-level-below"),
        pytest.param({"up": 2}, None, id="neighbour-too-low"),
        pytest.param({"up": None, "down": None}, None, id="neighbours-calm"),
        pytest.param({}, None, id="no-neighbours"),
    ],
)
def test_a_neighbour_corroborates_an_unverified_jump(neighbours, stage):
    last = replay(series([1.0, 1.0, 5.5]), neighbours=neighbours)[-1]
    assert public(last).get(S) == stage
    if stage:
        assert Kind.unverified not in kinds(last)
        assert last.conditions[0].details["corroborated_by"] == "up"


def test_a_neighbour_that_confirms_later_is_taken_without_a_new_reading():
    first = replay(series([1.0, 1.0, 5.5]))[-1]
    later = evaluate(
        STATION, series([1.0, 1.0, 5.5]), first.state, now=at(25), settings=DEFAULT, neighbours={"up": 4}
    )
    assert public(later) == {S: (4, "danger")}


def test_a_spike_raises_a_sensor_condition_for_staff():
    assessments = replay(series([1.0, 1.0, 3.0, 1.0]))
    sensor = next(c for c in assessments[-1].conditions if c.kind is Kind.sensor)
    assert not sensor.public
    assert sensor.details["tests"] == ["spike", "rate"]
    assert assessments[-1].flagged == ((at(20), int(Quality.SPIKE | Quality.RATE)),)


def test_ingest_flags_make_readings_count_for_nothing():
    samples = series([5.5] * 6, quality=int(Quality.SENSOR_ERROR))
    last = replay(samples)[-1]
    assert public(last) == {}
    assert next(c for c in last.conditions if c.kind is Kind.sensor).details["tests"] == ["sensor_error"]
    assert last.flagged == ()  # nothing for the QC bits to add


def test_flat_line_is_stored_for_the_new_readings():
    assessments = replay(series([2.0] * 8))
    flagged = [a.flagged for a in assessments]
    assert flagged[4] == ()
    assert flagged[5] == ((at(50), int(Quality.FLAT_LINE)),)


def test_offline_at_high_water_is_critical_and_keeps_the_stage_stale():
    samples = series([4.8, 5.1, 5.2, 5.2], every_min=2)
    ok = replay(samples)[-1]
    late = evaluate(
        STATION, samples, ok.state, now=samples[-1].time + timedelta(minutes=16), settings=DEFAULT
    )
    found = {c.kind: c for c in late.conditions}
    assert found[Kind.stage].stale and found[Kind.stage].alert_level == 4
    assert found[Kind.offline].details["critical"] is True
    assert found[Kind.offline].details["expected_interval_min"] == 2
    back = evaluate(
        STATION,
        [*samples, Sample(late.state.last_time + timedelta(minutes=17), 5.2)],
        late.state,
        now=late.state.last_time + timedelta(minutes=17),
        settings=DEFAULT,
    )
    assert not any(c.stale for c in back.conditions) and Kind.offline not in kinds(back)


def test_offline_at_low_water_is_not_critical():
    samples = series([1.0, 1.0])
    late = replay(samples, now=samples[-1].time + timedelta(minutes=31))[-1]
    assert kinds(late) == {Kind.offline: (None, None)}
    assert late.conditions[0].details["critical"] is False


def test_a_station_that_never_reported_is_offline():
    fresh = evaluate(STATION, [], StationState(), now=T0, settings=DEFAULT)
    assert kinds(fresh) == {Kind.offline: (None, None)}


def test_readings_after_now_are_ignored():
    samples = series([1.0, 1.0, 5.5, 5.5, 5.5])
    assessment = evaluate(STATION, samples, StationState(), now=at(15), settings=DEFAULT)
    assert assessment.state.last_time == at(10)


def test_a_stage_key_that_no_longer_exists_is_dropped():
    prior = StationState(stage_key="gone", last_time=at(-10))
    assessment = evaluate(STATION, series([1.0]), prior, now=T0, settings=DEFAULT)
    assert assessment.state.stage_key is None


def test_conditions_come_from_the_state_alone():
    assessment = replay(series([4.8, 5.1, 5.2, 5.3]))[-1]
    assert conditions(STATION, assessment.state, DEFAULT) == assessment.conditions


def test_station_overrides_change_the_rules():
    immediate = RuleSettings.for_station({"confirm_count": 1})
    trail = [public(a).get(S) for a in replay(series([2.9, 2.95, 3.05]), settings=immediate)]
    assert trail[-1] == (2, "caution")


# -- properties -----------------------------------------------------------------

level = st.one_of(st.floats(0, 12), st.sampled_from([math.nan, math.inf, 2.95, 3.0, 5.0, 9.5]))


@st.composite
def histories(draw):
    gaps = draw(st.lists(st.integers(1, 40), min_size=1, max_size=25))
    levels = draw(st.lists(level, min_size=len(gaps), max_size=len(gaps)))
    qualities = draw(
        st.lists(st.sampled_from([0, 0, 0, 1, 4, 16, 32, 128]), min_size=len(gaps), max_size=len(gaps))
    )
    minutes, out = 0, []
    for gap, lv, q in zip(gaps, levels, qualities, strict=True):
        minutes += gap
        out.append(Sample(at(minutes), lv, q))
    return out


neighbour_maps = st.dictionaries(st.sampled_from(["up", "down"]), st.none() | st.integers(1, 5), max_size=2)


@settings(max_examples=150)
@given(histories(), st.integers(1, 4), st.integers(0, 60), neighbour_maps)
def test_evaluation_is_deterministic_and_idempotent(samples, every, late_min, neighbours):
    assessments = replay(samples, every=every, neighbours=neighbours)
    last = assessments[-1]
    now = samples[-1].time + timedelta(minutes=late_min)
    window = [s for s in samples if samples[-1].time - s.time <= DEFAULT.window]
    again = evaluate(
        STATION, window, last.state, now=samples[-1].time, settings=DEFAULT, neighbours=neighbours
    )
    assert again.conditions == last.conditions and again.state == last.state and again.flagged == ()
    once = evaluate(STATION, window, last.state, now=now, settings=DEFAULT, neighbours=neighbours)
    twice = evaluate(STATION, window, once.state, now=now, settings=DEFAULT, neighbours=neighbours)
    assert once == twice


@settings(max_examples=150)
@given(histories(), st.integers(1, 4))
def test_the_state_round_trips_through_json(samples, every):
    for assessment in replay(samples, every=every):
        text = json.dumps(state_to_json(assessment.state), allow_nan=False)
        assert state_from_json(json.loads(text)) == assessment.state
        for condition in assessment.conditions:
            json.dumps(condition.details, allow_nan=False)


@given(histories())
def test_flagged_readings_alone_never_raise_a_public_condition(samples):
    bad = [replace(s, quality=s.quality | int(Quality.SENSOR_ERROR)) for s in samples]
    assert all(not public(a) for a in replay(bad))


@given(st.floats(0.5, 5.5), st.integers(0, 20), st.floats(0.6, 5), st.booleans())
def test_a_single_spike_never_raises_the_stage(base, where, height, up):
    levels = [base] * 21
    levels[where] = base + height if up else max(0.1, base - height)
    calm = reached(JP_STAGES, base)
    calm_level = JP_STAGES[calm].alert_level if calm >= 0 else None
    for assessment in replay(series(levels)):
        assert (kinds(assessment).get(S, (0, None))[0] or 0) <= (calm_level or 0)
        assert Kind.forecast not in kinds(assessment)


@settings(max_examples=150)
@given(
    st.lists(st.floats(2.6, 3.4), min_size=2, max_size=40),
    st.lists(st.integers(1, 15), min_size=40, max_size=40),
)
def test_a_level_oscillating_at_a_threshold_alerts_once_per_dwell(levels, gaps_min):
    minutes, samples = 0, []
    for level, gap in zip(levels, gaps_min, strict=False):
        minutes += gap
        samples.append(Sample(at(minutes), level))
    entries, was = [], False
    for sample, assessment in zip(samples, replay(samples), strict=True):
        now = Kind.stage in kinds(assessment)
        if now and not was:
            entries.append(sample.time)
        was = now
    assert all(b - a >= timedelta(minutes=DEFAULT.dwell_min) for a, b in pairwise(entries))


@settings(max_examples=150)
@given(histories(), st.integers(1, 3))
def test_the_stage_is_never_below_the_confirmed_level(samples, every):
    for assessment in replay(samples, every=every):
        state = assessment.state
        if state.confirmed_m is not None:
            assert index_of(JP_STAGES, state.stage_key) >= reached(JP_STAGES, state.confirmed_m)


def test_state_from_empty_json_is_a_fresh_station():
    assert state_from_json({}) == StationState()
    assert state_from_json({"unknown_key": 1, "stage_key": "caution"}) == StationState(stage_key="caution")


@pytest.mark.parametrize(
    ("rate_m_h", "held", "expected"),
    [
        (0.3, None, None),  # 6.7 h to caution: beyond the 3 h lead
        (0.7, None, "caution"),  # 2.9 h: forecast
        (0.6, None, None),  # 3.3 h, no forecast out yet: none
        (0.6, "caution", "caution"),  # 3.3 h with one out: held (hysteresis up to 2 × lead)
        (0.3, "caution", None),  # 6.7 h: beyond the held horizon, it ends
        (0.0, "caution", None),  # the rise stopped: it ends
    ],
    ids=["far", "within-lead", "just-beyond-lead", "held", "beyond-hold", "rise-stopped"],
)
def test_a_forecast_out_is_held_while_the_trend_hovers_at_the_lead_time(rate_m_h, held, expected):
    state = StationState(
        usable_m=1.0, usable_at=T0, rate_m_h=rate_m_h, last_time=T0, forecast_key=held, rising=rate_m_h > 0
    )
    forecasts = [c for c in conditions(station(), state, RuleSettings()) if c.kind is Kind.forecast]
    assert [c.stage_key for c in forecasts] == ([expected] if expected else [])


def forecast_trail(hold_factor: float) -> list[bool]:
    """A rise that slows for an hour (the projection to caution drifts beyond the 3 h
    lead) and then picks up again: whether a forecast is out after each reading."""
    settings = RuleSettings(forecast_hold_factor=hold_factor)
    samples: list[Sample] = []
    state, trail, level = StationState(), [], 0.6
    for i, rise in enumerate([0.12] * 6 + [0.05] * 6 + [0.12] * 6):
        level += rise
        samples.append(Sample(T0 + timedelta(minutes=10 * i), level))
        assessment = evaluate(station(), samples[-12:], state, now=samples[-1].time, settings=settings)
        state = assessment.state
        trail.append(any(c.kind is Kind.forecast for c in assessment.conditions))
    return trail


def test_a_slowing_rise_keeps_its_forecast_instead_of_flapping():
    without_hysteresis = forecast_trail(1.0)
    first = without_hysteresis.index(True)
    assert not all(without_hysteresis[first:])  # on, off, on again: what residents must not get
    held = forecast_trail(RuleSettings().forecast_hold_factor)
    assert held.index(True) == first and all(held[first:])


# -- faults, silences, plausibility (issue 16) -------------------------------------


def test_a_stuck_value_above_danger_never_confirms_a_stage():
    assert all(S not in kinds(a) for a in replay(series([1.0, 5.4] + [5.4] * 10, every_min=60)))


def test_a_fault_holds_no_stage():
    levels = [4.8, 5.1, 5.2, 5.25] + [float("nan")] * 3
    trail = [kinds(a).get(S) for a in replay(series(levels))]
    assert trail[3] == (4, "danger") and trail[-1] is None


def test_after_a_long_silence_at_high_water_the_stage_ends_and_does_not_revive():
    samples = series([4.8, 5.1, 5.2, 5.25])
    held = replay(samples)[-1]
    late = evaluate(STATION, samples, held.state, now=samples[-1].time + timedelta(hours=7), settings=DEFAULT)
    found = {c.kind: c for c in late.conditions}
    assert S not in found and found[Kind.offline].details["no_data"] is True
    back = series([5.3], start=samples[-1].time + timedelta(hours=8))
    again = evaluate(STATION, samples + back, late.state, now=back[0].time, settings=DEFAULT)
    assert kinds(again) == {Kind.unverified: (4, "danger")}


@pytest.mark.parametrize(
    ("levels", "plausible"),
    [
        # 10 m is out of range (above the top stage + 3 m): two hours of sound readings
        # below the alerting stages later, the gauge is not trusted up there yet
        pytest.param([2.0, 2.3, 2.6, 2.9, 10.0, 2.7, 2.75, 3.1], False, id="faulted-2-h-ago"),
        pytest.param([2.0, 2.3, 2.6, 2.9, 10.0, 2.7, 2.7, 2.7, 2.75, 3.1], True, id="sound-for-the-dwell"),
        # back at the value of a spike three hours ago: the gauge flips, the water does not
        pytest.param([2.4, 2.6, 3.45, 2.6, 2.65, 3.45], False, id="repeats-a-spike"),
        pytest.param([2.4, 2.6, 3.45, 2.6, 2.65, 3.4], True, id="not-the-spike-value"),
    ],
)
def test_a_gauge_caught_faulting_is_trusted_again_only_after_the_dwell(levels, plausible):
    last = replay(series(levels, every_min=60))[-1]
    unverified = next(c for c in last.conditions if c.kind is Kind.unverified)
    assert unverified.details["plausible"] is plausible


def test_no_forecast_while_the_newest_readings_fall():
    levels = [3.2, 3.4, 3.6, 3.8, 4.0, 4.2, 4.3, 4.25, 4.2]  # the peak passed two readings ago
    assert Kind.forecast not in kinds(replay(series(levels))[-1])


@pytest.mark.parametrize(
    ("levels", "plausible"),
    [
        pytest.param([4.7, 4.8, 4.9, 5.02], True, id="after-a-steady-rise"),
        pytest.param([3.0, 3.0, 3.0, 5.4], False, id="a-jump-water-cannot-make"),
    ],
)
def test_a_single_reading_above_danger_says_whether_it_is_plausible(levels, plausible):
    last = replay(series(levels, every_min=60))[-1]
    unverified = next(c for c in last.conditions if c.kind is Kind.unverified)
    assert unverified.details["plausible"] is plausible
    if plausible:
        assert unverified.details["points"] == 3 and unverified.details["rise_m_h"] == pytest.approx(0.11)
    after = replay(series([*levels, 4.6], every_min=60))[-1]
    assert all((level or 0) < 4 for level, _ in kinds(after).values())  # the next reading took it back
