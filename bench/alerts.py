"""Alert-engine benchmark: one command, one table, everything side by side on this machine.

    uv run python bench/alerts.py [--stations 10000] [--repeat 3]

Stations are real: the 4,053 crisis-management gauges of data/jp-crisis-gauges with
their own thresholds (``kawamori.model.crisis_gauge_stages``), extended to
``--stations`` with clearly labelled copies (id ``<code>-copy<k>``). Every station has
8–36 readings 10 minutes apart in its window: most below the observation-start level,
3 % rising through the danger level, 1 % stuck sensors, 1 % with a false spike, 0.5 %
silent for three hours. Against its own PostgreSQL (with ``track_commit_timestamp``):

a. cold full tick: every station has new readings, nothing judged yet;
b. warm tick: nothing new (the periodic tick's common case);
c. tick where 5 % of the stations have one new reading;
d. latency: the evaluator (``alerts.service.run``, LISTEN) in its own process while
   readings are committed through ingest's write path (``ingest.store.write_plan``,
   which NOTIFYs) at 2,000 readings/s, 100 per transaction as ingest batches them;
   reading committed → decision committed from PostgreSQL's commit timestamps
   (the readings row vs the ``station_status`` row written with the alerts).

Each scenario also runs with the naive baseline: the same pure rules, but each station's
window queried one by one and each station written in its own transaction. Every
scenario starts from a fresh copy of the same database; the table shows medians.
"""

from __future__ import annotations

import argparse
import csv
import logging
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts import store  # noqa: E402
from alerts.evaluate import evaluate as assess  # noqa: E402
from alerts.evaluate import state_from_json  # noqa: E402
from alerts.model import Assessment, Sample  # noqa: E402
from alerts.service import Evaluator, run  # noqa: E402
from ingest.plan import plan_batch  # noqa: E402
from ingest.store import load_devices, write_plan  # noqa: E402
from kawamori import contract, db, logs  # noqa: E402
from kawamori.clock import REAL, Clock  # noqa: E402
from kawamori.db import READINGS_CHANNEL, connect  # noqa: E402
from kawamori.embedded import PostgresServer  # noqa: E402
from kawamori.messages import Message  # noqa: E402
from kawamori.model import Station, crisis_gauge_stages  # noqa: E402
from kawamori.network import Network, apply_network  # noqa: E402

console = Console(width=150)
GAUGES = ROOT.parent / "shared" / "data" / "jp-crisis-gauges" / "stations.csv"
SPACING = timedelta(minutes=10)
TEMPLATE = "bench_template"


# -- stations and readings ----------------------------------------------------------------
def real_gauges(path: Path) -> list[Station]:
    stations = []
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            start, danger = float(row["start_level_m"]), float(row["danger_level_m"])
            warning = float(row["warning_level_m"]) if row["warning_level_m"] else None
            if not start < danger:
                continue
            stations.append(
                Station(
                    id=row["code"],
                    name_ja=row["name"],
                    name_en=row["code"],
                    river_ja=row["name"],
                    river_en=row["city"] or row["code"],
                    latitude=float(row["latitude"]),
                    longitude=float(row["longitude"]),
                    mount_height_m=danger + 6,
                    level_min_m=start - 5,
                    level_max_m=danger + 5,
                    stages=crisis_gauge_stages(start, danger, warning),
                )
            )
    return stations


def bench_stations(path: Path, count: int) -> list[Station]:
    """The real gauges, then labelled copies of them until there are ``count``."""
    real = real_gauges(path)
    stations = real[:count]
    k = 0
    while len(stations) < count:
        k += 1
        for s in real[: count - len(stations)]:
            stations.append(
                s.model_copy(
                    update={
                        "id": f"{s.id}-copy{k}",
                        "name_ja": f"{s.name_ja}（複製{k}）",
                        "name_en": f"{s.name_en} (copy {k})",
                    }
                )
            )
    return stations


def kind_of(i: int) -> str:
    r = (i * 7919) % 1000  # spread the kinds over the list, deterministically
    if r < 30:
        return "flood"
    if r < 40:
        return "stuck"
    if r < 50:
        return "spike"
    if r < 55:
        return "silent"
    return "normal"


