"""``kawamori up``: the whole platform on one machine, for development and demos.

Starts the embedded PostgreSQL and Mosquitto (unless URLs are configured),
applies migrations, loads the demo network, then runs ingest, the alert
evaluator, the dashboard and the simulator as child processes. Ctrl-C stops
everything.

The supervisor restarts any child that dies — the embedded PostgreSQL and Mosquitto
too — each on its own schedule: a child that keeps crashing waits out its own
back-off (0.5 s doubling to 10 s, back to 0.5 s after 10 s of uptime) and never delays
another's restart. The embedded services keep the ports they were first given
(``<data dir>/ports.json``), across their restarts and across runs, so clients started
against the stack (a fleet of gauges, a second terminal's simulator) reconnect by
themselves. The children die with the supervisor (``PR_SET_PDEATHSIG``); whoever runs
``kawamori up`` (a terminal, systemd) restarts it on the same data folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from kawamori import db, roles, staff
from kawamori.embedded import MosquittoBroker, PostgresServer, die_with_parent, free_port, services_home
from kawamori.model import Role
from kawamori.network import DEMO_RULES, Network, apply_network
from kawamori.runtime import Runtime, record
from kawamori.settings import Settings
from notify.config import enabled

log = structlog.get_logger(__name__)

MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
STABLE_AFTER_S = 10.0  # uptime after which a child's back-off starts again from the minimum
SILENT_AFTER_S = 120.0  # a dashboard not answering by then is said so in the log


@dataclass(kw_only=True)
class Supervised(ABC):
    """What the supervisor keeps running, with its own restart schedule: a child
    process (:class:`Child`) or an embedded service (:class:`Service`) say how to start,
    watch and stop it."""

    name: str
    restarts: int = 0
    started: float = 0.0
    backoff: float = MIN_BACKOFF_S
    due: float | None = None  # while down: when to start it again (monotonic)

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def exit_code(self) -> int | None:
        """None while running."""

    @abstractmethod
    def stop(self) -> None: ...

    def check(self, now: float) -> bool:
        """Restart this one if it is down and its time has come; True if it was started."""
        code = self.exit_code()
        if code is None:
            if now - self.started > STABLE_AFTER_S:
                self.backoff = MIN_BACKOFF_S
            return False
        if self.due is None:
            self.due = now + self.backoff
            log.warning("stack.child_exited", child=self.name, code=code, restart_in_s=self.backoff)
            return False
        if now < self.due:
            return False
        self.backoff = min(self.backoff * 2, MAX_BACKOFF_S)
        self.restarts += 1
        try:
            self.start()
        except Exception as error:  # e.g. a service's folder briefly busy: try again later
            log.error("stack.restart_failed", child=self.name, error=str(error)[:300])
            self.due = now + self.backoff
            return False
        self.due = None
        log.info("stack.child_restarted", child=self.name, restarts=self.restarts)
        return True


@dataclass(kw_only=True)
class Child(Supervised):
    """A Kawamori process (ingest, the evaluator, the dashboard, …)."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, env=self.env, start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM)
        )
        self.started = time.monotonic()

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass(kw_only=True)
class Service(Supervised):
    """An embedded PostgreSQL or Mosquitto: restarted without waiting for it to answer
    (its clients wait for it), on the same port and folder."""

    server: PostgresServer | MosquittoBroker

    def start(self) -> None:
        self.server.start(wait=False)
        self.started = time.monotonic()

    def exit_code(self) -> int | None:
        process = self.server.process
        return None if process is None else process.poll()

    def stop(self) -> None:
        self.server.stop()


def fixed_ports(data_dir: Path) -> dict[str, int]:
    """The embedded services' ports: chosen once, kept in ``<data dir>/ports.json``."""
    path = data_dir.resolve() / "ports.json"
    try:
        ports = {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        ports = {}
    wanted = ("postgres", "mosquitto", "mosquitto_services")
    if not all(name in ports for name in wanted):
        for name in wanted:
            ports.setdefault(name, free_port())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ports, indent=1) + "\n")
    return ports


