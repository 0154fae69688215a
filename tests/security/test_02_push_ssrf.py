"""Finding 2: the Web Push endpoint filter was bypassed — ``https://127.1:8443/``,
``https://0x7f.0.0.1/`` and ``https://0177.0.0.1/`` were accepted from an anonymous
client, and the delivery worker then made 35 TLS connections to a listener on
127.0.0.1; host names that resolve to internal addresses passed too. Now numbers in
those forms are refused when subscribing, and the delivery worker checks every address
it is about to connect to (resolve, then pin to public addresses only)."""

from __future__ import annotations

import socket
import threading

import pytest

from kawamori import db
from notify.channels.webpush import WebPushNotifier, generate_vapid_keys
from notify.fanout import fan_out_pending
from notify.worker import Worker
from tests.notify.queue import NOW, add_alert, add_outbox, add_subscription, alert_message, directory
from tests.notify.test_webpush import SUBJECT, Browser
from tests.notify.test_worker import FAST

_BROWSER = Browser().subscription("https://push.example.net/")
KEYS = {"p256dh": _BROWSER.p256dh, "auth": _BROWSER.auth}


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.1:8443/push/1",
        "https://0x7f.0.0.1/push/1",
        "https://0177.0.0.1/push/1",
        "https://2130706433/push/1",
        "https://[::ffff:7f00:1]/push/1",
        "https://169.254.169.254/latest/meta-data",
    ],
)
def test_an_anonymous_client_cannot_subscribe_an_internal_endpoint(stack, endpoint):
    with stack.client("203.0.113.5") as http:
        response = http.post(
            "/api/subscriptions",
            json={"channel": "webpush", "address": {"endpoint": endpoint, "keys": KEYS}, "areas": []},
        )
    assert response.status_code == 422, response.text
    with db.connect(stack.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


def test_a_stored_endpoint_that_resolves_inside_is_never_connected_to(conn):
    """As if a host name resolved to a public address when the browser subscribed and to
    127.0.0.1 later (DNS rebinding): ``localhost`` resolves to loopback here."""
    listener = Listener()
    private, _ = generate_vapid_keys()
    browser = Browser()
    try:
        for host in ("localhost", "127.0.0.1"):
            add_subscription(
                conn,
                channel="webpush",
                address=browser.subscription(f"https://{host}:{listener.port}/push/1"),
                areas=["oyama"],
            )
        add_outbox(conn, alert_message(add_alert(conn), ["oyama"]))
        fan_out_pending(conn, now=NOW)
        notifier = WebPushNotifier(vapid_private_key=private, subject=SUBJECT, timeout=2)
        worker = Worker(conn, notifiers={"webpush": notifier}, directory=directory(), policy=FAST)
        worker.run(until_idle=True)
        worker.close()
    finally:
        listener.close()
    assert listener.accepted == 0
    # not retried: the endpoints count as gone, and the subscriptions are forgotten
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0
