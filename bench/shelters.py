"""Benchmark: "where can I go now?" with 5,000 shelters, the spatial index against
the obvious linear scan, side by side in one run. Prints medians per query.

    uv run python bench/shelters.py [--shelters 5000] [--queries 500] [--areas 12]

Target: ≤ 10 ms per query (the index), with 5,000 shelters and active danger areas.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

# this file is named like the package it measures: put the repository first on the path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kawamori.model import Hazard, ShelterStatus
from shelters.recommend import DangerArea, ShelterIndex, ShelterState, recommend_linear

# a prefecture-sized box around the Shonai plain (Yamagata)
SOUTH, NORTH, WEST, EAST = 38.2, 39.2, 139.5, 140.6


def shelters(n: int, rng: random.Random) -> list[ShelterState]:
    out = []
    for i in range(n):
        capacity = rng.randint(50, 800)
        out.append(
            ShelterState(
                id=f"bench-{i:05d}",
                name_ja=f"避難所{i}",
                name_en=f"Shelter {i}",
                latitude=rng.uniform(SOUTH, NORTH),
                longitude=rng.uniform(WEST, EAST),
                capacity=capacity,
                occupancy=rng.randint(0, capacity),
                status=rng.choices(list(ShelterStatus), weights=[1, 6, 3])[0],
                hazards=frozenset(h for h in Hazard if rng.random() < 0.6),
            )
        )
    return out


def areas(n: int, rng: random.Random) -> list[DangerArea]:
    out = []
    for i in range(n):
        lat, lon = rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST)
        ring = [
            [lon + dx * rng.uniform(0.03, 0.08), lat + dy * rng.uniform(0.02, 0.05)]
            for dx, dy in ((-1, -1), (1, -1), (1.3, 0), (1, 1), (-1, 1), (-1.2, 0))
        ]
        ring.append(ring[0])
        out.append(
            DangerArea(f"a{i}", f"区域{i}", f"Area {i}", 4, {"type": "Polygon", "coordinates": [ring]})
        )
    return out


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shelters", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--areas", type=int, default=12)
    parser.add_argument("-k", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(7)
    items, danger = shelters(args.shelters, rng), areas(args.areas, rng)
    points = [(rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST)) for _ in range(args.queries)]

    builds = []
    for _ in range(5):
        started = time.perf_counter()
        index = ShelterIndex(items, danger)
        builds.append(time.perf_counter() - started)

    indexed, linear = [], []
    for lat, lon in points:
        hazard = rng.choice([Hazard.flood, Hazard.landslide])
        started = time.perf_counter()
        fast = index.recommend(latitude=lat, longitude=lon, hazard=hazard, k=args.k)
        indexed.append(time.perf_counter() - started)
        started = time.perf_counter()
        slow = recommend_linear(items, danger, latitude=lat, longitude=lon, hazard=hazard, k=args.k)
        linear.append(time.perf_counter() - started)
        if fast != slow:
            raise SystemExit(f"index and linear scan disagree at {lat}, {lon}")

    rows = [
        ("index build (once per change)", median_ms(builds), len(builds)),
        ("nearest, spatial index", median_ms(indexed), len(indexed)),
        ("nearest, linear scan (baseline)", median_ms(linear), len(linear)),
    ]
    print(f"{args.shelters} shelters, {args.areas} danger areas, k={args.k}; medians")
    print(f"{'measurement':<34}{'median ms':>12}{'runs':>8}")
    for label, ms, runs in rows:
        print(f"{label:<34}{ms:>12.3f}{runs:>8}")
    speedup = median_ms(linear) / median_ms(indexed)
    verdict = "meets" if median_ms(indexed) <= 10 else "MISSES"
    print(f"index is {speedup:.0f}× faster than the scan; {verdict} the 10 ms target; answers identical")


if __name__ == "__main__":
    main()
