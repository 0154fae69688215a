"""Small helpers shared by the tests: waiting for a condition and serving an ASGI
app with a real uvicorn server on a free port."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import uvicorn

from kawamori.embedded import free_port

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 20.0,
    interval: float = 0.1,
    explain: Callable[[], object] | None = None,
) -> T:
    """Poll ``predicate`` until it is truthy; on time-out, fail with ``explain()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    detail = f": {explain()}" if explain is not None else ""
    raise AssertionError(f"condition not met within {timeout} s{detail}")


@contextmanager
def serve(app) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def screenshot_path(name: str) -> Path:
    """Where a browser test saves its screenshot: ``docs/images/<name>`` when
    KAWAMORI_SCREENSHOTS=1 (to refresh the pictures in the docs), else a temporary
    folder, so running the tests never changes the checkout."""
    if os.environ.get("KAWAMORI_SCREENSHOTS") == "1":
        return Path(__file__).resolve().parents[1] / "docs" / "images" / name
    return Path(tempfile.gettempdir()) / f"kawamori-{name}"


@contextmanager
def running_ingest(database_url: str, broker, client_id: str) -> Iterator:
    """The real ingest worker in a thread, connected to the test's broker; stopped after."""
    from ingest.service import IngestConfig, IngestWorker

    broker.allow_services(client_id)
    worker = IngestWorker(
        IngestConfig(database_url=database_url, mqtt_url=broker.url("kawamori-ingest"), client_id=client_id)
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_for(worker.mqtt.connected.is_set)
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(10)
