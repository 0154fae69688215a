"""The virtual gauges' water-level model (simulator/hydrograph.py), checked against
the demo network's real stations and thresholds."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kawamori.network import DEMO_NETWORK, read_network
from simulator.hydrograph import Event, base_level, distance_for, level_at, reach_index, response

NETWORK = read_network(DEMO_NETWORK)
STATIONS = {s.id: s for s in NETWORK.stations}
T0 = datetime(2025, 9, 1, 0, 0, tzinfo=UTC)

# -- response ----------------------------------------------------------------------------

shapes = st.floats(min_value=0.5, max_value=10)
peaks = st.floats(min_value=60, max_value=7 * 86400)


@pytest.mark.parametrize("elapsed", [-3600.0, -1e-9, 0.0])
def test_response_is_zero_before_the_start(elapsed):
    assert response(elapsed, 3600, 3.0) == 0.0


@pytest.mark.parametrize("time_to_peak", [0.0, -60.0])
def test_response_without_a_time_to_peak_is_zero(time_to_peak):
    assert response(600, time_to_peak, 3.0) == 0.0


@given(peaks, shapes)
def test_response_is_one_at_the_peak(time_to_peak, shape):
    assert response(time_to_peak, time_to_peak, shape) == 1.0


@given(st.floats(min_value=1e-6, max_value=1000), peaks, shapes)
def test_response_is_below_one_away_from_the_peak(ratio, time_to_peak, shape):
    value = response(ratio * time_to_peak, time_to_peak, shape)
    assert 0.0 <= value <= 1.0
    if abs(ratio - 1) > 0.01:
        assert value < 1.0


@given(st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1), peaks, shapes)
def test_response_rises_to_the_peak(a, b, time_to_peak, shape):
    early, late = sorted((a, b))
    assert (
        response(early * time_to_peak, time_to_peak, shape)
        <= response(late * time_to_peak, time_to_peak, shape) + 1e-12
    )


@given(st.floats(min_value=1, max_value=500), st.floats(min_value=1, max_value=500), peaks, shapes)
def test_response_recedes_after_the_peak(a, b, time_to_peak, shape):
    early, late = sorted((a, b))
    assert response(early * time_to_peak, time_to_peak, shape) + 1e-12 >= response(
        late * time_to_peak, time_to_peak, shape
    )


def test_response_decays_towards_zero():
    values = [response(k * 3600, 3600, 3.0) for k in (1, 2, 5, 10, 20)]
    assert values == sorted(values, reverse=True)
    assert values[-1] < 1e-6


# -- level_at ----------------------------------------------------------------------------

times = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))
events = st.builds(
    Event,
    start=times,
    time_to_peak=st.timedeltas(min_value=timedelta(minutes=10), max_value=timedelta(days=3)),
    peak_ratio=st.floats(min_value=0, max_value=5),
    lag_per_reach=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=6)),
    attenuation_per_reach=st.floats(min_value=0.1, max_value=1.0),
    shape=st.floats(min_value=1, max_value=8),
)


@settings(deadline=None)
@given(
    st.sampled_from(NETWORK.stations),
    times,
    st.lists(events, max_size=4),
    st.integers(min_value=0, max_value=5),
    st.floats(min_value=0, max_value=2),
    st.integers(min_value=0, max_value=2**32),
)
def test_level_stays_in_the_physical_range(station, when, event_list, reach, noise, seed):
    level = level_at(
        station, when, reach=reach, events=tuple(event_list), noise_m=noise, rng=random.Random(seed)
    )
    assert math.isfinite(level)
    assert station.level_min_m <= level <= station.level_max_m


@pytest.mark.parametrize("station", NETWORK.stations, ids=lambda s: s.id)
def test_normal_level_stays_near_base_and_below_the_first_stage(station):
    base = base_level(station)
    assert station.level_min_m < base < station.stages[0].level_m
    day = [level_at(station, T0 + timedelta(minutes=m)) for m in range(0, 24 * 60, 10)]
    assert all(abs(level - base) <= 0.03 + 1e-9 for level in day)
    assert max(day) - min(day) > 0.05  # the daily swing is there


def test_noise_needs_an_rng_and_is_reproducible():
    station = STATIONS["kyoden-jumonji"]
    assert level_at(station, T0, noise_m=0.5) == level_at(station, T0)
    noisy = [level_at(station, T0, noise_m=0.05, rng=random.Random(7)) for _ in range(2)]
    assert noisy[0] == noisy[1] != level_at(station, T0)


# -- downstream --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("station_id", "reach"),
    [
        ("kyoden-chiwara", 0),
        ("kyoden-jumonji", 1),
        ("kyoden-kanehiro", 2),
        ("fujishima-tomizawa", 0),
        ("fujishima-fujikawa", 1),
    ],
)
def test_reach_index_counts_stations_upstream(station_id, reach):
    assert reach_index(STATIONS[station_id], STATIONS) == reach


def peak(station_id: str, event: Event) -> tuple[datetime, float]:
    """When the event's rise peaks at a station, and how high relative to the
    distance between base level and the highest stage (1.0 = reaches that stage)."""
    station = STATIONS[station_id]
    reach = reach_index(station, STATIONS)
    top = station.stages[-1].level_m - base_level(station)
    rises = []
    for minute in range(0, 24 * 60):
        when = event.start + timedelta(minutes=minute)
        rise = level_at(station, when, reach=reach, events=(event,)) - level_at(station, when, reach=reach)
        rises.append((rise / top, when))
    ratio, when = max(rises)
    return when, ratio


@pytest.mark.parametrize(
    "river",
    [["kyoden-chiwara", "kyoden-jumonji", "kyoden-kanehiro"], ["fujishima-tomizawa", "fujishima-fujikawa"]],
)
def test_downstream_stations_peak_later_and_lower(river):
    event = Event(start=T0, time_to_peak=timedelta(hours=3))
    peaks_along = [peak(station_id, event) for station_id in river]
    times_along = [when for when, _ in peaks_along]
    ratios_along = [ratio for _, ratio in peaks_along]
    assert times_along == sorted(set(times_along))  # strictly later
    assert ratios_along == sorted(set(ratios_along), reverse=True)  # strictly lower
    for reach, (when, ratio) in enumerate(peaks_along):
        assert when == T0 + event.time_to_peak + reach * event.lag_per_reach
        assert ratio == pytest.approx(event.peak_ratio * event.attenuation_per_reach**reach)


def test_upstream_station_exceeds_its_highest_stage_at_the_default_peak():
    station = STATIONS["kyoden-chiwara"]
    event = Event(start=T0, time_to_peak=timedelta(hours=3))
    assert level_at(station, T0 + event.time_to_peak, events=(event,)) > station.stages[-1].level_m


# -- distance_for ------------------------------------------------------------------------


@given(st.sampled_from(NETWORK.stations), st.floats(min_value=0, max_value=1))
def test_distance_inverts_level(station, fraction):
    level = station.level_min_m + fraction * (station.level_max_m - station.level_min_m)
    distance = distance_for(station, level)
    assert station.mount_height_m - distance == pytest.approx(level, abs=1e-9)
    assert distance >= station.mount_height_m - station.level_max_m - 1e-9 >= -1e-9  # never negative
    assert distance <= station.mount_height_m - station.level_min_m + 1e-9


def test_distance_for_a_known_level():
    assert distance_for(STATIONS["kyoden-jumonji"], 7.77) == pytest.approx(10.3 - 7.77)
