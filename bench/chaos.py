"""Chaos run of the whole dev stack: ``kawamori up`` with a fleet of gauges running the
real firmware (store-and-forward), while every kind of process is SIGKILLed in turn —
ingest, the evaluator, the dashboard, the door-counter listener, the demo simulator,
the embedded PostgreSQL and Mosquitto, and the supervisor itself (which is then started
again on the same data folder, as systemd would).

Measures: readings the gauges took, acknowledged and that are stored (lost, duplicated);
how long each kind took to come back by itself; whether ``/api/health`` told the truth
throughout (never 200 while an independent probe finds PostgreSQL or the broker down,
never slower than 2.5 s).

    uv run python bench/chaos.py                       # 500 gauges, 10 minutes
    uv run python bench/chaos.py --gauges 50 --seconds 150

``tests/test_chaos.py`` runs the bounded version in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kawamori import db  # noqa: E402
from kawamori.broker_auth import accounts_at, reload_embedded_broker  # noqa: E402
from kawamori.embedded import free_port, services_home  # noqa: E402
from simulator.firmware_fleet import FirmwareFleet, start_for  # noqa: E402
from simulator.fleet_setup import register_fleet  # noqa: E402

KINDS = ("ingest", "alerts", "dashboard", "shelters", "simulator", "postgres", "mosquitto", "supervisor")
_COMMANDS = {"ingest": "ingest", "alerts": "alerts", "dashboard": "dashboard", "shelters": "shelters",
             "simulate": "simulator", "notify": "deliver"}  # fmt: skip


@dataclass
class Kill:
    at_s: float  # since the chaos began
    kind: str
    back_s: float | None = None  # until it runs again (PostgreSQL, Mosquitto: answer; supervisor: health 200)
    healthy_s: float | None = None  # until /api/health next answered 200


@dataclass
class Sample:
    at_s: float
    status: int | None  # None: no answer (the dashboard itself was down)
    elapsed_s: float
    postgres_down: bool  # an independent probe, before and after the request
    broker_down: bool


@dataclass
class ChaosReport:
    gauges: int
    wall_s: float = 0.0
    taken: int = 0
    acknowledged: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    kills: list[Kill] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    all_back: bool = False
    final_health: int | None = None
    fleet_errors: int = 0

    @property
    def health_lies(self) -> list[Sample]:
        """200 while PostgreSQL or the broker was down by the probe's own account."""
        return [s for s in self.samples if s.status == 200 and (s.postgres_down or s.broker_down)]

    @property
    def slowest_health_s(self) -> float:
        return max((s.elapsed_s for s in self.samples if s.status is not None), default=0.0)

    @property
    def truthful_503s(self) -> int:
        """503 answers while the probe found PostgreSQL or the broker down."""
        return sum(1 for s in self.samples if s.status == 503 and (s.postgres_down or s.broker_down))

    def by_kind(self, attribute: str) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for kill in self.kills:
            value = getattr(kill, attribute)
            found.setdefault(kill.kind, []).append(value if value is not None else float("inf"))
        return found

    def settle(self) -> None:
        """Each kill's time until /api/health next answered 200 (from the samples)."""
        for kill in self.kills:
            after = [s.at_s for s in self.samples if s.at_s > kill.at_s and s.status == 200]
            kill.healthy_s = after[0] - kill.at_s if after else None


