"""Ingest workers as real processes (``python -m kawamori_app ingest``), to kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kawamori.embedded import free_port
from tests.helpers import wait_for


def start_worker(database_url: str, mqtt_url: str, name: str, log: Path, *extra: str) -> subprocess.Popen:
    """Start a worker process and wait until it is connected and subscribed: messages
    published before any worker ever subscribed are not queued anywhere."""
    port = free_port()
    env = {
        **os.environ,
        "KAWAMORI_DATABASE_URL": database_url,
        "KAWAMORI_MQTT_URL": mqtt_url,
        "KAWAMORI_LOG_FORMAT": "json",
    }
    argv = [
        sys.executable,
        "-m",
        "kawamori_app",
        "ingest",
        "--worker",
        name,
        "--metrics-port",
        str(port),
        *extra,
    ]
    with open(log, "ab") as handle:
        process = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"worker {name} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=30)
    time.sleep(0.3)  # the SUBACK follows the CONNACK
    process.health_url = f"http://127.0.0.1:{port}/health"  # type: ignore[attr-defined]
    return process


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(10)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            kill(process)
