"""`kawamori up`, the README's first command, as a user runs it: a real process
tree with its own PostgreSQL and Mosquitto, feeding the dashboard; then killed
outright and started again on the same data folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx

from kawamori.embedded import free_port, services_home
from tests.helpers import wait_for


class Up:
    """``kawamori up`` in its own process group; its output is read as it comes, with
    whether the dashboard answered when each line appeared."""

    def __init__(self, data: Path, port: int) -> None:
        env = {**os.environ, "KAWAMORI_DATA_DIR": str(data), "KAWAMORI_DASHBOARD_PORT": str(port)}
        env.pop("KAWAMORI_DATABASE_URL", None)
        env.pop("KAWAMORI_MQTT_URL", None)
        self.base = f"http://127.0.0.1:{port}"
        self.lines: list[tuple[str, bool]] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kawamori_app", "up", "--no-browser", "--interval", "0.5"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            line = raw.decode(errors="replace")
            self.lines.append((line, "Dashboard / ダッシュボード" in line and answers(self.base)))

    @property
    def output(self) -> str:
        return "".join(line for line, _ in self.lines)

    def banner(self) -> bool:
        """The banner was printed, and the dashboard answered when it was."""
        shown = [ok for line, ok in self.lines if "Dashboard / ダッシュボード" in line]
        return bool(shown) and all(shown)


def answers(base: str) -> bool:
    try:
        return httpx.get(base + "/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def all_stations_live(base: str) -> bool:
    try:
        stations = httpx.get(f"{base}/api/stations", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    return len(stations) == 5 and all(s["latest_time"] and s["evaluated_at"] for s in stations)


def service_pids(data: Path) -> list[int]:
    pids = []
    home = services_home(data)
    for pid_file in (home / "postgres" / "data" / "postmaster.pid", home / "mosquitto" / "mosquitto.pid"):
        if pid_file.exists():
            pids.append(int(pid_file.read_text().split()[0]))
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_up_runs_the_platform_survives_a_kill_and_stops_cleanly():
    # a private (0700) folder, as a checkout under /root would be: when run as root the
    # embedded services, which run as nobody, must keep their state elsewhere
    data = Path(tempfile.mkdtemp(prefix="kawamori-up-")) / "state"
    port = free_port()
    up = Up(data, port)
    base = up.base
    try:
        wait_for(lambda: all_stations_live(base), timeout=60, interval=0.5)
        # the banner's address works when it is shown: printed once the dashboard answers
        assert wait_for(up.banner, timeout=10, explain=lambda: up.output)
        page = httpx.get(base + "/").text
        assert "Kawamori" in page and "/vendor/leaflet/leaflet.js" in page
        key_file = data / "subscriber.key"  # the demo's subscriber key: generated, private
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert httpx.get(base + "/r/").status_code == 200
        services = service_pids(data)
        assert len(services) == 2
        recorded = json.loads((data / "services.json").read_text())

        # power cut: the supervisor dies at once; its services must not linger as orphans
        os.killpg(up.process.pid, signal.SIGKILL)
        up.process.wait(10)
        wait_for(lambda: not any(alive(pid) for pid in services), timeout=30)

        up = Up(data, port)
        wait_for(lambda: all_stations_live(base), timeout=60, interval=0.5)
        assert wait_for(up.banner, timeout=10, explain=lambda: up.output)
        assert "staff/login" in up.output  # where to sign in, on every start
        # the same ports as before (kept in ports.json): clients of the old run reconnect
        again = json.loads((data / "services.json").read_text())
        assert {k: again[k] for k in ("database_url", "mqtt_url", "device_url")} == {
            k: recorded[k] for k in ("database_url", "mqtt_url", "device_url")
        }
        readings = httpx.get(f"{base}/api/stations/kyoden-chiwara/readings", params={"hours": 1}).json()
        assert len(readings) >= 2  # history from the first run is still there

        up.process.send_signal(signal.SIGINT)
        up.process.wait(60)
        up.reader.join(10)
        assert up.process.returncode == 0, up.output
        assert not any(alive(pid) for pid in service_pids(data))
    finally:
        if up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGKILL)
        shutil.rmtree(services_home(data), ignore_errors=True)
        shutil.rmtree(data.parent, ignore_errors=True)