def _processes(parent: int) -> dict[str, int]:
    """The live (not zombie) children of ``parent`` by kind."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) != parent or stat[0] == "Z" or not argv[0]:
            continue
        program = Path(argv[0].decode(errors="replace")).name
        if program == "postgres":
            found["postgres"] = int(entry.name)
        elif program == "mosquitto":
            found["mosquitto"] = int(entry.name)
        elif len(argv) > 3 and argv[1:3] == [b"-m", b"kawamori_app"]:
            kind = _COMMANDS.get(argv[3].decode())
            if kind:
                found[kind] = int(entry.name)
    return found


class Up:
    """``kawamori up`` as a user runs it, on one data folder and dashboard port."""

    def __init__(self, data: Path, port: int, log: Path) -> None:
        self.data, self.port, self.log = data, port, log
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "KAWAMORI_DATA_DIR": str(self.data), "KAWAMORI_DASHBOARD_PORT": str(self.port)}
        env.pop("KAWAMORI_DATABASE_URL", None)
        env.pop("KAWAMORI_MQTT_URL", None)
        with open(self.log, "ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kawamori_app", "up", "--no-browser", "--interval", "2"],
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the supervisor alone; what it started dies with it (parent-death signal)."""
        assert self.process is not None
        others = list(_processes(self.process.pid).values())
        self.process.kill()
        self.process.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in others) or self._port_busy()
        ):
            time.sleep(0.1)

    def _port_busy(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def health(self, timeout: float = 5.0) -> tuple[int | None, float]:
        started = time.monotonic()
        try:
            status = httpx.get(f"{self.base}/api/health", timeout=timeout).status_code
        except httpx.HTTPError:
            status = None
        return status, time.monotonic() - started


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _wait(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class _Probe:
    """Is PostgreSQL / the broker up, by its own means (not the dashboard's)?"""

    def __init__(self, database_url: str, ports: list[int]) -> None:
        self.database_url, self.ports = database_url, ports

    def postgres_down(self) -> bool:
        try:
            with psycopg.connect(self.database_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return False
        except psycopg.Error:
            return True

    def broker_down(self) -> bool:
        for port in self.ports:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
            except OSError:
                return True
        return False


def run(
    *,
    gauges: int = 50,
    seconds: float = 150.0,
    quiet_s: float = 30.0,
    every_s: tuple[float, float] = (6.0, 10.0),
    accelerate: float = 300.0,
    seed: int = 20,
    folder: Path | None = None,
    say=print,
) -> ChaosReport:
    """Run the stack for ``seconds`` with a kill every ``every_s`` (uniform) until the
    last ``quiet_s``, every kind in turn; then let the gauges drain and count."""
    rng = random.Random(seed)
    own_folder = folder is None
    base = Path(tempfile.mkdtemp(prefix="kawamori-chaos-")) if folder is None else folder
    base.chmod(0o711)
    data = base / "state"
    up = Up(data, free_port(), base / "up.log")
    report = ChaosReport(gauges=gauges)
    stop_observing = threading.Event()
    try:
        up.start()
        if not _wait(lambda: up.health()[0] == 200, 120, 0.5):
            raise RuntimeError(f"the stack did not become healthy: {up.log.read_text()[-3000:]}")
        runtime = json.loads((data / "services.json").read_text())
        ports = json.loads((data / "ports.json").read_text())
        accounts = accounts_at(Path(runtime["accounts_dir"]))
        minutes = seconds * accelerate / 60
        start = start_for(time.time(), minutes, accelerate)
        with db.connect(runtime["database_url"]) as conn:
            specs = register_fleet(
                conn, accounts, gauges, installed_at=datetime.fromtimestamp(start, UTC) - timedelta(hours=1)
            )
        reload_embedded_broker(accounts.folder)
        time.sleep(0.5)
        device = urlsplit(runtime["device_url"])
        fleet = FirmwareFleet(
            specs,
            folder=base / "fleet",
            site={"broker_host": device.hostname, "broker_port": device.port, "tls": False},
            start=start,
            workers=min(32, gauges),
        )
        outcome: dict = {}
        fleet_thread = threading.Thread(
            target=lambda: outcome.update(report=fleet.run(minutes=minutes, accelerate=accelerate)),
            daemon=True,
        )
        probe = _Probe(runtime["database_url"], [ports["mosquitto"], ports["mosquitto_services"]])
        began = time.monotonic()

        def observe() -> None:
            while not stop_observing.wait(0.5):
                pg_before, mq_before = probe.postgres_down(), probe.broker_down()
                status, elapsed = up.health()
                pg_after, mq_after = probe.postgres_down(), probe.broker_down()
                report.samples.append(
                    Sample(
                        time.monotonic() - began,
                        status,
                        elapsed,
                        pg_before and pg_after,
                        mq_before and mq_after,
                    )
                )

        observer = threading.Thread(target=observe, daemon=True)
        fleet_thread.start()
        observer.start()
        say(f"chaos: {gauges} gauges, {seconds:.0f} s, kills every {every_s[0]:.0f}–{every_s[1]:.0f} s")
        order = list(KINDS)
        rng.shuffle(order)
        while time.monotonic() - began < seconds - quiet_s:
            time.sleep(rng.uniform(*every_s))
            if time.monotonic() - began >= seconds - quiet_s:
                break
            kind = order[len(report.kills) % len(order)]
            assert up.process is not None
            kill = Kill(time.monotonic() - began, kind)
            if kind == "supervisor":
                up.kill()
                up.start()
                back = _wait(lambda: up.health()[0] == 200, 120, 0.2)
            else:
                victim = _processes(up.process.pid).get(kind)
                if victim is None:
                    continue
                os.kill(victim, signal.SIGKILL)
                back = _wait(
                    lambda kind=kind, victim=victim: (
                        _processes(up.process.pid).get(kind) not in (None, victim)
                    ),
                    60,
                    0.05,
                )
            kill.back_s = (time.monotonic() - began - kill.at_s) if back else None
            report.kills.append(kill)
            shown = f"{kill.back_s:.1f} s" if kill.back_s is not None else "never"
            say(f"  {kill.at_s:6.1f} s  killed {kind:<10} back in {shown}")
        fleet_thread.join(seconds + 300)
        fleet_report = outcome.get("report")
        if fleet_report is None:
            raise RuntimeError("the fleet did not finish")
        report.wall_s = time.monotonic() - began
        report.taken, report.acknowledged = fleet_report.taken, fleet_report.acknowledged
        report.fleet_errors = fleet_report.errors
        with db.connect(runtime["database_url"]) as conn:
            rows = dict(
                (device, (n, distinct))
                for device, n, distinct in conn.execute(
                    """SELECT device_id, count(*), count(DISTINCT (seq, time)) FROM readings
                       WHERE device_id LIKE 'fleet-%' GROUP BY device_id"""
                ).fetchall()
            )
        for device_id, (taken, _) in fleet_report.per_device.items():
            n, distinct = rows.get(device_id, (0, 0))
            report.stored += distinct
            report.duplicated += n - distinct
            report.lost += max(0, taken - distinct)
        expected = {"ingest", "alerts", "dashboard", "shelters", "simulator", "postgres", "mosquitto"}
        report.all_back = _wait(lambda: expected <= set(_processes(up.process.pid)), 60)
        _wait(lambda: up.health()[0] == 200, 60, 0.5)
        report.final_health = up.health()[0]
        report.settle()
        return report
    finally:
        stop_observing.set()
        up.stop()
        if own_folder:
            shutil.rmtree(services_home(data), ignore_errors=True)
            shutil.rmtree(base, ignore_errors=True)


def table(report: ChaosReport) -> str:
    lines = [
        "| gauges | wall s | taken | acknowledged | stored | lost | duplicated | kills | health answers "
        "| 503 while a dependency was down | 200 while a dependency was down | slowest health answer |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {report.gauges} | {report.wall_s:.0f} | {report.taken:,} | {report.acknowledged:,} "
        f"| {report.stored:,} | {report.lost} | {report.duplicated} | {len(report.kills)} "
        f"| {sum(s.status is not None for s in report.samples)} | {report.truthful_503s} "
        f"| {len(report.health_lies)} | {report.slowest_health_s:.2f} s |",
        "",
        "| killed | times | running again by itself (median, max) | /api/health 200 again (median, max) |",
        "|---|---:|---|---|",
    ]
    healthy = report.by_kind("healthy_s")
    for kind, backs in sorted(report.by_kind("back_s").items()):
        again = healthy[kind]
        lines.append(
            f"| {kind} | {len(backs)} | {statistics.median(backs):.1f} s, {max(backs):.1f} s "
            f"| {statistics.median(again):.1f} s, {max(again):.1f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gauges", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--quiet", type=float, default=45, help="seconds without kills at the end")
    parser.add_argument("--every", type=float, nargs=2, default=(15, 30), help="seconds between kills")
    parser.add_argument("--accelerate", type=float, default=300)
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    report = run(
        gauges=args.gauges,
        seconds=args.seconds,
        quiet_s=args.quiet,
        every_s=tuple(args.every),
        accelerate=args.accelerate,
        seed=args.seed,
    )
    print(table(report))
    print(f"every component back by itself: {report.all_back}; final /api/health: {report.final_health}")


if __name__ == "__main__":
    main()
