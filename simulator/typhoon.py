"""The live demo's river: a quiet level (:mod:`simulator.hydrograph`: base level,
daily swing, sensor noise) plus what the typhoons of ``kawamori simulate --typhoon``
add, computed by the hydrological model (:mod:`simulator.hydrology`: rain → Nash
cascade → lag-and-route → rating curve) over the network's own river topology.

An :class:`~simulator.hydrograph.Event` becomes a block of rain on every catchment
whose response peaks at the most upstream stations ``time_to_peak`` after the event's
start, ``peak_ratio`` of the way from the base level to the highest stage; each reach
delays the wave by ``lag_per_reach`` (and a linear reservoir of half that) and lowers
its peak by ``attenuation_per_reach``. Events add (the model is linear in flow).
Pure: time is passed in; results are cached per set of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from kawamori.model import Station
from simulator import hydrology
from simulator.hydrograph import Event, reach_index

STEP_S = 60.0
RESERVOIRS = 3
SHORTEST = timedelta(seconds=4 * STEP_S)  # a shorter time to peak is shaped as this, peaking on time


def _shape(event: Event) -> timedelta:
    return max(event.time_to_peak, SHORTEST)


def _nodes(stations: Sequence[Station], event: Event) -> list[hydrology.Node]:
    peak_s = _shape(event).total_seconds()
    storage = peak_s / 2 / (RESERVOIRS - 1)  # a cascade's peak: (n − 1)·k after the rain's middle
    lag_s = event.lag_per_reach.total_seconds()
    ids = {s.id for s in stations}
    return [
        hydrology.Node(
            s.id,
            s.downstream_id if s.downstream_id in ids else None,
            hydrology.Catchment(reservoirs=RESERVOIRS, storage_s=storage),
            hydrology.Reach(lag_s=lag_s, storage_s=max(lag_s / 2, 1.0)),
        )
        for s in stations
    ]


class TyphoonRiver:
    def __init__(self, stations: Sequence[Station]) -> None:
        self.stations = list(stations)
        self._cached: tuple[tuple[Event, ...], datetime, np.ndarray] | None = None

    def rise(self, events: tuple[Event, ...], when: datetime) -> dict[str, float]:
        """Metres above each station's base level at ``when``."""
        if not events:
            return {s.id: 0.0 for s in self.stations}
        if self._cached is None or self._cached[0] != events:
            self._cached = (events, *self._compute(events))
        _, start, table = self._cached
        index = (when - start).total_seconds() / STEP_S
        steps = np.arange(table.shape[0])
        return {
            s.id: float(np.interp(index, steps, table[:, i], right=0.0)) for i, s in enumerate(self.stations)
        }

    def _compute(self, events: tuple[Event, ...]) -> tuple[datetime, np.ndarray]:
        start = min(e.start for e in events) - timedelta(hours=1)  # some lead so a peak can be moved earlier
        horizon = max(
            (e.start - start) + 8 * _shape(e) + e.lag_per_reach * (len(self.stations) + 2) for e in events
        )
        grid = hydrology.Grid(start, STEP_S, int(horizon.total_seconds() // STEP_S) + 1)
        total = np.zeros((grid.steps, len(self.stations)))
        for event in events:
            total += self._one(event, grid)
        return start, total

    def _one(self, event: Event, grid: hydrology.Grid) -> np.ndarray:
        nodes = _nodes(self.stations, event)
        by_id = {s.id: s for s in self.stations}
        duration = _shape(event) / 2
        unit = hydrology.Rain(event.start, duration, 1.0)
        flow = hydrology.discharge(nodes, [unit], grid)
        upstream = [i for i, n in enumerate(nodes) if n.id not in {m.downstream_id for m in nodes}]
        # move the rain so the upstream peak falls exactly at start + time_to_peak
        peak_at = grid.time(int(flow[:, upstream[0]].argmax()))
        shift = event.start + event.time_to_peak - peak_at
        rain = hydrology.Rain(event.start + shift, duration, 1.0)
        ratings = hydrology.calibrate(nodes, by_id, [rain], grid)
        flow = hydrology.discharge(nodes, [rain], grid)
        rise = np.empty_like(flow)
        for i, node in enumerate(nodes):
            ratio = event.peak_ratio * event.attenuation_per_reach ** reach_index(by_id[node.id], by_id)
            station, rating = by_id[node.id], ratings[node.id]
            base = hydrology.base_level(station)
            top = hydrology.top_level(station)
            quick = flow[:, i] - flow[0, i]  # above base flow, for the design storm reaching the top stage
            # scale the storm so its peak is peak_ratio of the way to the top stage
            target = float(rating.discharge(base + ratio * (top - base))) - flow[0, i]
            scale = target / max(float(quick.max()), 1e-9)
            rise[:, i] = np.maximum(rating.level(flow[0, i] + scale * quick) - base, 0.0)
        return rise
