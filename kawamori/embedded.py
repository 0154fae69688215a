"""Embedded services for development, demos and tests: a PostgreSQL cluster and a
Mosquitto broker, each a child process owned by the caller, with state in a folder.

Both listen on 127.0.0.1 only and require passwords (generated, stored 0600 in the
folder). PostgreSQL refuses to run as root, so when started by root both services
run as the unprivileged user ``nobody``. Production uses real, separately managed
services instead (``compose.yaml``).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg

from kawamori.broker_auth import Accounts


class EmbeddedError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent(sig: int):
    """A ``preexec_fn`` that makes a child receive ``sig`` when its parent dies
    (Linux ``PR_SET_PDEATHSIG``), so a killed supervisor leaves no orphans."""

    def _set() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # not Linux: orphans are reclaimed by pid file instead
            pass

    return _set


def _service_user() -> pwd.struct_passwd | None:
    """Whom to run services as: nobody when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam("nobody")


def _own(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _unreachable_parent(folder: Path) -> Path | None:
    """The first existing parent that other users cannot search, if any."""
    for parent in folder.parents:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            return parent
    return None


def services_home(data_dir: Path) -> Path:
    """Where the embedded services keep their state: ``data_dir`` itself when the
    service user can reach it; otherwise (root with a private data folder, e.g. a
    checkout under /root) ``/var/lib/kawamori/<id>``, one per data folder."""
    data_dir = data_dir.resolve()
    if _service_user() is None or _unreachable_parent(data_dir / "x") is None:
        return data_dir
    base = Path("/var/lib/kawamori")
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o711)
    return base / hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]


def _prepare_folder(folder: Path, user: pwd.struct_passwd | None) -> None:
    """Create ``folder`` (0700, owned by the service user) and check that the
    service user can reach it through every parent folder."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    _own(folder, user)
    if user is None:
        return
    blocked = _unreachable_parent(folder)
    if blocked is not None:
        raise EmbeddedError(
            f"{blocked} is not searchable by {user.pw_name!r}, who runs the embedded "
            f"services; choose another data folder or `chmod o+x {blocked}`"
        )


def _secret_file(path: Path, create) -> str:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(create())
    return path.read_text().strip()


def find_postgres_bindir() -> Path:
    """PostgreSQL server binaries: ``KAWAMORI_PG_BINDIR``, then ``PATH``, then the
    newest Debian/Ubuntu ``/usr/lib/postgresql/<version>/bin``."""
    candidates: list[Path] = []
    if os.environ.get("KAWAMORI_PG_BINDIR"):
        candidates.append(Path(os.environ["KAWAMORI_PG_BINDIR"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    raise EmbeddedError(
        "PostgreSQL server binaries were not found. Install them (Debian: apt-get install "
        "postgresql) or set KAWAMORI_DATABASE_URL to an existing server."
    )


def find_mosquitto() -> Path:
    for candidate in (
        os.environ.get("KAWAMORI_MOSQUITTO"),
        shutil.which("mosquitto"),
        "/usr/sbin/mosquitto",
    ):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise EmbeddedError(
        "Mosquitto was not found. Install it (Debian: apt-get install mosquitto) "
        "or set KAWAMORI_MQTT_URL to an existing broker."
    )


class _Child:
    """A service child process with a log file."""

    process: subprocess.Popen | None = None
    name = "service"

    @staticmethod
    def _reclaim(pid_file: Path, stop_signal: int, command: str) -> None:
        """Stop a service left running by an earlier run that was killed (its pid file
        names a live process), so this run can own the folder."""
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:  # only if that pid is still the service, not a reused pid
            if Path(f"/proc/{pid}/comm").read_text().strip() != command:
                return
        except OSError:
            return
        try:
            os.kill(pid, stop_signal)
        except (ProcessLookupError, PermissionError):
            return
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def _spawn(self, argv: list[str], log: Path, user: pwd.struct_passwd | None) -> None:
        handle = open(log, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        kwargs = {}
        if user is not None:
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self.process = subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(self._stop_signal),
            **kwargs,
        )
        handle.close()

    def _check_alive(self, log: Path) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """Kill at once, as a power cut would (for fault tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(self._stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    _stop_signal = signal.SIGTERM


class PostgresServer(_Child):
    """One PostgreSQL cluster in ``folder``, superuser ``kawamori`` with a random password."""

    name = "PostgreSQL"
    _stop_signal = signal.SIGINT  # fast shutdown

    def __init__(
        self, folder: Path, *, port: int | None = None, settings: dict[str, str] | None = None
    ) -> None:
        self.folder = folder.resolve()
        self.port = port or free_port()
        self.settings = settings or {}  # extra server settings, e.g. for benchmarks
        self.user = _service_user()
        self.bindir = find_postgres_bindir()
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.password = ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://kawamori:{self.password}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        _prepare_folder(self.folder, self.user)
        self.password = _secret_file(self.folder / "superuser-password", lambda: os.urandom(18).hex())
        if (self.data / "PG_VERSION").exists():
            return
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        os.chmod(pwfile, 0o600)
        _own(pwfile, self.user)
        kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid} if self.user else {}
        result = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "kawamori",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            check=False,
            **kwargs,
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise EmbeddedError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def start(self, timeout: float = 30, *, wait: bool = True) -> str:
        """Start the server (on the same port and folder as before, if restarted); with
        ``wait``, return once it accepts connections."""
        self.init()
        self._reclaim(self.data / "postmaster.pid", signal.SIGINT, "postgres")
        argv = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=128MB",
            "-c",
            "wal_level=minimal",
            "-c",
            "max_wal_senders=0",
        ]
        for name, value in self.settings.items():
            argv += ["-c", f"{name}={value}"]
        self._spawn(argv, self.log, self.user)
        if not wait:
            return self.url()
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(self.log)
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return self.url()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedError(f"PostgreSQL did not start in {timeout} s; see {self.log}") from None
                time.sleep(0.1)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                query = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
                conn.execute(query.encode())
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


