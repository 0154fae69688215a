"""Rainfall → runoff → routing → level (simulator/hydrology.py): physics checks with
hypothesis, and the demo network's real thresholds crossed by a typhoon only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kawamori.network import DEMO_NETWORK, read_network
from simulator.hydrology import (
    MM_H_KM2,
    Catchment,
    Grid,
    Node,
    Rain,
    Rating,
    Reach,
    base_level,
    calibrate,
    discharge,
    first_crossing,
    lag,
    levels,
    linear_reservoir,
    nash_cascade,
    noise,
    order,
    rainfall,
    rating_through,
)

T0 = datetime(2025, 9, 1, tzinfo=UTC)
NETWORK = read_network(DEMO_NETWORK)
STATIONS = {s.id: s for s in NETWORK.stations}
DEMO_NODES = [Node(s.id, s.downstream_id) for s in NETWORK.stations]
DESIGN = [Rain(T0, timedelta(hours=6), 30, "triangle")]
DAY = Grid(T0, 60, 36 * 60)

# -- rainfall ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rain", "minute", "expected"),
    [
        (Rain(T0, timedelta(hours=2), 10), -1, 0.0),
        (Rain(T0, timedelta(hours=2), 10), 0, 10.0),
        (Rain(T0, timedelta(hours=2), 10), 119, 10.0),
        (Rain(T0, timedelta(hours=2), 10), 120, 0.0),
        (Rain(T0, timedelta(hours=2), 10, "triangle"), 60, 10.0),
        (Rain(T0, timedelta(hours=2), 10, "triangle"), 30, 5.0),
        (Rain(T0, series_mm_h=(1, 2, 3), series_step=timedelta(minutes=10)), 5, 1.0),
        (Rain(T0, series_mm_h=(1, 2, 3), series_step=timedelta(minutes=10)), 25, 3.0),
        (Rain(T0, series_mm_h=(1, 2, 3), series_step=timedelta(minutes=10)), 30, 0.0),
    ],
)
def test_hyetograph(rain, minute, expected):
    assert rain.intensity(np.array([minute * 60.0]))[0] == pytest.approx(expected)


def test_rain_falls_only_on_its_catchments():
    grid = Grid(T0, 600, 6)
    rain = Rain(T0, timedelta(hours=1), 12, catchments=frozenset({"b"}))
    assert rainfall([rain], ["a", "b"], grid)[:, 1].tolist() == [12.0] * 6
    assert rainfall([rain], ["a", "b"], grid)[:, 0].tolist() == [0.0] * 6


def test_an_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="profile"):
        Rain(T0, timedelta(hours=1), 5, "square").intensity(np.zeros(1))


# -- reservoirs, cascade, routing -------------------------------------------------------------

pulses = st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=30)


@settings(deadline=None, max_examples=50)
@given(pulses, st.floats(min_value=300, max_value=6 * 3600), st.integers(min_value=1, max_value=6))
def test_the_nash_cascade_conserves_mass(pulse, storage_s, reservoirs):
    steps = len(pulse) + int(60 * reservoirs * storage_s / 300) + 10
    inflow = np.zeros((steps, 1))
    inflow[: len(pulse), 0] = pulse
    out = nash_cascade(inflow, reservoirs, storage_s, 300.0)
    assert out.sum() == pytest.approx(inflow.sum(), rel=1e-6, abs=1e-9)
    assert (out >= 0).all()


def test_a_linear_reservoir_approaches_a_constant_inflow():
    out = linear_reservoir(np.full((600, 1), 5.0), 3600.0, 60.0)
    assert out[0, 0] == 0.0
    assert np.all(np.diff(out[:, 0]) > 0)
    assert out[-1, 0] == pytest.approx(5.0, rel=1e-3)


@pytest.mark.parametrize(("reservoirs", "storage_h"), [(1, 1.0), (2, 1.0), (3, 1.0), (3, 0.5), (4, 2.0)])
def test_the_unit_response_peaks_at_n_minus_one_storage_constants(reservoirs, storage_h):
    inflow = np.zeros((24 * 60, 1))
    inflow[0, 0] = 1.0
    out = nash_cascade(inflow, reservoirs, storage_h * 3600, 60.0)
    peak_h = np.argmax(out[:, 0]) / 60
    assert peak_h == pytest.approx(max(reservoirs - 1, 0) * storage_h, abs=0.05)


def test_lag_shifts_each_column_by_its_steps():
    flow = np.arange(12, dtype=float).reshape(6, 2)
    shifted = lag(flow, np.array([0, 2]))
    assert shifted[:, 0].tolist() == flow[:, 0].tolist()
    assert shifted[:, 1].tolist() == [0, 0, 1, 3, 5, 7]


def test_order_puts_upstream_first_and_refuses_cycles():
    nodes = [Node("c"), Node("a", "b"), Node("b", "c"), Node("t", "c")]
    assert order(nodes) == [[1, 3], [2], [0]]
    with pytest.raises(ValueError, match="cycle"):
        order([Node("a", "b"), Node("b", "a")])
    with pytest.raises(ValueError, match="unknown downstream"):
        order([Node("a", "z")])


@settings(max_examples=40, deadline=None)
@given(
    st.floats(min_value=5, max_value=60),
    st.floats(min_value=600, max_value=3 * 3600),
    st.floats(min_value=600, max_value=3 * 3600),
    st.floats(min_value=300, max_value=3600),
)
def test_without_tributaries_the_downstream_peak_is_later_and_lower(intensity, storage_s, lag_s, route_s):
    """Rain on the upstream catchment only: the wave arrives later and flatter."""
    nodes = [
        Node("up", "down", Catchment(storage_s=storage_s), Reach(lag_s, route_s)),
        Node("down", None, Catchment(storage_s=storage_s)),
    ]
    rain = Rain(T0, timedelta(hours=3), intensity, catchments=frozenset({"up"}))
    flow = discharge(nodes, [rain], Grid(T0, 120, 4 * 24 * 30))  # four days: the recession ends
    quick = flow - flow[0]
    assert np.argmax(quick[:, 1]) > np.argmax(quick[:, 0])
    assert quick[:, 1].max() < quick[:, 0].max()
    assert quick[:, 1].sum() == pytest.approx(quick[:, 0].sum(), rel=1e-3)  # nothing lost on the way


def test_tributaries_add():
    one = Catchment(area_km2=10, base_flow_m3s=0.5)
    nodes = [Node("a", "c", one), Node("b", "c", one), Node("c", None, one)]
    rain = Rain(T0, timedelta(hours=1), 20)
    flow = discharge(nodes, [rain], Grid(T0, 60, 5 * 24 * 60))
    assert flow[0].tolist() == [0.5, 0.5, 1.5]  # base flows add
    volume = (flow - flow[0]).sum(axis=0) * 60
    rain_volume = 20 * 10 * 0.6 * MM_H_KM2 * 3600
    assert volume[:2] == pytest.approx([rain_volume, rain_volume], rel=1e-6)
    assert volume[2] == pytest.approx(3 * rain_volume, rel=1e-4)


# -- rating curves ---------------------------------------------------------------------------


@given(
    st.floats(min_value=0.1, max_value=500),
    st.floats(min_value=1.0, max_value=3.0),
    st.floats(min_value=-5, max_value=100),
    st.floats(min_value=0, max_value=5000),
)
def test_the_rating_curve_inverts(a, b, h0, q):
    rating = Rating(a, b, h0)
    level = rating.level(q)
    assert level >= h0
    assert rating.discharge(level) == pytest.approx(q, rel=1e-9, abs=1e-9)


@given(
    st.floats(min_value=0, max_value=20),
    st.floats(min_value=0.1, max_value=8),
    st.floats(min_value=0.1, max_value=10),
    st.floats(min_value=2, max_value=1000),
)
def test_rating_through_two_points(h1, rise, q1, factor):
    rating = rating_through((h1, q1), (h1 + rise, q1 * factor))
    assert rating.discharge(h1) == pytest.approx(q1, rel=1e-6)
    assert rating.discharge(h1 + rise) == pytest.approx(q1 * factor, rel=1e-6)
    assert rating.h0 < h1


def test_rating_points_must_rise():
    with pytest.raises(ValueError, match="rise"):
        rating_through((2.0, 10.0), (1.0, 20.0))


# -- the demo network: calibrated on the design storm ---------------------------------------


def demo_levels(rains):
    ratings = calibrate(DEMO_NODES, STATIONS, DESIGN, DAY)
    flow = discharge(DEMO_NODES, rains, DAY)
    return levels(flow, [ratings[n.id] for n in DEMO_NODES], list(NETWORK.stations))


def test_the_design_storm_brings_every_station_exactly_to_its_highest_stage():
    peaks = demo_levels(DESIGN).max(axis=0)
    assert peaks.tolist() == pytest.approx([s.stages[-1].level_m for s in NETWORK.stations], abs=1e-6)


def test_without_rain_every_station_sits_at_its_normal_level_below_all_stages():
    dry = demo_levels([])
    for column, station in enumerate(NETWORK.stations):
        assert dry[:, column] == pytest.approx(base_level(station))
        assert dry[:, column].max() < station.stages[0].level_m


@pytest.mark.parametrize(
    ("rain", "highest_reached"),
    [
        # observation start (観測開始水位) means "report often", and any real rain reaches it
        (Rain(T0, timedelta(hours=1), 1), None),
        (Rain(T0, timedelta(hours=3), 5), "observation"),
        (Rain(T0, timedelta(hours=4), 12), "observation"),  # 48 mm: still below caution
        (Rain(T0, timedelta(hours=10), 36, "triangle"), "danger"),  # a typhoon
    ],
)
def test_stages_reached_by_kind_of_rain(rain, highest_reached):
    peaks = demo_levels([rain]).max(axis=0)
    times = [DAY.time(i) for i in range(DAY.steps)]
    for column, station in enumerate(NETWORK.stations):
        reached = [s.key for s in station.stages if s.level_m <= peaks[column]]
        assert (reached[-1] if reached else None) == highest_reached, station.id
    typhoon = demo_levels([Rain(T0, timedelta(hours=10), 36, "triangle")])
    danger = {
        s.id: first_crossing(times, typhoon[:, i], s.stages[-1].level_m)
        for i, s in enumerate(NETWORK.stations)
    }
    assert danger["kyoden-chiwara"] < danger["kyoden-jumonji"] < danger["kyoden-kanehiro"]
    assert danger["fujishima-tomizawa"] < danger["fujishima-fujikawa"]


def test_levels_stay_inside_each_stations_physical_range():
    flood = demo_levels([Rain(T0, timedelta(hours=12), 200)])
    for column, station in enumerate(NETWORK.stations):
        assert flood[:, column].max() == pytest.approx(station.level_max_m)


# -- noise and speed ---------------------------------------------------------------------------


def test_noise_is_the_same_for_the_same_seed():
    assert noise((5, 3), 0.01, 7).tolist() == noise((5, 3), 0.01, 7).tolist()
    assert noise((5, 3), 0.01, 7).tolist() != noise((5, 3), 0.01, 8).tolist()
    assert not noise((5, 3), 0.0, 7).any()
    assert abs(noise((100_000,), 0.01, 1).std() - 0.01) < 1e-3


def test_ten_thousand_stations_for_twelve_hours_at_one_minute():
    nodes = [
        Node(f"s{i}", f"s{i + 1}" if i % 5 != 4 else None, Catchment(area_km2=20 + i % 30))
        for i in range(10_000)
    ]
    grid = Grid(T0, 60, 12 * 60)
    flow = discharge(nodes, [Rain(T0, timedelta(hours=6), 30, "triangle")], grid)
    level = levels(flow, [Rating(20.0, 5 / 3, 1.0)] * len(nodes)) + noise(flow.shape, 0.005, 1)
    assert level.shape == (720, 10_000)
    assert np.isfinite(level).all()
