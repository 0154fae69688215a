"""``kawamori up``: the whole platform on one machine, for development and demos.

Starts the embedded PostgreSQL and Mosquitto (unless URLs are configured),
applies migrations, loads the demo network, then runs ingest, the alert
evaluator, the dashboard and the simulator as child processes, restarting any
that dies. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from alerts.model import Role
from kawamori import db, staff
from kawamori.embedded import MosquittoBroker, PostgresServer, die_with_parent, services_home
from kawamori.network import DEMO_RULES, Network, apply_network
from kawamori.runtime import Runtime, record
from kawamori.settings import Settings
from notify.config import enabled

log = structlog.get_logger(__name__)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    started: float = 0.0
    backoff: float = 1.0

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            self.argv, env=env, start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM)
        )
        self.started = time.monotonic()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Stack:
    settings: Settings
    network: Network | None
    simulate: bool = True
    simulate_interval_s: float = 10.0
    postgres: PostgresServer | None = None
    broker: MosquittoBroker | None = None
    children: list[Child] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    first_admin: tuple[str, str, Path] | None = None  # (user, password, file) when just created

    def start_services(self) -> Runtime:
        data = services_home(self.settings.data_dir)
        database_url = self.settings.database_url
        if database_url is None:
            self.postgres = PostgresServer(data / "postgres")
            self.postgres.start()
            database_url = self.postgres.create_database("kawamori")
            log.info("stack.postgres", port=self.postgres.port, folder=str(self.postgres.folder))
        with db.connect(database_url) as conn:
            applied = db.migrate(conn)
            timescale = db.apply_timescale_policies(
                conn,
                compress_after_days=self.settings.timescale_compress_after_days,
                retain_years=self.settings.timescale_retain_years,
            )
            if self.network is not None:
                counts = apply_network(conn, self.network)
                log.info("stack.network", name=self.network.name, **counts)
            if self.postgres is not None:
                self.first_admin = create_first_admin(conn, self.settings.data_dir)
        if self.settings.subscriber_key is None and self.settings.environment != "production":
            from notify.sealing import ensure_key_file

            ensure_key_file(self.settings.data_dir.resolve())  # the demo's key; children read it
        log.info("stack.migrated", applied=applied, timescaledb=timescale)
        accounts_dir = None
        mqtt_url = self.settings.mqtt_url
        if mqtt_url is None:
            self.broker = MosquittoBroker(data / "mosquitto")
            if self.network is not None:
                for device in self.network.devices:
                    self.broker.accounts.ensure(device.id)
            self.broker.start()
            mqtt_url = self.broker.url("kawamori-ingest")
            accounts_dir = str(self.broker.accounts.folder)
            log.info("stack.mosquitto", port=self.broker.port, folder=str(self.broker.folder))
        runtime = Runtime(
            database_url=database_url,
            mqtt_url=mqtt_url,
            accounts_dir=accounts_dir,
            device_url=self.broker.devices_url if self.broker else None,
        )
        record(self.settings, runtime)
        return runtime

    def start_children(self) -> None:
        me = [sys.executable, "-m", "kawamori"]
        self.children = [
            Child("ingest", [*me, "ingest", "--metrics-port", str(self.settings.dashboard_port + 10)]),
            Child("alerts", [*me, "alerts", *(["--rules", str(DEMO_RULES)] if self.simulate else [])]),
            Child("shelters", [*me, "shelters", "listen"]),
            Child("dashboard", [*me, "dashboard"]),
        ]
        channels = enabled(self.settings)
        if channels:
            self.children.append(Child("deliver", [*me, "notify", "deliver"]))
            log.info("stack.notifications", channels=channels)
        else:
            log.info(
                "stack.notifications", channels=[], note="no notification channel configured: not delivering"
            )
        if self.simulate:
            self.children.append(
                Child("simulator", [*me, "simulate", "--interval", str(self.simulate_interval_s)])
            )
        env = {**os.environ, "KAWAMORI_DATA_DIR": str(self.settings.data_dir.resolve())}
        for child in self.children:
            child.start(env)

    def supervise(self) -> None:
        env = {**os.environ, "KAWAMORI_DATA_DIR": str(self.settings.data_dir.resolve())}
        while not self.stopping.wait(0.5):
            for child in self.children:
                assert child.process is not None
                code = child.process.poll()
                if code is None:
                    if time.monotonic() - child.started > 60:
                        child.backoff = 1.0
                    continue
                log.warning("stack.child_exited", child=child.name, code=code, restart_in_s=child.backoff)
                if self.stopping.wait(child.backoff):
                    return
                child.backoff = min(child.backoff * 2, 30)
                child.restarts += 1
                child.start(env)

    def stop(self) -> None:
        self.stopping.set()
        for child in reversed(self.children):
            child.stop()
        if self.broker:
            self.broker.stop()
        if self.postgres:
            self.postgres.stop()
        services = self.settings.data_dir.resolve() / "services.json"
        if self.settings.embedded and services.exists():
            services.unlink()


def create_first_admin(conn, data_dir: Path) -> tuple[str, str, Path] | None:
    """On a database without staff accounts, create ``admin`` with a random password,
    written once to ``<data dir>/first-admin-password.txt`` (mode 0600). There is no
    default password; returns (user, password, file) or ``None`` if staff exist."""
    if staff.count_users(conn):
        return None
    password = staff.generate_password()
    path = data_dir.resolve() / "first-admin-password.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(f"admin\n{password}\n")
    staff.create_user(
        conn,
        username="admin",
        display_name="Administrator",
        role=Role.admin,
        password=password,
        now=datetime.now(UTC),
    )
    log.info("stack.first_admin", file=str(path))  # never the password
    return "admin", password, path


def run_stack(stack: Stack, *, on_ready) -> None:
    def _signal(signum, frame):
        stack.stopping.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    try:
        stack.start_services()
        stack.start_children()
        on_ready()
        stack.supervise()
    finally:
        stack.stop()


def dashboard_url(settings: Settings) -> str:
    host = "localhost" if settings.dashboard_host in {"127.0.0.1", "0.0.0.0"} else settings.dashboard_host
    return f"http://{host}:{settings.dashboard_port}/"