class MosquittoBroker(_Child):
    """One Mosquitto in ``folder``: persistent sessions on disk, no anonymous access,
    per-user passwords and ACLs from :class:`~kawamori.broker_auth.Accounts`, and two
    listeners as in production: ``port`` for devices (client id = account) and
    ``service_port`` for the services."""

    name = "Mosquitto"

    def __init__(self, folder: Path, *, port: int | None = None, service_port: int | None = None) -> None:
        self.folder = folder.resolve()
        self.port = port or free_port()
        self.service_port = service_port or free_port()
        self.user = _service_user()
        self.binary = find_mosquitto()
        self.config = self.folder / "mosquitto.conf"
        self.log = self.folder / "mosquitto.log"
        self.accounts = Accounts(self.folder / "accounts", owner_uid=self.user.pw_uid if self.user else None)

    def url(self, user: str) -> str:
        """The URL ``user`` connects with: a service account on the services' listener,
        a device on the devices' listener."""
        password = self.accounts.password(user)
        if password is None:
            raise EmbeddedError(f"no broker account {user!r}")
        port = self.service_port if self.accounts.is_service(user) else self.port
        return f"mqtt://{user}:{password}@127.0.0.1:{port}"

    def allow_services(self, *client_ids: str) -> None:
        """Service accounts named as these client ids (an ingest worker, the door-counter
        listener), with passwords derived from the service secret; the broker reloads."""
        self.accounts.ensure_services(list(client_ids))
        self.reload()

    @property
    def devices_url(self) -> str:
        """Where devices connect (no credentials: each has its own)."""
        return f"mqtt://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        _prepare_folder(self.folder, self.user)
        persistence = self.folder / "persistence"
        persistence.mkdir(exist_ok=True)
        _own(persistence, self.user)
        self.accounts.folder.mkdir(exist_ok=True)
        _own(self.accounts.folder, self.user)
        self.accounts.ensure("kawamori-ingest", service=True)
        self.accounts.refresh()
        self.log.touch()
        _own(self.log, self.user)
        self.config.write_text(
            "\n".join(
                [
                    "# Generated by kawamori.embedded for development and tests.",
                    "per_listener_settings true",
                    "# devices: the client id is the account, so none can take another's",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous false",
                    "use_username_as_clientid true",
                    f"password_file {self.accounts.passwd_file}",
                    f"acl_file {self.accounts.acl_file}",
                    "# services: accounts unknown to the devices' listener, one per process",
                    f"listener {self.service_port} 127.0.0.1",
                    "allow_anonymous false",
                    "use_username_as_clientid true",
                    f"password_file {self.accounts.services_passwd_file}",
                    f"acl_file {self.accounts.services_acl_file}",
                    "persistence true",
                    f"persistence_location {persistence}/",
                    "autosave_interval 30",
                    "persistent_client_expiration 2d",
                    "max_inflight_messages 1000",
                    "max_queued_messages 1000000",
                    "max_queued_bytes 0",
                    "set_tcp_nodelay true",
                    f"pid_file {self.folder / 'mosquitto.pid'}",
                    f"log_dest file {self.log}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                    "",
                ]
            )
        )

    def start(self, timeout: float = 10, *, wait: bool = True) -> None:
        """Start the broker (on the same ports and folder as before, if restarted); with
        ``wait``, return once both listeners accept connections."""
        self._reclaim(self.folder / "mosquitto.pid", signal.SIGTERM, "mosquitto")
        self._write_config()
        self._spawn([str(self.binary), "-c", str(self.config)], self.log, self.user)
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(self.log)
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5),
                socket.create_connection(("127.0.0.1", self.service_port), 0.5),
            ):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedError(f"Mosquitto did not start in {timeout} s; see {self.log}")
            time.sleep(0.05)

    def reload(self, timeout: float = 5) -> None:
        """Re-read passwords and ACLs (after accounts changed); returns once the
        broker has done so (Mosquitto handles SIGHUP in its single-threaded loop)."""
        if not self.running:
            return
        assert self.process is not None
        marker = "Reloading config."
        before = self.log.read_text(errors="replace").count(marker)
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.log.read_text(errors="replace").count(marker) <= before:
            self._check_alive(self.log)
            if time.monotonic() > deadline:
                raise EmbeddedError(f"Mosquitto did not reload in {timeout} s")
            time.sleep(0.02)
