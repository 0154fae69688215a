"""The socket-level MQTT 5 client of the ingest worker, against a real Mosquitto."""

from __future__ import annotations

import time

import pytest

from kawamori.mqtt import Connection, Message, MqttError
from kawamori.mqtt_direct import _U16, DirectConnection, _packet, _string


def drive(connection: DirectConnection, inbox: list[Message], count: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while len(inbox) < count and time.monotonic() < deadline:
        connection.poll(0.05)


@pytest.fixture
def device(broker):
    password = broker.accounts.ensure("kw-demo-01")
    broker.reload()
    connection = Connection(f"mqtt://kw-demo-01:{password}@127.0.0.1:{broker.port}", "kw-demo-01")
    connection.start()
    yield connection
    connection.stop()


def consumer(broker, inbox: list[Message], **kwargs) -> DirectConnection:
    return DirectConnection(
        broker.url("kawamori-ingest"),
        "ingest-test",
        subscriptions=["kawamori/v1/+/reading"],
        on_message=inbox.append,
        **kwargs,
    )


def test_unacknowledged_messages_come_again_acknowledged_ones_do_not(broker, device):
    inbox: list[Message] = []
    first = consumer(broker, inbox)
    first.open()
    big = b"x" * 300  # a remaining length of two bytes
    for i in range(6):
        device.publish("kawamori/v1/kw-demo-01/reading", b"%d" % i + big, wait_s=5)
    drive(first, inbox, 6)
    assert [m.payload[:1] for m in inbox] == [b"0", b"1", b"2", b"3", b"4", b"5"]
    assert {m.topic for m in inbox} == {"kawamori/v1/kw-demo-01/reading"}
    assert all(m.qos == 1 and m.payload.endswith(big) for m in inbox)
    for message in inbox[:4]:
        first.ack(message)
    first.close()  # sends the acknowledgements, returns once the broker closed the connection

    inbox.clear()
    again = consumer(broker, inbox)
    again.open()
    drive(again, inbox, 2)
    drive(again, inbox, 3, timeout=0.5)  # nothing more comes
    assert [m.payload[:1] for m in inbox] == [b"4", b"5"]
    again.close(end_session=True)


def test_an_ended_session_keeps_nothing(broker, device):
    inbox: list[Message] = []
    connection = consumer(broker, inbox)
    connection.open()
    connection.close(end_session=True)
    device.publish("kawamori/v1/kw-demo-01/reading", b"lost", wait_s=5)
    again = consumer(broker, inbox)
    again.open()
    drive(again, inbox, 1, timeout=0.5)
    assert inbox == []
    again.close(end_session=True)


def test_reconnects_by_itself_after_the_broker_restarts(broker, device):
    inbox: list[Message] = []
    connection = consumer(broker, inbox)
    connection.open()
    broker.stop()
    deadline = time.monotonic() + 5
    while connection.connected.is_set() and time.monotonic() < deadline:
        connection.poll(0.05)
    assert not connection.connected.is_set()
    broker.start()
    deadline = time.monotonic() + 20
    while not connection.connected.is_set() and time.monotonic() < deadline:
        connection.poll(0.1)
    assert connection.connected.is_set()
    connection.poll(0.2)  # the subscription goes out
    assert device.connected.wait(10)  # the publisher (paho) reconnects by itself too
    device.publish("kawamori/v1/kw-demo-01/reading", b"after", wait_s=10)
    drive(connection, inbox, 1)
    assert [m.payload for m in inbox] == [b"after"]
    connection.close(end_session=True)


def test_a_wrong_password_is_refused(broker):
    connection = DirectConnection(
        f"mqtt://kawamori-ingest:wrong@127.0.0.1:{broker.port}", "ingest-test", persistent=False
    )
    with pytest.raises(MqttError, match="could not connect"):
        connection.open(wait_s=3)


def test_packets_cut_anywhere_decode_the_same():
    """Packets split across reads, with properties and long remaining lengths."""
    received: list[Message] = []
    connection = DirectConnection("mqtt://u:p@127.0.0.1:1", "c", on_message=received.append)
    properties = b"\x01\x01"  # payload format indicator: a property the decoder must skip
    stream = b"".join(
        _packet(
            0x32,
            _string("kawamori/v1/d1/reading")
            + _U16.pack(i + 1)
            + bytes([len(properties)])
            + properties
            + payload,
        )
        for i, payload in enumerate([b"a", b"b" * 200, b"c" * 20_000])
    ) + _packet(0x31, _string("kawamori/v1/d1/status") + b"\x00" + b"online")
    for step in (1, 7, len(stream)):
        received.clear()
        connection._partial = b""
        for start in range(0, len(stream), step):
            connection._handle(stream[start : start + step])
        assert [(m.mid, m.qos, m.retain, len(m.payload)) for m in received] == [
            (1, 1, False, 1),
            (2, 1, False, 200),
            (3, 1, False, 20_000),
            (0, 0, True, 6),
        ]
        assert received[3].topic == "kawamori/v1/d1/status" and received[3].payload == b"online"
