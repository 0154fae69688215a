"""Fixtures: each test run gets its own PostgreSQL cluster and each test its own
database (cloned from a migrated template) and, where needed, its own Mosquitto.
Nothing depends on services already running on the machine."""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kawamori import db
from kawamori.embedded import MosquittoBroker, PostgresServer
from kawamori.network import DEMO_NETWORK, Network, apply_network, read_network

TEMPLATE = "kawamori_template"


def _scratch(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o711)  # the embedded services may run as another user
    return folder


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    folder = _scratch("kawamori-pg-")
    server = PostgresServer(folder)
    server.start()
    url = server.create_database(TEMPLATE)
    with db.connect(url) as conn:
        db.migrate(conn)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, migrated, empty database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = pg_server.create_database(name, template=TEMPLATE)
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def empty_database_url(pg_server: PostgresServer) -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    name = f"e_{uuid.uuid4().hex[:12]}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def conn(database_url: str):
    with db.connect(database_url) as connection:
        yield connection


@pytest.fixture(scope="session")
def demo_network() -> Network:
    return read_network(DEMO_NETWORK)


@pytest.fixture
def demo_db(database_url: str, demo_network: Network) -> str:
    with db.connect(database_url) as connection:
        apply_network(connection, demo_network)
    return database_url


@pytest.fixture
def broker() -> Iterator[MosquittoBroker]:
    folder = _scratch("kawamori-mq-")
    server = MosquittoBroker(folder / "mosquitto")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _patient_browser_assertions() -> None:
    """Browser tests wait up to 20 s for what a person would see (Playwright's default
    is 5 s): on a loaded 2-core CI machine a page can take that long to settle."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)


# The quick loop (./kw test -m "not slow", under a minute) is the pure decisions: rules,
# QC, lifecycle, codecs, rendering, hydrology. It leaves out every test that needs a real
# service (PostgreSQL, Mosquitto: started per run, then a database per test), drives
# Chromium, kills or starts whole processes, runs the firmware under MicroPython, or works
# at scale. The full run (./kw test, CI) runs everything.
SERVICES = {"pg_server", "broker"}
SLOW = (
    "*_browser.py",
    "test_chaos.py",
    "test_stack.py",
    "test_end_to_end.py",
    "firmware/*",
    "security/*",
    "notify/test_deliver_faults.py",
    "ingest/test_faults.py",
    "simulator/test_gate.py",
    "simulator/test_firmware_fleet.py",
    "simulator/test_hydrology.py",
    "alerts/test_replay_command.py",
    "test_layers.py",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.path.relative_to(Path(__file__).parent).as_posix()
        if SERVICES & set(item.fixturenames) or any(fnmatch.fnmatch(path, p) for p in SLOW):
            item.add_marker(pytest.mark.slow)
