"""Replay benchmark: the whole shared crisis-gauge data set through ``kawamori alerts replay``.

    uv run python bench/replay.py [--repeat 3] [--data ../shared/data/jp-crisis-gauges]

Runs the replay with ``--approve auto`` and ``--approve never`` (default rules, each
station its own area), ``--repeat`` times each, and prints one markdown table: the
measures of bench/README.md ("Replay") and the median replay times. The measures come
from ``alerts.replay_measures`` (episodes classified from the readings themselves).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts import replay_cli  # noqa: E402
from alerts.replay_measures import rate  # noqa: E402

FORECAST_KINDS = ("near", "stalled", "peak", "falling")
DATA = ROOT.parent / "shared" / "data" / "jp-crisis-gauges"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    reports = {}
    for mode in ("auto", "never"):
        runs = []
        for _ in range(args.repeat):
            runs.append(
                replay_cli.run(
                    stations=args.data / "stations.csv",
                    readings=args.data / "observations.csv.gz",
                    approve=mode,  # type: ignore[arg-type]
                )
            )
            print(f"{mode}: {runs[-1].cpu_s:.1f} s CPU, {runs[-1].wall_s:.1f} s wall", file=sys.stderr)
        reports[mode] = runs
    a, n = reports["auto"][0], reports["never"][0]
    ma, mn = a.measures, n.measures
    cpu = statistics.median(r.cpu_s for r in reports["auto"])
    wall = statistics.median(r.wall_s for r in reports["auto"])
    rows = [
        ("readings / evaluations (auto)", f"{a.summary.readings:,} / {a.summary.evaluations:,}"),
        ("episodes fault-like / reach danger / below danger",
         f"{ma['episodes']['fault']:,} / {ma['episodes']['danger']:,} / {ma['episodes']['below']:,}"),
        ("public level ≥ 3 in fault-like episodes, auto (gauges)",
         f"{ma['fault_public']} ({ma['fault_public_gauges']})"),
        ("…issued, or held with staff not asked, once the readings show the fault (auto)",
         str(ma["fault_public_evident"])),
        ("issued ≥ 4 held > 6 h into silence, nobody asked by the first tick after (auto / never)",
         f"{ma['silent_holds']} / {mn['silent_holds']}"),
        ("…still held at exactly 6 h 00 m 00 s (auto)", str(ma["silent_holds_strict"])),
        ("level-4 forecast proposals in episodes below danger (newest falling)",
         f"{mn['forecasts_below']} ({mn['forecasts_below_falling']})"),
        ("…explained: " + " / ".join(FORECAST_KINDS),
         " / ".join(str(mn["forecasts_below_kinds"].get(k, 0)) for k in FORECAST_KINDS)),
        ("rises through danger (≥ 2 above) with a level-4 proposal by the 2nd reading",
         rate(mn["rises_proposed"], mn["rises"])),
        ("…returns from a dropout below danger (not rises), level 4 proposed or held",
         rate(mn["dropouts_proposed"], mn["dropouts"])),
        ("…crossings beyond the station's history (jumps) with ≥ 2 above, proposed",
         rate(mn["rises_jump_proposed"], mn["rises_jump"])),
        ("single readings, station history too short (< 3 rises), proposed at once",
         rate(mn["singles_short_proposed"], mn["singles_short"])),
        ("single readings after a plausible rise, proposed at once",
         rate(mn["singles_plausible_proposed"], mn["singles_plausible"])),
        ("jumps beyond the station's own history, proposed",
         rate(mn["singles_jump_proposed"], mn["singles_jump"])),
        ("single-reading proposals the next reading takes back, withdrawn before anyone is told (never)",
         rate(mn["takebacks_withdrawn"], mn["takebacks"])),
        ("…confirmed-stage proposals the next reading falls below (kept by hysteresis)",
         str(mn["takebacks_confirmed"])),
        ("most public level changes of one area within 6 h (auto)", str(ma["max_changes_6h"])),
        ("areas with > 2 public level changes within 6 h (auto)", str(ma["flapping_areas"])),
        ("most reversals of one area's public level within 6 h (auto / never)",
         f"{ma['max_reversals_6h']} / {mn['max_reversals_6h']}"),
        ("areas with > 1 reversal within 6 h (auto / never)",
         f"{ma['reversal_areas']} / {mn['reversal_areas']}"),
        (f"replay time, auto (median of {args.repeat}): CPU / wall", f"{cpu:.1f} s / {wall:.1f} s"),
        ("evaluations per CPU second (auto)", f"{a.summary.evaluations / cpu:,.0f}"),
    ]  # fmt: skip
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