def window_readings(
    station: Station, kind: str, end: datetime, rng: random.Random
) -> list[tuple[datetime, float]]:
    start, danger = station.stages[0].level_m, station.stages[-1].level_m
    n = rng.randint(8, 36)
    last = (
        end - timedelta(minutes=rng.randint(0, 9)) - (timedelta(hours=3) if kind == "silent" else timedelta())
    )
    times = [last - SPACING * (n - 1 - i) for i in range(n)]
    if kind == "flood":  # about 1 m/h through the danger level
        levels = [danger - 1.0 + 1.2 * i / (n - 1) for i in range(n)]
    elif kind == "stuck":
        levels = [round(start + 0.3, 3)] * n
    else:
        level, levels = start - 0.5, []
        for _ in range(n):
            level += rng.uniform(-0.01, 0.01)
            levels.append(level)
        if kind == "spike":
            levels[n // 2] += 3.0
    return [(t, round(v, 4)) for t, v in zip(times, levels, strict=True)]


def build_template(pg: PostgresServer, stations: list[Station], end: datetime) -> dict[str, tuple]:
    """The migrated database every scenario copies; returns each station's last reading."""
    url = pg.create_database(TEMPLATE)
    rng = random.Random(20260601)
    last: dict[str, tuple] = {}
    with db.connect(url) as conn:
        db.migrate(conn)
        apply_network(conn, Network(name="bench", stations=tuple(stations)))
        conn.execute(
            """INSERT INTO devices (id, station_id, installed_at)
               SELECT 'dev-' || id, id, now() - interval '1 year' FROM stations"""
        )
        with conn.cursor() as cur, cur.copy("COPY readings (station_id, time, level_m) FROM STDIN") as copy:
            for i, station in enumerate(stations):
                kind = kind_of(i)
                rows = window_readings(station, kind, end, rng)
                for t, level in rows:
                    copy.write_row((station.id, t, level))
                last[station.id] = (kind, rows[-1][0], rows[-1][1])
        conn.execute("VACUUM ANALYZE")
    return last


# -- the naive baseline -------------------------------------------------------------------
class NaiveEvaluator(Evaluator):
    """The same rules, station by station: its state, its newest reading and its window
    queried one by one, each station written in its own transaction."""

    def evaluate(self, *, now: datetime, station_ids: Iterable[str] | None = None) -> list[Assessment]:
        self._refresh()
        ids = sorted(self._entries if station_ids is None else set(station_ids) & self._entries.keys())
        out = []
        for sid in ids:
            entry = self._entries[sid]
            with self.conn.transaction():
                row = self.conn.execute(
                    "SELECT state FROM station_status WHERE station_id = %s", (sid,)
                ).fetchone()
                prior = state_from_json(row[0] if row else None)
                newest = self.conn.execute(
                    "SELECT max(time) FROM readings WHERE station_id = %s AND time <= %s", (sid, now)
                ).fetchone()[0]
                window = []
                if newest is not None and (prior.last_time is None or newest > prior.last_time):
                    window = [
                        Sample(*r)
                        for r in self.conn.execute(
                            """SELECT time, level_m, quality FROM readings
                               WHERE station_id = %s AND time >= %s AND time <= %s ORDER BY time""",
                            (sid, newest - entry.rules.window, now),
                        )
                    ]
                neighbours = {}
                for n in entry.neighbours:
                    level = self.conn.execute(
                        "SELECT alert_level FROM station_status WHERE station_id = %s", (n,)
                    ).fetchone()
                    neighbours[n] = level[0] if level else None
                assessment = assess(
                    entry.station, window, prior, now=now, settings=entry.rules, neighbours=neighbours
                )
                self._store([assessment], {sid: prior}, now)
                store.apply(
                    self.conn,
                    station_id=sid,
                    conditions=assessment.conditions,
                    now=now,
                    policy=self.policy,
                    sender=self.sender,
                )
            out.append(assessment)
        return out


def run_naive(database_url: str, *, tick_s: float, stopping: threading.Event, clock: Clock = REAL) -> None:
    """:func:`alerts.service.run`'s loop around the naive evaluator."""
    listener = connect(database_url)
    worker = connect(database_url)
    listener.execute(f"LISTEN {READINGS_CHANNEL}".encode())
    evaluator = NaiveEvaluator(worker)
    evaluator.evaluate(now=clock.now())
    while not stopping.is_set():
        woken: set[str] = set()
        for note in listener.notifies(timeout=1.0, stop_after=1):
            woken.update(filter(None, note.payload.split(",")))
        if woken:
            for note in listener.notifies(timeout=0.005):
                woken.update(filter(None, note.payload.split(",")))
            evaluator.evaluate(now=clock.now(), station_ids=woken)


# -- scenarios ----------------------------------------------------------------------------
class Bench:
    def __init__(self, folder: Path, stations: int, gauges: Path) -> None:
        self.pg = PostgresServer(
            folder / "pg", settings={"track_commit_timestamp": "on", "synchronous_commit": "on"}
        )
        self.pg.start()
        self.stations = bench_stations(gauges, stations)
        self.end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        self.last = build_template(self.pg, self.stations, self.end)
        self.round = 0

    def close(self) -> None:
        self.pg.stop()

    def fresh(self) -> str:
        self.round += 1
        return self.pg.create_database(f"run{self.round}", template=TEMPLATE)

    def ticks(self, evaluator_class: type[Evaluator]) -> dict[str, float]:
        """Scenarios a, b and c, one after the other on a fresh database. Besides the
        wall-clock time, the CPU time of the evaluator and of its PostgreSQL backend
        (which other load on the machine does not inflate)."""
        url = self.fresh()
        out: dict[str, float] = {}
        with db.connect(url) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            cpu = lambda: time.process_time() + cpu_seconds(backend)  # noqa: E731
            evaluator = evaluator_class(conn)
            started = time.perf_counter()
            evaluator._refresh()  # a running evaluator has its stations cached
            out["refresh_s"] = time.perf_counter() - started
            now = self.end + timedelta(seconds=30)
            (out["cold_s"], out["cold_cpu"]), assessed = timed(lambda: evaluator.evaluate(now=now), cpu)
            out["alerts"] = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
            out["assessed"] = len(assessed)
            now += timedelta(seconds=30)
            (out["warm_s"], out["warm_cpu"]), _ = timed(lambda: evaluator.evaluate(now=now), cpu)
            now += timedelta(seconds=30)
            rng = random.Random(self.round)
            some = rng.sample(self.stations, len(self.stations) // 20)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO readings (station_id, time, level_m) VALUES (%s, %s, %s)",
                    [(s.id, now - timedelta(seconds=5), self.last[s.id][2] + 0.01) for s in some],
                )
            (out["some_s"], out["some_cpu"]), _ = timed(lambda: evaluator.evaluate(now=now), cpu)
        return out

    def latency(self, target, *, rate: float, seconds: float, per_commit: int = 100) -> dict[str, float]:
        """Scenario d: ``target`` (``run`` or ``run_naive``) in its own process, readings
        written through ingest's write path at ``rate`` per second."""
        url = self.fresh()
        with db.connect(url) as conn:  # the windows end just before now, as in a live system
            shift = datetime.now(UTC) - timedelta(seconds=30) - self.end
            conn.execute("UPDATE readings SET time = time + %s", (shift,))
            conn.execute("VACUUM ANALYZE readings")
        context = multiprocessing.get_context("fork")
        stopping = context.Event()
        process = context.Process(target=target, args=(url,), kwargs={"tick_s": 3600, "stopping": stopping})
        process.start()
        ids = [s.id for s in self.stations if self.last[s.id][0] != "silent"]
        rng = random.Random(self.round)
        rng.shuffle(ids)
        level = {sid: self.last[sid][2] for sid in ids}
        with db.connect(url) as conn:
            deadline = time.monotonic() + 300
            while conn.execute("SELECT count(*) FROM station_status").fetchone()[0] == 0:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the evaluator did not finish its first tick")
                time.sleep(0.1)
            time.sleep(0.5)
            devices = load_devices(conn)
            total = int(rate * seconds)
            began = datetime.now(UTC)
            started = time.perf_counter()
            written = 0
            seq = 0
            while written < total:
                now = datetime.now(UTC)
                messages = []
                for k in range(min(per_commit, total - written)):
                    sid = ids[(written + k) % len(ids)]
                    level[sid] += rng.uniform(-0.0002, 0.0002)  # plausible even a second apart
                    seq += 1
                    body = contract.encode_batch(
                        [contract.encode_reading(seq=seq, time=now, level_m=level[sid])]
                    )
                    messages.append(
                        Message(contract.topic(f"dev-{sid}", "reading"), body, 1, False, seq, now)
                    )
                write_plan(conn, plan_batch(messages, devices, max_payload_bytes=65_536))
                written += len(messages)
                delay = started + written / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            elapsed = time.perf_counter() - started
            stations_written = len({ids[i % len(ids)] for i in range(total)})
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:  # until every station's newest reading is judged
                judged = conn.execute(
                    """SELECT count(*) FROM (SELECT station_id, max(time) AS newest FROM readings
                                            WHERE time >= %s GROUP BY station_id) n
                       JOIN station_status s USING (station_id) WHERE s.reading_time >= n.newest""",
                    (began,),
                ).fetchone()[0]
                if judged >= stations_written:
                    break
                time.sleep(0.2)
            stopping.set()
            process.join(30)
            row = conn.execute(
                """WITH d AS (
                       SELECT extract(epoch FROM pg_xact_commit_timestamp(s.xmin)
                                                - pg_xact_commit_timestamp(r.xmin)) AS lag
                       FROM station_status s
                       JOIN readings r ON r.station_id = s.station_id AND r.time = s.reading_time
                       WHERE r.time >= %s AND r.xmin <> s.xmin)
                   SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
                          percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), max(lag) FROM d""",
                (began,),
            ).fetchone()
        count, p50, p99, worst = row
        return {
            "rate": total / elapsed,
            "measured": count,
            "stations": stations_written,
            "p50_ms": float(p50 or "nan") * 1000,
            "p99_ms": float(p99 or "nan") * 1000,
            "max_ms": float(worst or "nan") * 1000,
        }


def timed(call: Callable, cpu: Callable[[], float]):
    """((wall seconds, CPU seconds), result) of ``call()``."""
    started, cpu0 = time.perf_counter(), cpu()
    result = call()
    return (time.perf_counter() - started, cpu() - cpu0), result


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=10_000, help="stations (real gauges, then copies)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (medians are shown)")
    parser.add_argument("--rate", type=float, default=2000, help="readings/s in the latency scenario")
    parser.add_argument("--seconds", type=float, default=10, help="length of the latency scenario")
    parser.add_argument("--gauges", type=Path, default=GAUGES, help="stations.csv of the crisis gauges")
    parser.add_argument("--no-naive", action="store_true", help="skip the (slow) naive baseline")
    args = parser.parse_args()
    logs.configure(level=logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="kawamori-bench-alerts-"))
    folder.chmod(0o711)
    console.print(f"building {args.stations:,} stations and their readings …")
    bench = Bench(folder, args.stations, args.gauges)
    results: dict[str, list[dict]] = {k: [] for k in ("ticks", "naive_ticks", "latency", "naive_latency")}
    loads = [os.getloadavg()[0]]
    plan = [
        ("ticks", lambda: bench.ticks(Evaluator)),
        ("latency", lambda: bench.latency(run, rate=args.rate, seconds=args.seconds)),
    ]
    if not args.no_naive:
        plan += [
            ("naive_ticks", lambda: bench.ticks(NaiveEvaluator)),
            ("naive_latency", lambda: bench.latency(run_naive, rate=args.rate, seconds=args.seconds)),
        ]
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("benchmark", total=args.repeat * len(plan))
            for _ in range(args.repeat):
                for name, scenario in plan:
                    progress.update(task, description=name)
                    results[name].append(scenario())
                    loads.append(os.getloadavg()[0])
                    progress.advance(task)
    finally:
        bench.close()
        shutil.rmtree(folder, ignore_errors=True)

    ticks, naive = results["ticks"], results["naive_ticks"]
    readings = sum(1 for _ in bench.stations)
    table = Table(
        title=f"Kawamori alert engine — {readings:,} stations, medians of {args.repeat} runs, "
        f"{os.cpu_count()} cores"
    )
    columns = ("scenario", "Kawamori", "CPU", "naive baseline", "naive CPU", "ratio", "target", "note")
    for column in columns:
        table.add_column(column, justify="left" if column in ("scenario", "note", "target") else "right")

    def tick_row(label: str, key: str, target: str, note: str) -> None:
        ours = median(ticks, f"{key}_s")
        theirs = median(naive, f"{key}_s") if naive else float("nan")
        cpu = f"{key}_cpu"
        table.add_row(
            label,
            f"{ours * 1000:,.0f} ms",
            f"{median(ticks, cpu) * 1000:,.0f} ms" if cpu in ticks[0] else "",
            f"{theirs * 1000:,.0f} ms" if naive else "–",
            f"{median(naive, cpu) * 1000:,.0f} ms" if naive and cpu in naive[0] else "",
            f"{theirs / ours:,.1f}×" if naive else "–",
            target,
            note,
        )

    tick_row(
        "a. cold full tick",
        "cold",
        "≤ 1,000 ms",
        f"{median(ticks, 'assessed'):,.0f} stations judged, {median(ticks, 'alerts'):,.0f} alerts opened",
    )
    tick_row("b. warm tick, nothing new", "warm", "≤ 1,000 ms", "the periodic tick's common case")
    tick_row("c. tick, 5 % with a new reading", "some", "≤ 1,000 ms", "")
    tick_row("station definitions (re)load", "refresh", "", "once per change of stations")
    lat, naive_lat = results["latency"], results["naive_latency"]
    for key, label, target in (("p50_ms", "p50", ""), ("p99_ms", "p99", "≤ 100 ms"), ("max_ms", "max", "")):
        ours = median(lat, key)
        theirs = median(naive_lat, key) if naive_lat else float("nan")
        table.add_row(
            f"d. reading commit → decision commit, {label}",
            f"{ours:,.1f} ms",
            "",
            f"{theirs:,.1f} ms" if naive_lat else "–",
            "",
            f"{theirs / ours:,.1f}×" if naive_lat else "–",
            target,
            f"{median(lat, 'rate'):,.0f} readings/s via write_plan, {median(lat, 'measured'):,.0f} "
            f"decisions measured"
            if key == "p50_ms"
            else "",
        )
    console.print(table)
    console.print(
        "CPU: the evaluator's process and its PostgreSQL backend, which other load on the machine "
        f"does not inflate. Load average (1 min) seen during the runs: {min(loads):.1f}–{max(loads):.1f} "
        f"on {os.cpu_count()} cores."
    )


if __name__ == "__main__":
    main()
