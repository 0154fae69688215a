"""Broker accounts against a real Mosquitto: per-device passwords and ACLs."""

from __future__ import annotations

import pytest

from kawamori import contract
from kawamori.broker_auth import hash_password, render_device_acl, render_service_acl, verify_password
from simulator.mqtt import Connection, Inbox, MqttError
from tests.helpers import wait_for


def test_hash_round_trip_and_salt():
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second  # random salt
    assert first.startswith("$7$101$")
    assert verify_password("s3cret", first) and not verify_password("other", first)
    assert not verify_password("s3cret", "garbage")


def test_acl_confines_devices_to_their_own_topics():
    acl = render_device_acl()
    assert "pattern write kawamori/v1/%u/reading" in acl
    assert "pattern read kawamori/v1/%u/config" in acl
    assert "pattern write kawamori/v1/%u/config" not in acl
    assert "user " not in acl  # no service account on the devices' listener
    assert "user kawamori-ingest" in render_service_acl(["kawamori-ingest"])


@pytest.fixture
def listener(broker):
    inbox = Inbox()
    connection = Connection(
        broker.url("kawamori-ingest"),
        "test-listener",
        subscriptions=[contract.subscription("reading")],
        on_message=inbox.put,
        persistent=False,
    )
    connection.start()
    yield inbox
    connection.stop()


def device(broker, device_id: str, password: str | None = None) -> Connection:
    secret = password or broker.accounts.ensure(device_id)
    broker.reload()
    url = f"mqtt://{device_id}:{secret}@127.0.0.1:{broker.port}"
    return Connection(url, device_id, persistent=False)


def test_device_publishes_its_own_readings(broker, listener):
    board = device(broker, "kw-a")
    board.start()
    board.publish(contract.topic("kw-a", "reading"), b'{"v":1}', wait_s=5)
    received = wait_for(lambda: listener.take(max_items=10, max_wait_s=0.2))
    assert [m.topic for m in received] == ["kawamori/v1/kw-a/reading"]
    board.stop()


def test_device_cannot_publish_as_another_device(broker, listener):
    device(broker, "kw-b").stop()  # kw-b exists
    intruder = device(broker, "kw-a")
    intruder.start()
    intruder.publish(contract.topic("kw-b", "reading"), b'{"v":1}', wait_s=5)
    intruder.publish(contract.topic("kw-a", "reading"), b'{"v":1,"marker":1}', wait_s=5)
    received = wait_for(lambda: listener.take(max_items=10, max_wait_s=0.5))
    assert [m.topic for m in received] == ["kawamori/v1/kw-a/reading"]  # kw-b's was dropped
    intruder.stop()


def test_wrong_password_is_refused(broker):
    broker.accounts.ensure("kw-c")
    broker.reload()
    with pytest.raises(MqttError, match="could not connect"):
        Connection(f"mqtt://kw-c:wrong@127.0.0.1:{broker.port}", "kw-c", persistent=False).start(wait_s=3)


def test_anonymous_is_refused(broker):
    with pytest.raises(MqttError):
        Connection(f"mqtt://127.0.0.1:{broker.port}", "anon", persistent=False).start(wait_s=3)


def test_removed_device_can_no_longer_connect(broker):
    password = broker.accounts.ensure("kw-d")
    broker.reload()
    board = device(broker, "kw-d", password)
    board.start()
    board.stop()
    broker.accounts.remove("kw-d")
    broker.reload()
    with pytest.raises(MqttError):
        device_url = f"mqtt://kw-d:{password}@127.0.0.1:{broker.port}"
        Connection(device_url, "kw-d", persistent=False).start(wait_s=3)
