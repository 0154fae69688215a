"""``kawamori alerts replay`` below the CLI: read the files, run :func:`alerts.replay.replay`
with a progress bar, write the timeline, measure (:mod:`alerts.replay_measures`) and
render the report. Every input problem is a :class:`ReplayError` with the file, line
and what is wrong; the CLI prints it and exits with 2."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from alerts import replay_measures
from alerts.policy import ApprovalPolicy, PolicyError, load_policy
from alerts.replay import EVENTS, Approve, Event, Summary, gauges, readings_of, replay
from alerts.replay_io import Network, ReplayInputError, read_readings, read_stations
from alerts.rules import DEFAULT, RuleSettings, RuleSettingsError, load_rules
from kawamori.network import NetworkError, read_network


class ReplayError(ValueError):
    """The replay cannot run (bad input, bad option); the message says why."""


@dataclass
class Report:
    summary: Summary
    measures: dict[str, Any]
    approve: str
    stations: int
    cpu_s: float
    wall_s: float
    timeline: Path | None

    @property
    def evaluations_per_cpu_s(self) -> float:
        return self.summary.evaluations / self.cpu_s if self.cpu_s else 0.0


def parse_time(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time (UTC when it has no offset)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayError(
            f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-06-01 or 2026-06-01T09:00+09:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load(*, stations: Path, network: Path | None, rules: Path | None) -> tuple[Network, RuleSettings]:
    try:
        net = read_stations(stations)
        if network is not None:
            try:
                extra = read_network(network, check_rules=RuleSettings.for_station)
            except NetworkError as error:
                raise ReplayError(str(error)) from None
            known = {s.id: s for s in net.stations}
            for s in extra.stations:  # the network's definitions (downstream, rules) win
                known[s.id] = s
            for area in extra.areas:
                unknown = sorted(set(area.station_ids) - known.keys())
                if unknown:
                    raise ReplayError(f"{network}: area {area.id}: unknown stations {', '.join(unknown)}")
            net = Network(tuple(known.values()), extra.areas or net.areas)
        base = load_rules(rules) if rules is not None else DEFAULT
    except (ReplayInputError, RuleSettingsError) as error:
        raise ReplayError(str(error)) from None
    return net, base


def run(
    *,
    stations: Path,
    readings: Path,
    network: Path | None = None,
    rules: Path | None = None,
    policy: Path | None = None,
    start: str | None = None,
    end: str | None = None,
    only: Collection[str] = (),
    approve: Approve = "auto",
    timeline: Path | None = None,
    progress: Console | None = None,
) -> Report:
    lo, hi = parse_time(start, "--from"), parse_time(end, "--to")
    if lo and hi and hi < lo:
        raise ReplayError(f"--to {end} is before --from {start}")
    net, base = load(stations=stations, network=network, rules=rules)
    try:
        approval = load_policy(policy) if policy else ApprovalPolicy()
    except PolicyError as error:
        raise ReplayError(str(error)) from None
    known = {s.id for s in net.stations}
    unknown = sorted(set(only) - known)
    if unknown:
        raise ReplayError(f"--station: unknown station {', '.join(unknown)} (not in {stations})")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        rows = read_readings(readings, known=known, start=lo, end=hi, only=only)
        table = gauges(net.stations, net.areas, rules=base)
    except (ReplayInputError, RuleSettingsError) as error:
        raise ReplayError(str(error)) from None
    if only:
        table = {sid: g for sid, g in table.items() if sid in set(only)}
    kept: list[dict[str, Any]] = []
    out = None
    if timeline is not None:
        try:
            out = timeline.open("w", encoding="utf-8")
        except OSError as error:
            raise ReplayError(f"{timeline}: {error.strerror or error}") from None

    def emit(event: Event) -> None:
        line = event.to_json()
        if out is not None:
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        if event.event != "staff_notice":
            line["ts"] = event.time.timestamp()
            kept.append(line)

    until = hi.timestamp() if hi else None
    try:
        if progress is not None and rows:
            with Progress(
                TextColumn("replaying"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("readings"),
                TimeRemainingColumn(),
                console=progress,
                transient=True,
            ) as bar:
                task = bar.add_task("replay", total=len(rows))
                summary = replay(
                    table,
                    readings_of(rows),
                    approve=approve,
                    until=until,
                    emit=emit,
                    policy=approval,
                    progress=lambda n: bar.update(task, completed=n),
                )
        else:
            summary = replay(
                table, readings_of(rows), approve=approve, until=until, emit=emit, policy=approval
            )
    finally:
        if out is not None:
            out.close()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    series: dict[str, tuple[list[float], list[float]]] = {sid: ([], []) for sid in table}
    for r in rows:
        t, lv = series[r.station_id]
        t.append(r.ts)
        lv.append(r.level_m)
    danger = {sid: _danger(g.station) for sid, g in table.items()}
    measures = replay_measures.measure(
        {s: v for s, v in series.items() if danger[s] is not None},
        {s: d for s, d in danger.items() if d is not None},
        {sid: g.areas for sid, g in table.items()},
        kept,
        end=summary.end.timestamp() if summary.end else None,
    )
    return Report(summary, measures, approve, len(table), cpu, wall, timeline)


def _danger(station) -> float | None:
    """The lowest stage with 警戒レベル 4 or more (氾濫危険水位)."""
    return next((s.level_m for s in station.stages if (s.alert_level or 0) >= 4), None)


def print_report(console: Console, report: Report) -> None:
    s = report.summary
    console.print(
        f"Replayed {s.readings:,} readings of {report.stations:,} stations"
        + (f", {s.start:%Y-%m-%d %H:%M} – {s.end:%Y-%m-%d %H:%M} UTC" if s.start and s.end else "")
        + f"; approve: {report.approve}."
    )
    events = Table(title="Events by type and reason / 種類と理由ごとの件数")
    for column in ("event", "reason", "count"):
        events.add_column(column, justify="right" if column == "count" else "left")
    order = {e: i for i, e in enumerate(EVENTS)}
    for (event, reason), n in sorted(s.events.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
        events.add_row(event, reason or "–", f"{n:,}")
    console.print(events)
    per: dict[str, Counter] = {}
    for (station, event), n in s.by_station.items():
        per.setdefault(station, Counter())[event] += n
    busiest = sorted(per, key=lambda sid: (-sum(per[sid].values()), sid))[:20]
    stations = Table(title=f"Stations with the most events (top {len(busiest)} of {len(per)}) / 観測所ごと")
    stations.add_column("station")
    for event in EVENTS:
        stations.add_column(event, justify="right")
    for sid in busiest:
        stations.add_row(sid, *(str(per[sid].get(e, 0)) for e in EVENTS))
    console.print(stations)
    console.print(measures_table(report))


def measures_table(report: Report) -> Table:
    m, rate = report.measures, replay_measures.rate
    table = Table(title="Measures / 評価指標 (bench/README.md explains each)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target")
    episodes = m["episodes"]
    rows = [
        (
            "episodes: fault-like / reach danger / below danger",
            f"{episodes['fault']:,} / {episodes['danger']:,} / {episodes['below']:,}",
            "",
        ),
        (
            "public level ≥ 3 in fault-like episodes (gauges)",
            f"{m['fault_public']} ({m['fault_public_gauges']})",
            "0",
        ),
        (
            "…issued, or held with staff not asked, once the readings show the fault",
            str(m["fault_public_evident"]),
            "0",
        ),
        ("issued ≥ 4 held > 6 h into silence, nobody asked", str(m["silent_holds"]), "0"),
        ("…held at exactly 6 h (asked at the first 30-s tick after)", str(m["silent_holds_strict"]), ""),
        (
            "level-4 forecasts in episodes below danger (newest falling)",
            f"{m['forecasts_below']} ({m['forecasts_below_falling']})",
            "explained (0)",
        ),
        (
            "…near danger / kept rising, stopped short / at the peak / falling",
            " / ".join(
                str(m["forecasts_below_kinds"].get(k, 0)) for k in ("near", "stalled", "peak", "falling")
            ),
            "",
        ),
        (
            "rises through danger (≥ 2 readings) proposed by the 2nd",
            rate(m["rises_proposed"], m["rises"]),
            "≥ 95 %",
        ),
        ("…proposed one reading later", str(m["rises_proposed_late"]), ""),
        (
            "returns from a dropout below danger (not rises), level 4 proposed or held",
            rate(m["dropouts_proposed"], m["dropouts"]),
            "",
        ),
        (
            "single readings after a plausible rise proposed at once",
            rate(m["singles_plausible_proposed"], m["singles_plausible"]),
            "100 %",
        ),
        (
            "jumps beyond the station's history proposed",
            rate(m["singles_jump_proposed"], m["singles_jump"]),
            "0",
        ),
        (
            "single-reading proposals the next reading takes back, withdrawn untold",
            rate(m["takebacks_withdrawn"], m["takebacks"]),
            "100 %",
        ),
        ("…confirmed-stage proposals the next reading falls below (kept)", str(m["takebacks_confirmed"]), ""),
        ("most public level changes of an area within 6 h", str(m["max_changes_6h"]), "≤ 2 (issue, lift)"),
        ("areas with more than 2 public changes within 6 h", str(m["flapping_areas"]), ""),
        ("most reversals of an area's level within 6 h", str(m["max_reversals_6h"]), "≤ 1"),
        ("areas with more than 1 reversal within 6 h", str(m["reversal_areas"]), "0"),
        ("evaluations (readings + health wake-ups)", f"{report.summary.evaluations:,}", ""),
        ("replay CPU time / wall time", f"{report.cpu_s:.1f} s / {report.wall_s:.1f} s", "≤ 60 s"),
        ("evaluations per CPU second", f"{report.evaluations_per_cpu_s:,.0f}", ""),
    ]
    for row in rows:
        table.add_row(*row)
    return table
