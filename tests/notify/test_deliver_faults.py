"""Fault tests of ``kawamori notify deliver`` as a real process: SIGKILLed at random
moments during a 10,000-notification fan-out to local endpoints, every (alert,
subscription, channel) is delivered at least once; LINE and the gateway never twice
(their idempotency keys); what is sent again is at most what was in flight."""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller

from kawamori import db
from notify.channels.webpush import generate_vapid_keys
from notify.sealing import SubscriberKey, token_digest
from tests.notify.peers import Answer, Request, free_port, http_peer
from tests.notify.queue import add_alert, add_outbox, alert_message
from tests.notify.test_line import TOKEN, LinePlatform
from tests.notify.test_webhook import SECRET, Gateway
from tests.notify.test_webpush import SUBJECT, Browser

ROOT = Path(__file__).resolve().parents[2]
MIX = {"webpush": 4000, "line": 3000, "gateway": 2000, "email": 1000}  # 10,000
KILLS = 3


class CountingPush:
    """A push service that counts pushes per subscription (its URL path); decryption is
    tested in test_webpush.py, here only who got what matters."""

    def __init__(self) -> None:
        self.received: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Answer:
        assert request.headers["authorization"].startswith("vapid ")
        with self.lock:
            self.received[request.path] += 1
        return Answer(201)


class CountingMailbox:
    def __init__(self) -> None:
        self.received: Counter = Counter()

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            self.received[rcpt] += 1
        return "250 OK"


