"""Ingest benchmark: one command, one table, everything side by side on this machine.

    uv run python bench/ingest.py [--readings 60000] [--repeat 3]

In one run, against its own PostgreSQL (with commit timestamps) and Mosquitto:

1. broker pass-through: QoS 1 publishes → a subscriber that only acknowledges
   (the ceiling any MQTT consumer on this machine can reach);
2. Kawamori ingest (``kawamori ingest``), single-reading messages, as fast as the
   publishers can send: committed readings/s, CPU seconds per 1,000, peak RSS;
3. the naive baseline on the same kind of load: a paho subscriber (``loop_start``)
   doing one autocommit INSERT per message;
4. ingest with devices flushing backlogs in batches of 100 readings per message;
5. latency: ingest at a steady 2,000 messages/s, publish → commit (p50, p99), from
   PostgreSQL's commit timestamps;
6. PostgreSQL COPY of the same rows (the database's ceiling).

Publishers run in separate processes, one MQTT identity per simulated device. Every
scenario runs ``--repeat`` times; the table shows medians. Ratios compare against the
baseline and the ceilings measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from kawamori import db, logs  # noqa: E402
from kawamori.broker_auth import service_url  # noqa: E402
from kawamori.embedded import MosquittoBroker, PostgresServer, free_port  # noqa: E402
from kawamori.model import Device, Stage, Station  # noqa: E402
from kawamori.network import Network, apply_network  # noqa: E402
from simulator.mqtt import Connection  # noqa: E402

console = Console(width=150)
DEVICES = 40
MAX_INFLIGHT = 2000  # the worker's Receive Maximum (its default), also the pass-through subscriber's
GENERATORS = 1  # load-generator processes (bench/loadgen.py); its CPU is measured


# -- load ---------------------------------------------------------------------------------
def bench_network(devices: int) -> Network:
    stations, boards = [], []
    for i in range(devices):
        stations.append(
            Station(
                id=f"b{i:04d}",
                name_ja=f"橋{i}",
                name_en=f"Bridge {i}",
                river_ja="川",
                river_en="River",
                latitude=38.7,
                longitude=139.8,
                mount_height_m=10.0,
                level_min_m=0.0,
                level_max_m=9.5,
                stages=(Stage(key="danger", name_ja="危険", name_en="Danger", level_m=8.0, alert_level=4),),
            )
        )
        boards.append(Device(id=f"bd{i:04d}", station_id=f"b{i:04d}"))
    return Network(name="bench", stations=tuple(stations), devices=tuple(boards))


def generator(
    urls: list[str], readings: int, per_message: int, rate: float | None, seq0: int, go, out
) -> None:
    """One load-generator process: connect its devices, wait for the start, publish."""
    devices = [loadgen.Device(url) for url in urls]
    go.wait()
    result = loadgen.publish(devices, readings, per_message=per_message, rate=rate, seq0=seq0)
    for device in devices:
        device.close()
    out.send(result)


class Load:
    def __init__(self, broker: MosquittoBroker, devices: list[str]) -> None:
        self.urls = [f"mqtt://{d}:{broker.accounts.password(d)}@127.0.0.1:{broker.port}" for d in devices]
        self.seq = 0

    def run(
        self, readings: int, per_message: int = 1, rate: float | None = None, on_start=None
    ) -> loadgen.LoadResult:
        """Publish and wait until every message is acknowledged by the broker;
        ``on_start`` is called as the publishers are released."""
        context = multiprocessing.get_context("fork")
        go = context.Event()
        share = readings // GENERATORS
        processes, pipes = [], []
        for p in range(GENERATORS):
            receiver, sender = context.Pipe(duplex=False)
            per_rate = rate / GENERATORS if rate else None
            processes.append(
                context.Process(
                    target=generator,
                    args=(self.urls[p::GENERATORS], share, per_message, per_rate, self.seq, go, sender),
                )
            )
            pipes.append(receiver)
            self.seq += share + 1
        for process in processes:
            process.start()
        time.sleep(1.0)  # connections up
        if on_start is not None:
            on_start()
        go.set()
        results = [pipe.recv() for pipe in pipes]
        for process in processes:
            process.join(60)
        return loadgen.LoadResult(
            messages=sum(r.messages for r in results),
            readings=sum(r.readings for r in results),
            seconds=max(r.seconds for r in results),
            cpu_s=sum(r.cpu_s for r in results),
        )


# -- consumers ----------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds each part of the system used between :meth:`start` and :meth:`stop`,
    read from /proc (processes that exit in between are not counted)."""

    def __init__(self, roles: dict[str, object]) -> None:
        self.roles = roles  # role -> callable returning the pids to count

    def _snapshot(self) -> dict[str, dict[int, float]]:
        snapshot = {}
        for role, pids in self.roles.items():
            snapshot[role] = {}
            for pid in pids():
                with contextlib.suppress(OSError):
                    snapshot[role][pid] = cpu_seconds(pid)
        return snapshot

    @staticmethod
    def _machine() -> float:
        """CPU seconds all processes of the machine have used (/proc/stat)."""
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait

    def start(self) -> None:
        self._before = self._snapshot()
        self._machine_before = self._machine()

    def stop(self) -> dict[str, float]:
        after = self._snapshot()
        used = {
            role: sum(cpu - self._before[role].get(pid, 0.0) for pid, cpu in pids.items())
            for role, pids in after.items()
        }
        used["machine"] = self._machine() - self._machine_before
        return used


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_healthy(port: int, timeout: float = 30) -> None:
    """Until the worker is connected and subscribed (it then answers /health)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except urllib.error.HTTPError:
            break  # 503 while starting: connected all the same
        except OSError:
            time.sleep(0.1)
    time.sleep(0.3)


def mean_batch(port: int) -> float:
    """Messages per committed batch, from the worker's own /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith(("kawamori_ingest_batch_messages_sum", "kawamori_ingest_batch_messages_count")):
            name, value = line.split()
            values[name.rsplit("_", 1)[1]] = float(value)
    return values["sum"] / max(values["count"], 1)


