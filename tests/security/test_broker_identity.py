"""Issue 20, finding 3: a gauge's account connecting with the ingest worker's client id
kicked the worker off the real Mosquitto and discarded its persistent session. Now the
devices' listener binds the client id to the account, and device accounts do not exist
on the services' listener."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from kawamori import contract, db
from kawamori.mqtt import Connection, MqttError
from tests.helpers import running_ingest, wait_for

GAUGE = "kw-demo-01"


def stays_connected(connected, seconds: float = 1.5) -> bool:
    """Never disconnected, sampled every 10 ms (a kicked client reconnects by itself
    after about a second, so one look at the end would miss it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not connected.is_set():
            return False
        time.sleep(0.01)
    return True


def test_3_a_gauge_using_the_ingest_workers_client_id_cannot_kick_it_off(demo_db, broker):
    password = broker.accounts.ensure(GAUGE)
    broker.reload()
    with running_ingest(demo_db, broker, "kawamori-ingest-1") as worker:
        # the attack, as measured: the gauge's own credentials with the worker's client id
        attacker = Connection(f"mqtt://{GAUGE}:{password}@127.0.0.1:{broker.port}", "kawamori-ingest-1")
        attacker.start(wait_s=5)
        try:
            # never kicked off: the broker named the gauge's client GAUGE, whatever it asked for
            assert stays_connected(worker.mqtt.connected)
            # and the worker still receives readings (its session was not discarded)
            attacker.publish(
                contract.topic(GAUGE, "reading"),
                contract.encode_batch([contract.encode_reading(seq=1, time=datetime.now(UTC), level_m=9.0)]),
                wait_s=5,
            )
            with db.connect(demo_db) as conn:
                wait_for(lambda: conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 1)
        finally:
            attacker.stop()
        assert worker.mqtt.connected.is_set()


def test_3_a_gauge_cannot_take_another_gauges_client_id(broker):
    mine, other = broker.accounts.ensure("kw-a"), broker.accounts.ensure("kw-b")
    broker.reload()
    victim = Connection(f"mqtt://kw-b:{other}@127.0.0.1:{broker.port}", "kw-b")
    victim.start(wait_s=5)
    try:
        attacker = Connection(f"mqtt://kw-a:{mine}@127.0.0.1:{broker.port}", "kw-b", persistent=False)
        attacker.start(wait_s=5)
        assert stays_connected(victim.connected)  # with the old configuration: kicked at once
        attacker.stop()
    finally:
        victim.stop()


def test_3_device_accounts_do_not_exist_on_the_services_listener(broker):
    password = broker.accounts.ensure(GAUGE)
    broker.reload()
    with pytest.raises(MqttError):
        url = f"mqtt://{GAUGE}:{password}@127.0.0.1:{broker.service_port}"
        Connection(url, "kawamori-ingest-1", persistent=False).start(wait_s=3)
    # nor services on the devices' listener
    ingest_password = broker.accounts.password("kawamori-ingest")
    with pytest.raises(MqttError):
        Connection(
            f"mqtt://kawamori-ingest:{ingest_password}@127.0.0.1:{broker.port}", "x", persistent=False
        ).start(wait_s=3)
