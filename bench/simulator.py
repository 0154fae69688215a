"""Firmware-fleet benchmark: how many readings the simulator's gauges (the real
firmware, ``simulator/firmware_fleet.py``) generate per CPU second of its process.

    uv run python bench/simulator.py [--devices 100,1000,10000] [--repeat 3]

Against its own Mosquitto (no PostgreSQL): every gauge has its own broker account
and runs an hour of virtual time flat out (a measurement every 10 minutes, hourly
uplinks, then one more uplink to send the rest). A consumer in a separate process
only answers each reading message with the device's watermark (what ingest does
after its commit), so the firmware's wait for the acknowledgement is as short as
the broker allows and nothing else competes for the simulator's process. The table
shows medians of ``--repeat`` runs next to the raw-socket generator of
``bench/ingest.py`` (0.0065 CPU s per 1,000 messages: bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from kawamori.embedded import MosquittoBroker  # noqa: E402
from simulator.firmware_fleet import DeviceSpec, FirmwareFleet, normal_level, start_for  # noqa: E402

GENERATOR_PER_CPU_S = 1000 / 0.0065  # bench/README.md: the raw-socket generator, messages per CPU second
MOUNT_MM = 5000

ACKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
from kawamori import contract, logs
from simulator.mqtt import Connection
logs.configure(level=30)
high = {}
def on(m):
    device = m.topic.split("/")[2]
    d = json.loads(m.payload)
    seq = max(r["seq"] for r in d.get("r", [d]))
    high[device] = max(seq, high.get(device, -1))
    c.publish(contract.topic(device, "ack"), contract.encode_ack(high[device]), retain=True)
c = Connection(sys.argv[1], "acker", subscriptions=["kawamori/v1/+/reading"], on_message=on, persistent=False)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"""


def specs(broker: MosquittoBroker, count: int) -> list[DeviceSpec]:
    ids = [f"bench-{n:05d}" for n in range(count)]
    passwords = broker.accounts.ensure_many(ids)
    return [DeviceSpec(d, passwords[d], MOUNT_MM, normal_level(MOUNT_MM - 3500, seed=d)) for d in ids]


def run_once(
    broker: MosquittoBroker, devices: list[DeviceSpec], folder: Path, workers: int, minutes: float
) -> dict:
    site = {"broker_host": "127.0.0.1", "broker_port": broker.port, "tls": False}
    start = start_for(time.time(), minutes, None)
    fleet = FirmwareFleet(devices, folder=folder, site=site, start=start, workers=workers)
    report = fleet.run(minutes=minutes)
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "readings": report.acknowledged,
        "lost": report.taken - report.acknowledged,
        "uplinks": report.uplinks,
        "errors": report.errors,
        "wall": report.wall_s,
        "cpu": report.cpu_s,
        "rate": report.acknowledged / report.wall_s,
        "per_cpu": report.acknowledged / report.cpu_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="100,1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (medians are shown)")
    parser.add_argument("--minutes", type=float, default=60.0, help="virtual minutes per run")
    parser.add_argument("--workers", type=int, default=128, help="the fleet's worker threads")
    parser.add_argument(
        "--flash",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where the gauges' flash folders go (default: /dev/shm, in memory, if there is one)",
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.devices.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="kawamori-bench-sim-"))
    folder.chmod(0o711)  # the embedded broker runs as nobody when started by root
    broker = MosquittoBroker(folder / "mq")
    broker.start()
    acker = None
    flash = folder / "flash"
    try:
        pool = specs(broker, max(sizes))
        broker.reload()
        acker = subprocess.Popen(
            [sys.executable, "-c", ACKER, broker.url("kawamori-ingest"), str(ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert acker.stdout is not None and acker.stdout.readline().strip() == "ready"
        flash = Path(tempfile.mkdtemp(prefix="kawamori-flash-", dir=args.flash))
        results: dict[int, list[dict]] = {}
        for size in sizes:
            for run in range(args.repeat):
                result = run_once(broker, pool[:size], flash / f"{size}-{run}", args.workers, args.minutes)
                results.setdefault(size, []).append(result)
                print(
                    f"{size} gauges, run {run + 1}: {result['readings']:,} readings in "
                    f"{result['wall']:.1f} s, {result['per_cpu']:,.0f} per CPU s, {result['errors']} errors",
                    file=sys.stderr,
                )
        show(results, args)
    finally:
        if acker is not None:
            acker.communicate("", timeout=10)
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(flash, ignore_errors=True)


def show(results: dict[int, list[dict]], args: argparse.Namespace) -> None:
    def median(rs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rs)

    table = Table(
        title=f"Firmware fleet — medians of {args.repeat} runs, {args.minutes:g} virtual min, "
        f"{args.workers} workers, {os.cpu_count()} cores, {datetime.now():%Y-%m-%d}"
    )
    for column in (
        "gauges",
        "readings",
        "uplinks",
        "errors",
        "wall s",
        "readings/s",
        "CPU s / 1,000",
        "per CPU s",
    ):
        table.add_column(column, justify="right")
    table.add_column("vs raw generator", justify="right")
    for size, rs in results.items():
        per_cpu = median(rs, "per_cpu")
        table.add_row(
            f"{size:,}",
            f"{median(rs, 'readings'):,.0f}",
            f"{median(rs, 'uplinks'):,.0f}",
            f"{sum(r['errors'] + r['lost'] for r in rs)}",
            f"{median(rs, 'wall'):.1f}",
            f"{median(rs, 'rate'):,.0f}",
            f"{1000 / per_cpu:.3f}",
            f"{per_cpu:,.0f}",
            f"1/{GENERATOR_PER_CPU_S / per_cpu:.0f}",
        )
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