def end_session(url: str, client_id: str) -> None:
    """Remove a persistent session so it no longer takes a share of the group (as the
    service account named as that client: the broker binds client ids to accounts)."""
    connection = Connection(service_url(url, client_id), client_id, persistent=False)
    connection.start()
    connection.stop()


def wait_rows(database_url: str, expected: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM readings").fetchone()[0] >= expected:
                return
            time.sleep(0.2)
        count = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        dead = conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall()
    raise RuntimeError(f"{count} of {expected} readings arrived; dead letters: {dead}")


def commit_stats(database_url: str) -> dict[str, float]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            """WITH c AS (SELECT pg_xact_commit_timestamp(xmin) AS at, time FROM readings)
               SELECT count(*), extract(epoch FROM max(at) - min(at)),
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM at - time)),
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM at - time))
               FROM c"""
        ).fetchone()
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    count, span, p50, p99 = (float(v) if v is not None else float("nan") for v in row)
    return {
        "rows": count,
        "rate": count / max(span, 1e-6),
        "p50_ms": p50 * 1000,
        "p99_ms": p99 * 1000,
        "dead": dead,
    }


def reset(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE readings, dead_letters, device_status, ingest_workers")


NAIVE = r"""
import sys, time, psycopg, json
import paho.mqtt.client as mqtt
from urllib.parse import urlsplit
db_url, mqtt_url = sys.argv[1], sys.argv[2]
conn = psycopg.connect(db_url, autocommit=True)
stations = dict(conn.execute("SELECT id, station_id FROM devices").fetchall())
u = urlsplit(mqtt_url)
def on_message(client, userdata, msg):
    device = msg.topic.split("/")[2]
    d = json.loads(msg.payload)
    for r in d.get("r", [d]):
        conn.execute("INSERT INTO readings (station_id, time, level_m, device_id, seq) VALUES "
                     "(%s, to_timestamp(%s), %s, %s, %s) ON CONFLICT DO NOTHING",
                     (stations[device], r["t"], r["level"], device, r["seq"]))
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="naive", protocol=mqtt.MQTTv5)
c.username_pw_set(u.username, u.password)
c.on_message = on_message
c.on_connect = lambda client, *a: client.subscribe("kawamori/v1/+/reading", qos=1)
c.connect(u.hostname, u.port)
c.loop_start()  # paho's own network thread, default settings: what "naive" means here
while True:
    time.sleep(1)
"""

PASS_THROUGH = r"""
import os, sys, time
sys.path.insert(0, sys.argv[3])
from kawamori import logs
from kawamori.mqtt_direct import DirectConnection
logs.configure(level=30)
n = 0
first = last = None
def on(m):
    global n, first, last
    n += 1
    c.ack(m)
    if first is None: first = time.time()
c = DirectConnection(sys.argv[1], "passthrough", subscriptions=["kawamori/v1/+/reading"], on_message=on,
                     persistent=False, receive_maximum=int(sys.argv[4]))
c.open()
expected = int(sys.argv[2])
deadline = time.time() + 600
while n < expected and time.time() < deadline:
    c.poll(0.5)
last = time.time()
c.flush()
print(n, (last or 0) - (first or 0), sum(os.times()[:2]))
"""


class Bench:
    def __init__(self, folder: Path, readings: int) -> None:
        self.readings = readings
        self.pg = PostgresServer(
            folder / "pg", settings={"track_commit_timestamp": "on", "synchronous_commit": "on"}
        )
        self.pg.start()
        self.db_url = self.pg.create_database("bench")
        network = bench_network(DEVICES)
        with db.connect(self.db_url) as conn:
            db.migrate(conn)
            apply_network(conn, network)
        self.broker = MosquittoBroker(folder / "mq")
        for device in network.devices:
            self.broker.accounts.ensure(device.id)
        self.broker.start()
        self.ingest_url = self.broker.url("kawamori-ingest")
        self.load = Load(self.broker, [d.id for d in network.devices])
        self.round = 0
        self.worker_args: list[str] = []  # extra `kawamori ingest` options (for experiments)

    def close(self) -> None:
        self.broker.stop()
        self.pg.stop()

    def meter(self, consumer: int) -> CpuMeter:
        assert self.broker.process is not None and self.pg.process is not None
        broker, postmaster = self.broker.process.pid, self.pg.process.pid
        return CpuMeter(
            {
                "broker": lambda: [broker],
                "consumer": lambda: [consumer],
                "postgres": lambda: [postmaster, *children(postmaster)],
            }
        )

    @staticmethod
    def _cpu(used: dict[str, float], load: loadgen.LoadResult) -> dict[str, float]:
        """CPU seconds per 1,000 messages of each process, and the generator's capacity."""
        per = 1000 / load.messages
        machine = used.pop("machine")
        cpu = {f"cpu_{role}": seconds * per for role, seconds in used.items()}
        cpu["cpu_generator"] = load.cpu_s * per
        # everything else on the machine meanwhile: this script, and other people's work
        cpu["cpu_others"] = (machine - sum(used.values()) - load.cpu_s) * per
        cpu["generator_capacity"] = load.messages / max(load.cpu_s, 1e-6)  # messages per CPU second
        return cpu

    def pass_through(self) -> dict[str, float]:
        n = self.readings
        script = subprocess.Popen(
            [sys.executable, "-c", PASS_THROUGH, self.ingest_url, str(n), str(ROOT), str(MAX_INFLIGHT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)
        meter = self.meter(script.pid)
        load = self.load.run(n, on_start=meter.start)
        count, span, cpu = script.communicate(timeout=600)[0].split()[-3:]
        used = meter.stop()
        used["consumer"] = float(cpu)  # it has exited: its own count
        return {"rate": int(count) / max(float(span), 1e-6), **self._cpu(used, load)}

    def ingest(self, *, per_message: int = 1, rate: float | None = None, readings: int | None = None) -> dict:
        reset(self.db_url)
        self.round += 1
        worker_name = f"bench{self.round}"
        self.broker.allow_services(f"kawamori-ingest-{worker_name}")
        port = free_port()
        worker = spawn(
            [
                sys.executable,
                "-m",
                "kawamori_app",
                "ingest",
                "--worker",
                worker_name,
                "--metrics-port",
                str(port),
                *self.worker_args,
            ],
            {
                "KAWAMORI_DATABASE_URL": self.db_url,
                "KAWAMORI_MQTT_URL": self.ingest_url,
                "KAWAMORI_LOG_FORMAT": "json",
            },
        )
        wait_healthy(port)
        cpu0 = cpu_seconds(worker.pid)
        total = readings or self.readings
        meter = self.meter(worker.pid)
        load = self.load.run(total, per_message=per_message, rate=rate, on_start=meter.start)
        wait_rows(self.db_url, total)
        cpu = cpu_seconds(worker.pid) - cpu0
        used = meter.stop()
        rss = peak_rss_mb(worker.pid)
        batch = mean_batch(port)
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        end_session(self.ingest_url, f"kawamori-ingest-{worker_name}")
        stats = commit_stats(self.db_url)
        stats.update(cpu_per_1000=cpu / total * 1000, rss_mb=rss, batch=batch, **self._cpu(used, load))
        return stats

    def naive(self, readings: int) -> dict:
        reset(self.db_url)
        consumer = spawn([sys.executable, "-c", NAIVE, self.db_url, self.ingest_url], {})
        time.sleep(2.0)
        cpu0 = cpu_seconds(consumer.pid)
        meter = self.meter(consumer.pid)
        load = self.load.run(readings, on_start=meter.start)
        wait_rows(self.db_url, readings, timeout=900)
        cpu = cpu_seconds(consumer.pid) - cpu0
        used = meter.stop()
        consumer.kill()
        consumer.wait()
        stats = commit_stats(self.db_url)
        stats.update(cpu_per_1000=cpu / readings * 1000, **self._cpu(used, load))
        return stats

    def copy_limit(self) -> dict[str, float]:
        reset(self.db_url)
        now = datetime.now(UTC)
        rows = [
            (f"b{i % DEVICES:04d}", now.timestamp() - i * 0.001, 5.0, f"bd{i % DEVICES:04d}", i)
            for i in range(self.readings)
        ]
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            started = time.perf_counter()
            for start in range(0, len(rows), 5000):
                with (
                    conn.transaction(),
                    conn.cursor() as cur,
                    cur.copy("COPY readings (station_id, time, level_m, device_id, seq) FROM STDIN") as copy,
                ):
                    for station, t, level, device, seq in rows[start : start + 5000]:
                        copy.write_row((station, datetime.fromtimestamp(t, UTC), level, device, seq))
            elapsed = time.perf_counter() - started
        return {"rate": len(rows) / elapsed}


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=150_000, help="readings per scenario")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (medians are shown)")
    parser.add_argument(
        "--naive-readings", type=int, default=6_000, help="the baseline is slow: fewer readings"
    )
    args = parser.parse_args()
    logs.configure(level=logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="kawamori-bench-"))
    folder.chmod(0o711)
    bench = Bench(folder, args.readings)
    results: dict[str, list[dict]] = {
        k: [] for k in ("pass", "ingest", "naive", "batched", "latency", "copy")
    }
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("benchmark", total=args.repeat * 6)
            for _ in range(args.repeat):
                for name, run in (
                    ("pass", bench.pass_through),
                    ("ingest", bench.ingest),
                    ("naive", lambda: bench.naive(args.naive_readings)),
                    ("batched", lambda: bench.ingest(per_message=100, readings=args.readings * 5)),
                    ("latency", lambda: bench.ingest(rate=2000, readings=20_000)),
                    ("copy", bench.copy_limit),
                ):
                    progress.update(task, description=name)
                    results[name].append(run())
                    progress.advance(task)
    finally:
        bench.close()
        shutil.rmtree(folder, ignore_errors=True)

    print_results(results, args)


def per_run(results: dict[str, list[dict]], a: str, b: str, key_a: str, key_b: str) -> float:
    """The median over runs of a ratio measured side by side within each run."""
    return statistics.median(x[key_a] / y[key_b] for x, y in zip(results[a], results[b], strict=True))


def print_results(results: dict[str, list[dict]], args: argparse.Namespace) -> None:
    fmt = "{:,.0f}".format
    runs = args.repeat
    table = Table(
        title=f"Kawamori ingest — medians of {runs} runs, {os.cpu_count()} cores, {datetime.now():%Y-%m-%d}"
    )
    for column in (
        "scenario",
        "readings/s",
        "p50 ms",
        "p99 ms",
        "worker CPU s / 1,000",
        "peak RSS MB",
        "note",
    ):
        table.add_column(column, justify="left" if column in ("scenario", "note") else "right")

    def row(name: str, label: str, note: str, *, latency: bool = False, rss: bool = True) -> None:
        rs = results[name]
        table.add_row(
            label,
            fmt(median(rs, "rate")),
            f"{median(rs, 'p50_ms'):.0f}" if latency else "",
            f"{median(rs, 'p99_ms'):.0f}" if latency else "",
            f"{median(rs, 'cpu_per_1000'):.4f}" if "cpu_per_1000" in rs[0] else "",
            f"{median(rs, 'rss_mb'):.0f}" if rss else "",
            note,
        )

    vs_naive = per_run(results, "ingest", "naive", "rate", "rate")
    vs_pass = per_run(results, "ingest", "pass", "rate", "rate")
    cpu_ratio = per_run(results, "naive", "ingest", "cpu_per_1000", "cpu_per_1000")
    row("pass", "broker pass-through (ack only)", "ceiling for any consumer", rss=False)
    row("ingest", "ingest, 1 reading/message", f"{vs_naive:.1f}× baseline, {vs_pass:.0%} of pass-through")
    row("naive", "naive baseline (INSERT per message)", f"{args.naive_readings:,} readings", rss=False)
    row("batched", "ingest, batches of 100", "backlog flush")
    row("latency", "ingest at 2,000 messages/s", "publish → commit", latency=True)
    table.add_row(
        "PostgreSQL COPY", fmt(median(results["copy"], "rate")), "", "", "", "", "ceiling for the database"
    )
    console.print(table)

    cpu = Table(title="CPU seconds per 1,000 messages, by process (medians, from /proc)")
    for column in (
        "scenario",
        "generator",
        "Mosquitto",
        "consumer",
        "PostgreSQL",
        "total",
        "2 cores / total",
        "other processes",
    ):
        cpu.add_column(column, justify="left" if column == "scenario" else "right")
    roles = ("cpu_generator", "cpu_broker", "cpu_consumer", "cpu_postgres")
    for name, label in (
        ("pass", "broker pass-through"),
        ("ingest", "ingest, 1 reading/message"),
        ("naive", "naive baseline"),
        ("batched", "ingest, batches of 100"),
    ):
        rs = results[name]
        total = statistics.median(sum(r[k] for k in roles) for r in rs)
        cpu.add_row(
            label,
            *(f"{median(rs, k):.4f}" for k in roles),
            f"{total:.4f}",
            f"{2000 / total:,.0f} msg/s",
            f"{median(rs, 'cpu_others'):.4f}",
        )
    console.print(cpu)
    for name in ("pass", "ingest", "naive", "batched"):
        console.print(f"{name} runs, readings/s: " + ", ".join(fmt(r["rate"]) for r in results[name]))
    capacity = median(results["pass"], "generator_capacity")
    console.print(
        f"Load generator (bench/loadgen.py): {fmt(capacity)} messages per CPU second of its one process, "
        f"{median(results['pass'], 'rate') / capacity:.0%} of a core at the pass-through rate."
    )

    rss = max(r["rss_mb"] for name in ("ingest", "batched", "latency") for r in results[name])
    targets = [
        (
            "≥ 10,000 messages/s, 1 reading each",
            median(results["ingest"], "rate") >= 10_000,
            fmt(median(results["ingest"], "rate")),
        ),
        ("≥ 20× the naive baseline", vs_naive >= 20, f"{vs_naive:.1f}×"),
        ("≥ 80 % of broker pass-through", vs_pass >= 0.8, f"{vs_pass:.0%}"),
        ("CPU per reading ≤ 1/10 of the baseline's", cpu_ratio >= 10, f"1/{cpu_ratio:.1f}"),
        (
            "≥ 50,000 readings/s in batches",
            median(results["batched"], "rate") >= 50_000,
            fmt(median(results["batched"], "rate")),
        ),
        (
            "p99 publish → commit ≤ 250 ms at 2,000/s",
            median(results["latency"], "p99_ms") <= 250,
            f"{median(results['latency'], 'p99_ms'):.0f} ms",
        ),
        ("worker peak RSS ≤ 150 MB", rss <= 150, f"{rss:.0f} MB (highest of all runs)"),
    ]
    summary = Table(title="Targets (ratios: median over runs of each run's side-by-side ratio)")
    for column in ("target", "measured", "met"):
        summary.add_column(column)
    for target, met, measured in targets:
        summary.add_row(target, measured, "yes" if met else "NO")
    console.print(summary)
    dead = sum(r["dead"] for rs in results.values() for r in rs if "dead" in r)
    console.print(f"dead letters in all runs: {dead}")


if __name__ == "__main__":
    main()
