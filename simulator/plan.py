"""What a scenario makes happen, computed ahead: the river at every station (ground
truth on the hydrology grid) and, per station, what its device measures, sends and
when each reading reaches the broker, with the faults applied. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from kawamori.model import Station
from simulator import faults, hydrology
from simulator.scenario import Scenario

DESIGN_HORIZON = timedelta(hours=48)  # after the design storm, to find its peak


@dataclass(frozen=True, slots=True)
class StationPlan:
    station: Station
    times: tuple[datetime, ...]  # the hydrology grid
    levels: np.ndarray  # the river's true level (m) at each grid time
    stream: faults.Stream  # readings, deliveries and ground-truth notes of its device(s)

    def crossings(self) -> dict[str, datetime | None]:
        """When the true level first reaches each stage (None: never)."""
        return {
            stage.key: hydrology.first_crossing(self.times, self.levels, stage.level_m)
            for stage in self.station.stages
        }

    def peak(self) -> tuple[datetime, float]:
        index = int(np.argmax(self.levels))
        return self.times[index], float(self.levels[index])


@dataclass(frozen=True, slots=True)
class Plan:
    scenario: Scenario
    stations: dict[str, StationPlan]

    def deliveries(self) -> tuple[faults.Delivery, ...]:
        """Every delivery of every device, in order of arrival at the broker."""
        merged = [d for p in self.stations.values() for d in p.stream.deliveries]
        return tuple(sorted(merged, key=lambda d: d.at))

    def notes(self) -> tuple[faults.Note, ...]:
        return tuple(
            sorted((n for p in self.stations.values() for n in p.stream.notes), key=lambda n: n.time)
        )


def nodes(scenario: Scenario) -> list[hydrology.Node]:
    return [scenario.hydrology.catchment(s.id).node(s.id, s.downstream_id) for s in scenario.network.stations]


def ratings(scenario: Scenario, network_nodes: list[hydrology.Node]) -> list[hydrology.Rating]:
    """Each station's rating curve, calibrated on the scenario's design storm."""
    storm = scenario.hydrology.design_storm
    start = scenario.time.start
    step = scenario.time.step.total_seconds()
    grid = hydrology.Grid(start, step, int((storm.duration + DESIGN_HORIZON).total_seconds() // step))
    design = [hydrology.Rain(start, storm.duration, storm.intensity_mm_h, storm.profile)]
    stations = {s.id: s for s in scenario.network.stations}
    calibrated = hydrology.calibrate(network_nodes, stations, design, grid)
    return [calibrated[node.id] for node in network_nodes]


def river(scenario: Scenario) -> tuple[hydrology.Grid, np.ndarray]:
    """The grid and the true levels, ``(steps, stations)`` in network order."""
    network_nodes = nodes(scenario)
    step = scenario.time.step.total_seconds()
    grid = hydrology.Grid(scenario.time.start, step, int(scenario.time.duration.total_seconds() // step) + 1)
    rains = [rain.rain(scenario.time.start) for rain in scenario.rain]
    flow = hydrology.discharge(network_nodes, rains, grid)
    return grid, hydrology.levels(flow, ratings(scenario, network_nodes), scenario.network.stations)


def device_for(scenario: Scenario, station_id: str) -> str:
    """The station's device in the network, or a simulator id if it has none."""
    for device in scenario.network.devices:
        if device.station_id == station_id:
            return device.id
    return f"sim-{station_id}"


def plan(scenario: Scenario) -> Plan:
    """Ground truth and what is sent when, for every station of the scenario."""
    grid, levels = river(scenario)
    times = tuple(grid.time(i) for i in range(grid.steps))
    every = max(1, round(scenario.devices.interval / scenario.time.step))
    sampled = np.arange(0, grid.steps, every)
    noisy = levels[sampled] + hydrology.noise(
        (len(sampled), levels.shape[1]), scenario.hydrology.noise_m, scenario.hydrology.seed
    )
    t0 = scenario.time.start
    latency = timedelta(seconds=scenario.devices.latency_s)
    stations = {}
    for column, station in enumerate(scenario.network.stations):
        stream = faults.measure(
            device_for(scenario, station.id),
            [times[i] for i in sampled],
            levels[sampled, column],
            noisy[:, column],
        )
        chosen = [f.fault(t0) for f in scenario.faults if f.station in (None, station.id)]
        stations[station.id] = StationPlan(
            station, times, levels[:, column], faults.run(stream, chosen, latency)
        )
    return Plan(scenario, stations)
