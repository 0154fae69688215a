"""Pure water-level models for virtual gauges. No I/O, no clocks: time is an argument.

A station's level is its base flow, a gentle daily swing, sensor noise and the
response to rainfall events. An event's response is a gamma-shaped hydrograph
(steep rising limb, rounded peak, long recession) that reaches stations further
downstream later and lower.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from kawamori.model import Station


@dataclass(frozen=True, slots=True)
class Event:
    """A rainfall event as seen at the most upstream station.

    ``peak_ratio`` places the peak between the station's base level (0) and its
    highest stage (1): 1.1 means 10 % of that distance above the highest stage.
    """

    start: datetime
    time_to_peak: timedelta
    peak_ratio: float = 1.1
    lag_per_reach: timedelta = timedelta(minutes=30)
    attenuation_per_reach: float = 0.9
    shape: float = 3.0


def response(elapsed_s: float, time_to_peak_s: float, shape: float) -> float:
    """A unit hydrograph: 0 before the event, 1 at the peak, receding after."""
    if elapsed_s <= 0 or time_to_peak_s <= 0:
        return 0.0
    x = elapsed_s / time_to_peak_s
    return x**shape * math.exp(shape * (1.0 - x))


def base_level(station: Station) -> float:
    """Normal-time level: below the first stage, well inside the physical range."""
    if station.stages:
        first = station.stages[0].level_m
        return max(station.level_min_m + 0.1, first - 0.6)
    return station.level_min_m + 0.3 * (station.level_max_m - station.level_min_m)


def reach_index(station: Station, stations: dict[str, Station]) -> int:
    """How many stations lie upstream of this one on its river (0 = most upstream)."""
    upstream = {s.downstream_id: s.id for s in stations.values() if s.downstream_id}
    count, current = 0, station.id
    while current in upstream and count < len(stations):
        current = upstream[current]
        count += 1
    return count


def level_at(
    station: Station,
    when: datetime,
    *,
    reach: int = 0,
    events: tuple[Event, ...] = (),
    noise_m: float = 0.005,
    rng: random.Random | None = None,
) -> float:
    base = base_level(station)
    hour = when.hour + when.minute / 60
    level = base + 0.03 * math.sin(2 * math.pi * (hour - 6) / 24)
    top = station.stages[-1].level_m if station.stages else station.level_max_m - 0.5
    for event in events:
        lag = event.lag_per_reach * reach
        height = (top - base) * event.peak_ratio * event.attenuation_per_reach**reach
        elapsed = (when - event.start - lag).total_seconds()
        level += height * response(elapsed, event.time_to_peak.total_seconds(), event.shape)
    if rng is not None and noise_m:
        level += rng.gauss(0.0, noise_m)
    return min(max(level, station.level_min_m), station.level_max_m)


def distance_for(station: Station, level_m: float) -> float:
    """What a non-contact sensor measures: level = mount height − distance."""
    return station.mount_height_m - level_m
