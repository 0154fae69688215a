"""Small helpers shared by the tests: waiting for a condition, serving an ASGI app
with a real uvicorn server on a free port, and a network cable between a browser and
that server which a test can cut."""

from __future__ import annotations

import os
import socket
import struct
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


class Cable:
    """A TCP relay from a free port to ``port``: a network between client and server that
    a test can cut (every connection reset, new ones refused) and mend. A browser's own
    offline switch does not reach everything (a service worker's network fallback slips
    through Chromium's emulation now and then); a cut cable stops every byte."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", free_port()))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for s in self._open:
                _reset(s)
            self._open.clear()

    def mend(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._cut:
                    _reset(client)
                    continue
                try:
                    server = socket.create_connection(("127.0.0.1", self._target))
                except OSError:
                    _reset(client)
                    continue
                self._open |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # reset by a cut, or by the other side


def _reset(s: socket.socket) -> None:
    """Drop a connection at once, as a cut link looks to the peer (shut down first: a
    pump thread blocked reading it keeps the socket open otherwise)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


@contextmanager
def cable(base_url: str) -> Iterator[Cable]:
    """A :class:`Cable` to the server at ``base_url``; closed after."""
    relay = Cable(int(base_url.rsplit(":", 1)[1]))
    try:
        yield relay
    finally:
        relay.close()


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
