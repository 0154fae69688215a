"""Rainfall to river level, for whole networks at once. Pure: no I/O, no clocks;
time is a :class:`Grid` passed in. Arrays are ``(steps, nodes)``, float64.

The chain, for every station (node) of a network:

1. **Rainfall** (:class:`Rain`, a hyetograph in mm/h) over the node's own catchment,
   times its runoff coefficient, becomes effective rainfall in m³/s
   (1 mm/h over 1 km² = 1/3.6 m³/s).
2. **Runoff**: a Nash cascade of ``reservoirs`` equal linear reservoirs (storage
   constant ``storage_s``) turns it into the local quick flow: rising limb, rounded
   peak, long recession. Mass is conserved exactly by the discrete scheme.
3. **Routing** (:class:`Reach`): a node's total flow reaches its downstream node after
   a pure lag and one more linear reservoir (lag-and-route), so downstream peaks come
   later and lower; tributaries add.
4. **Base flow**: each catchment adds a constant; the system is linear, so quick flow
   (starting from rest) and base flow superpose.
5. **Rating curve** (:class:`Rating`, ``Q = a·(h − h0)^b``) inverted gives the level.
   :func:`calibrate` fits each station's curve through its normal level at base
   flow and its highest stage at the peak of a *design storm*: a storm that size
   brings every station exactly to its highest stage.
6. **Sensor noise**: seeded Gaussian, :func:`noise`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from kawamori.model import Station

MM_H_KM2 = 1e-3 * 1e6 / 3600  # 1 mm/h over 1 km² in m³/s
MANNING_B = 5 / 3  # rating exponent of a wide channel under Manning's formula


@dataclass(frozen=True, slots=True)
class Grid:
    """``steps`` instants ``start + i·step_s``; values on it are means over ``[t_i, t_i+1)``."""

    start: datetime
    step_s: float
    steps: int

    def time(self, index: int) -> datetime:
        return self.start + timedelta(seconds=index * self.step_s)

    def index(self, when: datetime) -> float:
        return (when - self.start).total_seconds() / self.step_s

    def seconds(self) -> np.ndarray:
        return np.arange(self.steps) * self.step_s


@dataclass(frozen=True, slots=True)
class Rain:
    """A rainfall event. ``profile`` ``block`` rains ``intensity_mm_h`` throughout;
    ``triangle`` rises linearly to ``intensity_mm_h`` at mid-event and falls again (half
    the depth). A non-empty ``series_mm_h`` (one value per ``series_step``, from
    ``start``) replaces both. ``catchments``: the node ids it falls on (None = all)."""

    start: datetime
    duration: timedelta = timedelta(0)
    intensity_mm_h: float = 0.0
    profile: str = "block"
    series_mm_h: tuple[float, ...] = ()
    series_step: timedelta = timedelta(minutes=10)
    catchments: frozenset[str] | None = None

    def intensity(self, seconds_since_start: np.ndarray) -> np.ndarray:
        """mm/h at the given offsets (s) from :attr:`start`; 0 outside the event."""
        t = np.asarray(seconds_since_start, dtype=float)
        if self.series_mm_h:
            step = self.series_step.total_seconds()
            index = np.floor(t / step).astype(np.int64)
            inside = (t >= 0) & (index < len(self.series_mm_h))
            values = np.asarray(self.series_mm_h, dtype=float)
            return np.where(inside, values[np.clip(index, 0, len(values) - 1)], 0.0)
        length = self.duration.total_seconds()
        inside = (t >= 0) & (t < length)
        if self.profile == "triangle":
            shape = 1.0 - np.abs(2.0 * t / length - 1.0) if length > 0 else np.zeros_like(t)
            return np.where(inside, self.intensity_mm_h * shape, 0.0)
        if self.profile != "block":
            raise ValueError(f"unknown rain profile {self.profile!r}")
        return np.where(inside, self.intensity_mm_h, 0.0)


@dataclass(frozen=True, slots=True)
class Catchment:
    """The area draining to a node (excluding its upstream nodes' areas)."""

    area_km2: float = 50.0
    runoff_coefficient: float = 0.6
    reservoirs: int = 3
    storage_s: float = 3600.0
    base_flow_m3s: float = 1.0


@dataclass(frozen=True, slots=True)
class Reach:
    """The channel from a node to its downstream node: a pure lag, then a linear
    reservoir that attenuates the wave."""

    lag_s: float = 1800.0
    storage_s: float = 1800.0


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    downstream_id: str | None = None
    catchment: Catchment = Catchment()
    reach: Reach = Reach()


@dataclass(frozen=True, slots=True)
class Rating:
    """``Q = a·(h − h0)^b`` (m³/s from metres above the gauge datum); Q = 0 at or below h0."""

    a: float
    b: float
    h0: float

    def discharge(self, level_m):
        return self.a * np.maximum(np.asarray(level_m, dtype=float) - self.h0, 0.0) ** self.b

    def level(self, discharge_m3s):
        return self.h0 + (np.maximum(np.asarray(discharge_m3s, dtype=float), 0.0) / self.a) ** (1 / self.b)


def rating_through(low: tuple[float, float], high: tuple[float, float], b: float = MANNING_B) -> Rating:
    """The rating curve with exponent ``b`` through two ``(level, discharge)`` points."""
    (h1, q1), (h2, q2) = low, high
    if not (h1 < h2 and 0 < q1 < q2):
        raise ValueError(f"rating points must rise: {low} → {high}")
    r = (q1 / q2) ** (1 / b)
    h0 = (h1 - r * h2) / (1 - r)
    return Rating(a=q2 / (h2 - h0) ** b, b=b, h0=h0)


def rainfall(rains: Iterable[Rain], ids: Sequence[str], grid: Grid) -> np.ndarray:
    """Mean rainfall (mm/h) per grid step and node, sampled at each step's middle."""
    out = np.zeros((grid.steps, len(ids)))
    middles = grid.seconds() + grid.step_s / 2
    for rain in rains:
        offset = (rain.start - grid.start).total_seconds()
        column = rain.intensity(middles - offset)
        if rain.catchments is None:
            out += column[:, None]
        else:
            mask = np.fromiter((i in rain.catchments for i in ids), dtype=bool, count=len(ids))
            out[:, mask] += column[:, None]
    return out


def linear_reservoir(inflow: np.ndarray, storage_s: np.ndarray | float, step_s: float) -> np.ndarray:
    """Outflow of linear reservoirs starting empty, one per column. Exact for inflow
    constant over each step: ``Q[t+1] = α·Q[t] + (1 − α)·I[t]``, ``α = e^(−Δt/k)``;
    so Σ Q = Σ I once the reservoir has drained (mass balance)."""
    alpha = np.exp(-step_s / np.maximum(np.asarray(storage_s, dtype=float), 1e-9))
    alpha = np.broadcast_to(alpha, inflow.shape[1:])
    scaled = inflow * (1.0 - alpha)
    out = np.empty_like(inflow)
    out[0] = 0.0
    for t in range(1, inflow.shape[0]):  # in place: no temporaries per step
        np.multiply(out[t - 1], alpha, out=out[t])
        out[t] += scaled[t - 1]
    return out


def nash_cascade(
    inflow: np.ndarray, reservoirs: np.ndarray | int, storage_s: np.ndarray | float, step_s: float
) -> np.ndarray:
    """``reservoirs`` linear reservoirs in series per column (0 passes inflow through)."""
    count = np.broadcast_to(np.asarray(reservoirs), inflow.shape[1:])
    storage = np.broadcast_to(np.asarray(storage_s, dtype=float), inflow.shape[1:])
    flow = inflow
    for level in range(int(count.max(initial=0))):
        if (count > level).all():
            flow = linear_reservoir(flow, storage, step_s)
        else:
            columns = np.flatnonzero(count > level)
            flow = flow.copy()
            flow[:, columns] = linear_reservoir(flow[:, columns], storage[columns], step_s)
    return flow if flow is not inflow else inflow.copy()


def lag(flow: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Shift each column later by its number of steps, filling with zero (rest)."""
    rows = np.arange(flow.shape[0])[:, None] - np.asarray(steps, dtype=np.int64)[None, :]
    shifted = np.take_along_axis(flow, np.clip(rows, 0, None), axis=0)
    return np.where(rows >= 0, shifted, 0.0)


def order(nodes: Sequence[Node]) -> list[list[int]]:
    """Node indices by generation: every node's upstream nodes are in earlier ones."""
    index = {node.id: i for i, node in enumerate(nodes)}
    upstream: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        if node.downstream_id is not None:
            if node.downstream_id not in index:
                raise ValueError(f"node {node.id}: unknown downstream node {node.downstream_id}")
            upstream[index[node.downstream_id]].append(i)
    generation = [-1] * len(nodes)

    def depth(i: int, seen: tuple[int, ...] = ()) -> int:
        if generation[i] < 0:
            if i in seen:
                raise ValueError(f"the river network has a cycle through {nodes[i].id}")
            generation[i] = 1 + max((depth(u, (*seen, i)) for u in upstream[i]), default=-1)
        return generation[i]

    for i in range(len(nodes)):
        depth(i)
    layers: list[list[int]] = [[] for _ in range(max(generation, default=-1) + 1)]
    for i, g in enumerate(generation):
        layers[g].append(i)
    return layers


def discharge(nodes: Sequence[Node], rains: Iterable[Rain], grid: Grid) -> np.ndarray:
    """Total discharge (m³/s) at every node: local runoff + base flow + routed upstream."""
    rains = tuple(rains)
    ids = [node.id for node in nodes]
    column = {node_id: i for i, node_id in enumerate(ids)}
    area = np.array([n.catchment.area_km2 * n.catchment.runoff_coefficient for n in nodes])
    effective = rainfall(rains, ids, grid) * area * MM_H_KM2
    quick = nash_cascade(
        effective,
        np.array([n.catchment.reservoirs for n in nodes]),
        np.array([n.catchment.storage_s for n in nodes]),
        grid.step_s,
    )
    base = np.array([n.catchment.base_flow_m3s for n in nodes])
    for layer in order(nodes):
        routed_from = [i for i in layer if nodes[i].downstream_id is not None]
        if not routed_from:
            continue
        lags = np.array([round(nodes[i].reach.lag_s / grid.step_s) for i in routed_from])
        storage = np.array([nodes[i].reach.storage_s for i in routed_from])
        routed = linear_reservoir(lag(quick[:, routed_from], lags), storage, grid.step_s)
        targets = np.array([column[nodes[i].downstream_id] for i in routed_from])
        np.add.at(quick, (slice(None), targets), routed)
        np.add.at(base, targets, base[routed_from])
    return quick + base


def base_level(station: Station) -> float:
    """Normal-time level: below the first stage, well inside the physical range."""
    if station.stages:
        return max(station.level_min_m + 0.1, station.stages[0].level_m - 0.6)
    return station.level_min_m + 0.3 * (station.level_max_m - station.level_min_m)


def top_level(station: Station) -> float:
    """The level a design storm brings the station to: its highest stage."""
    return station.stages[-1].level_m if station.stages else station.level_max_m - 0.5


def calibrate(
    nodes: Sequence[Node],
    stations: Mapping[str, Station],
    design: Iterable[Rain],
    grid: Grid,
    b: float = MANNING_B,
) -> dict[str, Rating]:
    """Rating curves such that base flow gives each station its normal level and the
    ``design`` storm's peak exactly its highest stage."""
    flow = discharge(nodes, design, grid)
    ratings = {}
    for i, node in enumerate(nodes):
        station = stations[node.id]
        base = float(flow[0, i])
        peak = float(flow[:, i].max())
        if peak <= base * 1.01:
            raise ValueError(f"station {node.id}: the design storm does not raise its flow")
        ratings[node.id] = rating_through((base_level(station), base), (top_level(station), peak), b)
    return ratings


def levels(
    flow: np.ndarray, ratings: Sequence[Rating], stations: Sequence[Station] | None = None
) -> np.ndarray:
    """Levels (m) from discharge, per column's rating; clipped to each station's range."""
    a = np.array([r.a for r in ratings])
    b = np.array([r.b for r in ratings])
    h0 = np.array([r.h0 for r in ratings])
    out = h0 + (np.maximum(flow, 0.0) / a) ** (1 / b)
    if stations is not None:
        low = np.array([s.level_min_m for s in stations])
        high = np.array([s.level_max_m for s in stations])
        out = np.clip(out, low, high)
    return out


def noise(shape: tuple[int, ...], sigma_m: float, seed: int) -> np.ndarray:
    """Gaussian sensor noise, the same for the same seed."""
    if sigma_m <= 0:
        return np.zeros(shape)
    return np.random.default_rng(seed).normal(0.0, sigma_m, shape)


def first_crossing(times: Sequence[datetime], values: np.ndarray, threshold: float) -> datetime | None:
    """The first time ``values`` reach ``threshold`` (from below), or None."""
    above = np.flatnonzero(np.asarray(values) >= threshold)
    return times[int(above[0])] if above.size else None
