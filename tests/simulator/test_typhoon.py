"""The live demo's typhoon, computed by the hydrological model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kawamori.network import DEMO_NETWORK, read_network
from simulator.hydrograph import Event
from simulator.hydrology import base_level, top_level
from simulator.typhoon import TyphoonRiver

NETWORK = read_network(DEMO_NETWORK)
STATIONS = {s.id: s for s in NETWORK.stations}
T0 = datetime(2026, 9, 1, 12, tzinfo=UTC)


def series(river: TyphoonRiver, events: tuple[Event, ...], station: str, minutes: int = 180) -> list[float]:
    return [river.rise(events, T0 + timedelta(minutes=m))[station] for m in range(minutes)]


def test_a_quiet_river_does_not_rise():
    assert set(TyphoonRiver(NETWORK.stations).rise((), T0).values()) == {0.0}


def test_the_upstream_peak_comes_at_time_to_peak_at_its_ratio():
    river = TyphoonRiver(NETWORK.stations)
    event = Event(start=T0, time_to_peak=timedelta(minutes=30), peak_ratio=1.1)
    rises = series(river, (event,), "kyoden-chiwara")
    station = STATIONS["kyoden-chiwara"]
    assert rises.index(max(rises)) == 30
    assert max(rises) == pytest.approx(1.1 * (top_level(station) - base_level(station)), rel=1e-3)
    assert rises[0] == 0.0 and rises[-1] < 0.01  # it recedes


def test_downstream_the_peak_is_later_and_lower():
    river = TyphoonRiver(NETWORK.stations)
    event = Event(start=T0, time_to_peak=timedelta(minutes=30), lag_per_reach=timedelta(minutes=20))
    up, down = series(river, (event,), "kyoden-chiwara"), series(river, (event,), "kyoden-kanehiro")
    assert down.index(max(down)) > up.index(max(up)) + 20  # its own catchment's runoff peaks earlier
    station = STATIONS["kyoden-kanehiro"]
    ratio = max(down) / (top_level(station) - base_level(station))
    assert ratio == pytest.approx(1.1 * 0.9**2, rel=1e-3)


def test_two_typhoons_add():
    river = TyphoonRiver(NETWORK.stations)
    one = Event(start=T0, time_to_peak=timedelta(minutes=20), peak_ratio=0.5)
    two = Event(start=T0 + timedelta(minutes=60), time_to_peak=timedelta(minutes=20), peak_ratio=0.5)
    both = series(river, (one, two), "fujishima-tomizawa")
    alone = [
        a + b
        for a, b in zip(
            series(river, (one,), "fujishima-tomizawa"),
            series(river, (two,), "fujishima-tomizawa"),
            strict=True,
        )
    ]
    assert both == pytest.approx(alone, abs=1e-9)


@pytest.mark.parametrize("minutes", [0.05, 1, 600])
def test_any_time_to_peak_gives_a_flood(minutes):
    river = TyphoonRiver(NETWORK.stations)
    event = Event(
        start=T0, time_to_peak=timedelta(minutes=minutes), lag_per_reach=timedelta(minutes=minutes / 4)
    )
    rise = river.rise((event,), T0 + timedelta(minutes=minutes))["kyoden-chiwara"]
    station = STATIONS["kyoden-chiwara"]
    assert rise == pytest.approx(1.1 * (top_level(station) - base_level(station)), rel=0.02)