@dataclass
class Stack:
    settings: Settings
    network: Network | None
    simulate: bool = True
    simulate_interval_s: float = 10.0
    postgres: PostgresServer | None = None
    broker: MosquittoBroker | None = None
    children: list[Child] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    first_admin: tuple[str, str, Path] | None = None  # (user, password, file) when just created
    service_urls: dict[str, str] = field(default_factory=dict)  # each service's own database role

    def start_services(self) -> Runtime:
        data = services_home(self.settings.data_dir)
        ports = fixed_ports(self.settings.data_dir)
        database_url = self.settings.database_url
        if database_url is None:
            self.postgres = PostgresServer(data / "postgres", port=ports["postgres"])
            self.postgres.start()
            database_url = self.postgres.create_database("kawamori")
            self.services.append(Service(name="postgres", server=self.postgres, started=time.monotonic()))
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
                passwords = service_passwords(self.postgres.folder)
                roles.set_passwords(conn, passwords)
                self.service_urls = {
                    service: roles.url_as(database_url, service, password)
                    for service, password in passwords.items()
                }
        if self.settings.subscriber_key is None and self.settings.environment != "production":
            from notify.sealing import ensure_key_file

            ensure_key_file(self.settings.data_dir.resolve())  # the demo's key; children read it
        log.info("stack.migrated", applied=applied, timescaledb=timescale)
        accounts_dir = None
        mqtt_url = self.settings.mqtt_url
        if mqtt_url is None:
            self.broker = MosquittoBroker(
                data / "mosquitto", port=ports["mosquitto"], service_port=ports["mosquitto_services"]
            )
            if self.network is not None:
                self.broker.accounts.ensure_many([device.id for device in self.network.devices])
            self.broker.start()
            prefix = self.settings.mqtt_client_prefix
            # the children's accounts, and `kawamori device config`'s
            self.broker.allow_services(f"{prefix}-ingest-1", f"{prefix}-shelters-1", f"{prefix}-config")
            self.services.append(Service(name="mosquitto", server=self.broker, started=time.monotonic()))
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

    def _env(self, service: str | None = None) -> dict[str, str]:
        """A child's environment: the data folder and, for a service, its own database role."""
        env = {**os.environ, "KAWAMORI_DATA_DIR": str(self.settings.data_dir.resolve())}
        if service is not None and service in self.service_urls:
            env["KAWAMORI_DATABASE_URL"] = self.service_urls[service]
        return env

    def start_children(self) -> None:
        me = [sys.executable, "-m", "kawamori_app"]
        env = self._env()
        self.children = [
            Child(
                name="ingest",
                argv=[*me, "ingest", "--metrics-port", str(self.settings.dashboard_port + 10)],
                env=self._env("ingest"),
            ),
            Child(
                name="alerts",
                argv=[*me, "alerts", *(["--rules", str(DEMO_RULES)] if self.simulate else [])],
                env=self._env("alerts"),
            ),
            Child(name="shelters", argv=[*me, "shelters", "listen"], env=self._env("shelters")),
            Child(name="dashboard", argv=[*me, "dashboard"], env=self._env("dashboard")),
        ]
        channels = enabled(self.settings)
        if channels:
            self.children.append(
                Child(name="deliver", argv=[*me, "notify", "deliver"], env=self._env("notify"))
            )
            log.info("stack.notifications", channels=channels)
        else:
            log.info(
                "stack.notifications", channels=[], note="no notification channel configured: not delivering"
            )
        if self.simulate:
            self.children.append(
                Child(
                    name="simulator",
                    argv=[*me, "simulate", "--interval", str(self.simulate_interval_s)],
                    env=env,
                )
            )
        for child in self.children:
            child.start()

    def supervise(self, *, interval_s: float = 0.2, on_ready=None) -> None:
        """Until stopped: look at every child and service each ``interval_s`` and start
        again those whose restart is due; nobody waits for anybody else's back-off.
        ``on_ready`` is called once, at the first look that finds the dashboard answering."""
        started, silent = time.monotonic(), False
        while not self.stopping.wait(interval_s):
            now = time.monotonic()
            for unit in [*self.services, *self.children]:
                unit.check(now)
            if on_ready is not None and self.dashboard_answers():
                on_ready()
                on_ready = None
            elif on_ready is not None and not silent and now - started > SILENT_AFTER_S:
                silent = True
                log.warning("stack.dashboard_silent", note="the dashboard does not answer yet: see its log")

    def dashboard_answers(self) -> bool:
        """Whether the dashboard accepts a connection (uvicorn listens once the app started)."""
        host = self.settings.dashboard_host
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        try:
            with socket.create_connection((host, self.settings.dashboard_port), timeout=0.2):
                return True
        except OSError:
            return False

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


def service_passwords(folder: Path) -> dict[str, str]:
    """Random passwords for the services' database roles, kept (0600) in ``folder``."""
    path = folder / "service-passwords.json"
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    if set(stored) != set(roles.SERVICES):
        stored = {service: stored.get(service) or os.urandom(18).hex() for service in roles.SERVICES}
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
        os.replace(path.with_suffix(".tmp"), path)
    return stored


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
        must_change_password=True,  # chosen at the first sign-in; the file is removed then
    )
    log.info("stack.first_admin", file=str(path))  # never the password
    return "admin", password, path


def run_stack(stack: Stack, *, on_ready) -> None:
    """Run the stack until a signal; ``on_ready`` is called once the dashboard answers
    (not before: the banner's address must work when someone opens it)."""

    def _signal(signum, frame):
        stack.stopping.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    try:
        stack.start_services()
        stack.start_children()
        stack.supervise(on_ready=on_ready)
    finally:
        stack.stop()


def dashboard_url(settings: Settings) -> str:
    host = "localhost" if settings.dashboard_host in {"127.0.0.1", "0.0.0.0"} else settings.dashboard_host
    return f"http://{host}:{settings.dashboard_port}/"
