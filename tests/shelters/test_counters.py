"""Door counters end to end: a counter publishes over a real Mosquitto with its own
account, the listener stores each count once (however often it is delivered) and
dead-letters what it cannot use."""

from __future__ import annotations

import json
import threading
import time

from kawamori import contract, db
from kawamori.mqtt import Connection
from shelters.counters import CounterListener
from shelters.occupancy import assign_counter
from tests.helpers import wait_for

SHELTER = "062031-0013"


def test_counts_arrive_once_and_bad_messages_are_dead_lettered(shelter_db, broker):
    with db.connect(shelter_db) as conn:
        assign_counter(conn, device_id="kw-door-01", shelter_id=SHELTER)
        before = conn.execute("SELECT occupancy FROM shelters WHERE id = %s", (SHELTER,)).fetchone()[0]
    password = broker.accounts.ensure("kw-door-01")
    stranger = broker.accounts.ensure("kw-demo-01")  # a gauge, not a counter
    broker.reload()
    broker.allow_services("shelters-test")
    listener = CounterListener(shelter_db, broker.url("kawamori-ingest"), "shelters-test")
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    wait_for(listener.mqtt.subscribed.is_set)
    door = Connection(f"mqtt://kw-door-01:{password}@127.0.0.1:{broker.port}", "kw-door-01", persistent=False)
    gauge = Connection(
        f"mqtt://kw-demo-01:{stranger}@127.0.0.1:{broker.port}", "kw-demo-01", persistent=False
    )
    door.start()
    gauge.start()
    try:
        now = time.time()
        first = json.dumps({"v": 1, "seq": 1, "t": now - 2, "in": 5, "out": 1}).encode()
        second = json.dumps({"v": 1, "seq": 2, "t": now - 1, "in": 2, "out": 0}).encode()
        topic = contract.topic("kw-door-01", "count")
        for payload in (first, first, second, b"{broken"):  # `first` delivered twice
            door.publish(topic, payload, wait_s=5)
        gauge.publish(contract.topic("kw-demo-01", "count"), first, wait_s=5)
        wait_for(lambda: listener.stored + listener.rejected == 5, timeout=20)
        with db.connect(shelter_db) as conn:
            after = conn.execute("SELECT occupancy FROM shelters WHERE id = %s", (SHELTER,)).fetchone()[0]
            reasons = sorted(r for (r,) in conn.execute("SELECT reason FROM dead_letters").fetchall())
        assert after - before == 6  # (5 - 1) + (2 - 0), the repeat counted once
        assert reasons == ["invalid_json", "unassigned_device"]
    finally:
        door.stop()
        gauge.stop()
        listener.stop()
        thread.join(10)
