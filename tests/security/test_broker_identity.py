"""Issue 20, finding 3: a gauge's account connecting with the ingest worker's client id
kicked the worker off the real Mosquitto and discarded its persistent session. Now the
devices' listener binds the client id to the account, and device accounts do not exist
on the services' listener."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from kawamori import contract, db
from simulator.mqtt import Connection, MqttError
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


def test_3_each_ingest_worker_is_its_own_account_on_the_services_listener(demo_db, broker):
    """Services are bound too: a connection with the service secret's account asking for
    the worker's client id is named after its account and kicks nobody; the worker's
    own account is derived from that secret and named as its client id."""
    with running_ingest(demo_db, broker, "kawamori-ingest-1") as worker:
        other = Connection(broker.url("kawamori-ingest"), "kawamori-ingest-1", persistent=False)
        other.start(wait_s=5)
        try:
            assert stays_connected(worker.mqtt.connected)
        finally:
            other.stop()
    assert broker.accounts.is_service("kawamori-ingest-1")


def test_3_broker_init_writes_one_account_per_service_and_no_plain_password(tmp_path):
    """The production set-up (compose's broker-setup) against a real Mosquitto: workers
    log in as their own accounts, derived from the service secret they are given."""
    import shutil

    from typer.testing import CliRunner

    from kawamori.broker_auth import service_url
    from kawamori.embedded import MosquittoBroker
    from kawamori_app.cli import app
    from tests.conftest import _scratch

    folder = _scratch("kawamori-broker-init-")
    broker = MosquittoBroker(folder / "mosquitto")
    secret = "a-service-secret-of-some-length"
    result = CliRunner().invoke(
        app,
        ["broker", "init", "--folder", str(broker.accounts.folder), "--secrets", str(tmp_path / "s.json")],
        env={"KAWAMORI_INGEST_MQTT_PASSWORD": secret},
    )
    assert result.exit_code == 0, result.output
    services = broker.accounts.services_passwd_file.read_text()
    names = sorted(line.split(":")[0] for line in services.splitlines())
    workers = [f"kawamori-ingest-{n}" for n in (1, 2, 3)]
    assert names == ["kawamori-config", "kawamori-ingest", *workers, "kawamori-shelters-1"]
    assert not (broker.accounts.folder / "secrets.json").exists()  # plain passwords elsewhere
    assert secret not in services
    # (the broker runs as nobody here, as compose runs both as 1883: give it the files)
    accounts = broker.accounts
    broker.accounts = type(accounts)(
        accounts.folder, owner_uid=accounts.owner_uid, secrets_file=tmp_path / "s.json"
    )
    broker.start()
    try:
        master = f"mqtt://kawamori-ingest:{secret}@127.0.0.1:{broker.service_port}"
        worker = Connection(service_url(master, "kawamori-ingest-2"), "kawamori-ingest-2", persistent=False)
        worker.start(wait_s=5)
        worker.stop()
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