def add_subscriptions(conn, key: SubscriberKey, push_url: str) -> dict[str, list]:
    browser = Browser()
    rows, made = [], {c: [] for c in MIX}
    n = 0
    for channel, count in MIX.items():
        for _ in range(count):
            n += 1
            sid = uuid.uuid4()
            address = {
                "webpush": {
                    "endpoint": f"{push_url}/push/{n}",
                    "p256dh": browser.p256dh,
                    "auth": base64.urlsafe_b64encode(browser.auth).rstrip(b"=").decode(),
                },
                "line": f"U{n:032x}",
                "email": f"r{n}@example.jp",
                "gateway": f"sms:+8123500{n:04d}",
            }[channel]
            made[channel].append(address)
            area = f"area-{n % 5}"
            rows.append(
                (sid, channel, "ja", key.seal(address, subscription_id=sid), uuid.uuid4().hex, [area],
                 token_digest(key.unsubscribe_token(sid)))
            )  # fmt: skip
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY subscriptions (id, channel, language, address_sealed, address_digest, areas,"
            " unsubscribe_digest) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)
    return made


def logged(conn) -> int:
    return conn.execute("SELECT count(*) FROM notification_log").fetchone()[0]


def sending(conn, *, since: int, timeout: float = 60.0) -> None:
    """Wait until a worker records its first sends."""
    deadline = time.monotonic() + timeout
    while logged(conn) <= since:
        assert time.monotonic() < deadline, "the worker did not start sending"
        time.sleep(0.02)


def test_sigkilled_worker_delivers_everything_at_least_once_and_line_once(database_url, tmp_path):
    master = os.urandom(32)
    key = SubscriberKey(master)
    private, _ = generate_vapid_keys()
    push, line, gateway, mailbox = CountingPush(), LinePlatform(), Gateway(), CountingMailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    rng = random.Random(os.environ.get("KAWAMORI_FAULT_SEED", "6"))
    with (
        http_peer(push) as push_peer,
        http_peer(line) as line_peer,
        http_peer(gateway) as gateway_peer,
        db.connect(database_url) as conn,
    ):
        made = add_subscriptions(conn, key, push_peer.url)
        alert = add_alert(conn)
        add_outbox(conn, alert_message(alert, [f"area-{i}" for i in range(5)]))
        env = {
            **os.environ,
            "KAWAMORI_ENVIRONMENT": "development",
            "KAWAMORI_DATA_DIR": str(tmp_path),
            "KAWAMORI_DATABASE_URL": database_url,
            "KAWAMORI_SUBSCRIBER_KEY": base64.b64encode(master).decode(),
            "KAWAMORI_PUSH_PRIVATE_ADDRESSES": "true",  # the push service is local
            "KAWAMORI_VAPID_SUBJECT": SUBJECT,
            "KAWAMORI_VAPID_PRIVATE_KEY": private,
            "KAWAMORI_LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
            "KAWAMORI_LINE_CHANNEL_SECRET": "s" * 32,
            "KAWAMORI_LINE_API_BASE_URL": line_peer.url,
            "KAWAMORI_SMTP_HOST": "127.0.0.1",
            "KAWAMORI_SMTP_PORT": str(smtp.port),
            "KAWAMORI_SMTP_FROM": "bousai@city.example.jp",
            "KAWAMORI_SMTP_STARTTLS": "false",
            "KAWAMORI_GATEWAY_URL": f"{gateway_peer.url}/kawamori",
            "KAWAMORI_GATEWAY_SECRET": SECRET,
            "KAWAMORI_LOG_FORMAT": "json",
        }
        argv = [
            sys.executable,
            "-m",
            "kawamori_app",
            "notify",
            "deliver",
            "--lease",
            "2",
            "--concurrency",
            "16",
        ]
        started = time.monotonic()
        kills, logs = 0, []
        while kills < KILLS:
            worker = subprocess.Popen(
                argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            sending(conn, since=logged(conn))  # start-up takes 1–5 s, more on a busy machine
            time.sleep(rng.uniform(0.05, 0.6))  # … then kill it at a random moment while it sends
            worker.send_signal(signal.SIGKILL)
            logs.append(worker.communicate()[0])
            kills += 1
        mid = dict(conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
        final = subprocess.run([*argv, "--once"], env=env, cwd=ROOT, capture_output=True, timeout=120)
        elapsed = time.monotonic() - started
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        states = dict(conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
    smtp.stop()
    output = b"".join(logs) + final.stdout + final.stderr

    # every (alert, subscription, channel) delivered at least once
    assert states == {"delivered": 10_000}, states
    assert 0 < mid.get("delivered", 0) < 10_000, mid  # the kills landed during the fan-out's delivery
    received = {
        "webpush": Counter({f"/push/{p['endpoint'].rsplit('/', 1)[1]}": push.received[
            f"/push/{p['endpoint'].rsplit('/', 1)[1]}"] for p in made["webpush"]}),
        "line": Counter(m["to"] for m in line.messages),
        "gateway": Counter(a["recipient"] for a in gateway.accepted),
        "email": mailbox.received,
    }  # fmt: skip
    for channel, addresses in made.items():
        assert len(received[channel]) == len(addresses) and min(received[channel].values()) >= 1, channel
    # what reached a person twice: LINE drops a repeated X-Line-Retry-Key (409), the gateway
    # a repeated X-Kawamori-Delivery (the documented contract), so only e-mail and Web Push
    # can; a browser shows a repeated push silently in place of the first (the service
    # worker's own test, tests/dashboard/test_resident_browser.py)
    twice = {c: sum(received[c].values()) - len(made[c]) for c in made}
    most = {c: max(received[c].values()) for c in made}  # copies of the most repeated one
    resent = {  # requests a peer got again for a delivery it already had
        "webpush": twice["webpush"],
        "line": len(line_peer.requests) - len(line.messages),
        "gateway": gateway.repeats,
        "email": twice["email"],
    }
    print(
        f"\nfault test: {kills} SIGKILLs, {elapsed:.1f} s; sent again after a kill, by channel: {resent}; "
        f"received twice: {twice}; most copies of one: {most}"
    )
    assert twice["line"] == 0 and twice["gateway"] == 0
    # each kill repeats a delivery at most once: no (alert, subscription, channel) arrives
    # more often than 1 + the number of kills
    assert all(most[c] <= 1 + KILLS for c in made), most
    # at least once: what a killed worker's peers had received but not yet answered when it
    # died is sent again (the journal covers everything they had answered), so a kill
    # repeats at most the sends in flight: the concurrency, 16 per channel here, e-mail 4
    assert all(resent[c] <= KILLS * 16 for c in ("webpush", "line", "gateway"))
    assert resent["email"] <= KILLS * 4
    assert b"r1@example.jp" not in output and b"U00000000" not in output  # no addresses in logs


def test_deliver_without_a_channel_says_so(database_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAWAMORI_")} | {
        "KAWAMORI_DATABASE_URL": database_url,
        "KAWAMORI_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "kawamori_app", "notify", "deliver", "--once"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"No notification channel is configured" in done.stderr
