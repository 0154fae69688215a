"""Benchmark: one level-4 alert over 50 areas fanned out to 100,000 subscriptions across
channels and delivered to local endpoints by `kawamori notify deliver` processes, with
a naive baseline side by side. Prints medians of the runs.

    uv run python bench/notify.py [--subscriptions 100000] [--runs 3] [--workers 2]

Targets (issue #6): matching + enqueue ≤ 2 s; delivery ≥ 1,000 notifications/s; p99
from alert issued to the first 1,000 notifications received ≤ 1 s.

The endpoints (Web Push, LINE, gateway over HTTP/1.1 with keep-alive in one uvicorn
process; SMTP with aiosmtpd in another) only record when each message arrived: the push
endpoint does not decrypt (tests/notify/test_webpush.py does), so the figures measure
Kawamori's side. Everything shares the machine: PostgreSQL, the workers, the endpoints.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from kawamori import db  # noqa: E402
from kawamori.embedded import PostgresServer, free_port  # noqa: E402
from notify.sample import sample_message  # noqa: E402

AREAS = [f"bench-area-{i:02d}" for i in range(50)]
OTHER_AREAS = [f"bench-other-{i:02d}" for i in range(10)]
MIX = {"webpush": 0.45, "line": 0.35, "email": 0.10, "gateway": 0.10}
LANGUAGES = {"ja": 0.8, "en": 0.1, "ja-easy": 0.1}
TEMPLATE = "bench_template"
SECRET = "bench-gateway-secret-" + "k" * 32
TOKEN = "bench-line-token-" + "x" * 40


# --- the endpoints (a separate process) -----------------------------------------------------


def serve(port: int, smtp_port: int) -> None:
    """HTTP endpoints for Web Push, LINE and the gateway, and an SMTP server; each
    arrival's time is kept; GET /stats returns them."""
    import uvicorn
    from aiosmtpd.controller import Controller

    arrivals: list[float] = []
    lock = threading.Lock()

    class Mailbox:
        async def handle_DATA(self, server, session, envelope):
            with lock:
                arrivals.append(time.time())
            return "250 OK"

    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        if path == "/stats":
            with lock:
                body = json.dumps(arrivals).encode()
            status, headers = 200, [(b"content-type", b"application/json")]
        elif path == "/reset":
            with lock:
                arrivals.clear()
            status, headers, body = 204, [], b""
        else:
            arrivals.append(time.time())
            if path.startswith("/push/"):
                status, headers, body = 201, [], b""
            elif path == "/v2/bot/message/push":
                ok = any(k == b"x-line-retry-key" for k, _ in scope["headers"])
                status, headers, body = (200 if ok else 400), [(b"x-line-request-id", b"r")], b"{}"
            else:
                status, headers, body = 200, [], b""
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    smtp.stop()


# --- the data -------------------------------------------------------------------------------


def subscriptions(conn, key, n: int, http_url: str, rng: random.Random) -> None:
    from notify.channels.webpush import generate_vapid_keys  # noqa: F401 (warm import)
    from notify.sealing import token_digest

    # the user agent's public key and auth secret of the example in RFC 8291 (not decrypted here)
    p256dh = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
    auth = "BTBZMqHH6r4Tts7J_aSIgg"
    channels = rng.choices(list(MIX), weights=list(MIX.values()), k=n)
    languages = rng.choices(list(LANGUAGES), weights=list(LANGUAGES.values()), k=n)
    cells = [
        (round(38.5 + rng.randrange(20) * 0.01, 2), round(139.7 + rng.randrange(25) * 0.01, 2))
        for _ in range(n)
    ]
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY subscriptions (id, channel, language, address_sealed, address_digest, areas,"
            " cell_lat, cell_lon, unsubscribe_digest) FROM STDIN"
        ) as copy,
    ):
        for i in range(n + n // 10):
            sid = uuid.uuid4()
            matching = i < n
            channel = channels[i % n]
            address = {
                "webpush": {"endpoint": f"{http_url}/push/{i}", "p256dh": p256dh, "auth": auth},
                "line": f"U{i:032x}",
                "email": f"r{i}@example.jp",
                "gateway": f"sms:+8190{i:08d}",
            }[channel]
            areas = rng.sample(AREAS, rng.randint(1, 3)) if matching else rng.sample(OTHER_AREAS, 2)
            cell = cells[i % n]
            copy.write_row(
                (sid, channel, languages[i % n], key.seal(address, subscription_id=sid), uuid.uuid4().hex,
                 areas, cell[0], cell[1], token_digest(key.unsubscribe_token(sid)))
            )  # fmt: skip


def issue_alert(conn) -> tuple[int, float]:
    """An Actual level-4 alert over the 50 areas, written like alerts/store.py does;
    returns (outbox id, the time it was committed)."""
    from alerts.message import AreaFacts, identifier

    conn.execute(
        """INSERT INTO stations (id, name_ja, name_en, river_ja, river_en, latitude, longitude,
                                 mount_height_m, level_min_m, level_max_m)
           VALUES ('bench-station', '熊出', 'Kumaide', '赤川', 'Akagawa', 38.63, 139.83, 6, 0, 6)
           ON CONFLICT DO NOTHING"""
    )
    now = datetime.now(UTC)
    with conn.transaction():
        alert_id = conn.execute(
            """INSERT INTO alerts (fingerprint, station_id, kind, status, state, public, alert_level,
                                   areas, opened_at, updated_at, version)
               VALUES (%s, 'bench-station', 'stage', 'Actual', 'active', true, 4, %s, %s, %s, 1)
               RETURNING id""",
            (uuid.uuid4().hex, AREAS, now, now),
        ).fetchone()[0]
        message = sample_message(level=4).model_copy(
            update={
                "identifier": identifier("jp.example.bench", alert_id, 1),
                "sender": "jp.example.bench",
                "sent": now,
                "alert_id": alert_id,
                "observed_at": now,
                "areas": tuple(
                    AreaFacts(
                        id=a, name_ja=f"{a}地区", name_en=a, geometry={"type": "Polygon", "coordinates": []}
                    )
                    for a in AREAS
                ),
            }
        )
        outbox = conn.execute(
            """INSERT INTO alert_outbox (alert_id, version, msg_type, status, public, payload, created_at)
               VALUES (%s, 1, 'Alert', 'Actual', true, %s::jsonb, %s) RETURNING id""",
            (alert_id, message.model_dump_json(), now),
        ).fetchone()[0]
    return outbox, time.time()


# --- the runs -------------------------------------------------------------------------------


def worker_env(db_url: str, key_b64: str, http_url: str, smtp_port: int, vapid: str, folder: Path) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("KAWAMORI_")},
        "KAWAMORI_ENVIRONMENT": "development",
        "KAWAMORI_DATA_DIR": str(folder),
        "KAWAMORI_DATABASE_URL": db_url,
        "KAWAMORI_SUBSCRIBER_KEY": key_b64,
        "KAWAMORI_PUSH_PRIVATE_ADDRESSES": "true",  # the push service is local
        "KAWAMORI_VAPID_SUBJECT": "mailto:bench@example.jp",
        "KAWAMORI_VAPID_PRIVATE_KEY": vapid,
        "KAWAMORI_LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
        "KAWAMORI_LINE_CHANNEL_SECRET": "s" * 32,
        "KAWAMORI_LINE_API_BASE_URL": http_url,
        "KAWAMORI_SMTP_HOST": "127.0.0.1",
        "KAWAMORI_SMTP_PORT": str(smtp_port),
        "KAWAMORI_SMTP_FROM": "bousai@city.example.jp",
        "KAWAMORI_SMTP_STARTTLS": "false",
        "KAWAMORI_GATEWAY_URL": f"{http_url}/gateway",
        "KAWAMORI_GATEWAY_SECRET": SECRET,
        "KAWAMORI_LOG_FORMAT": "json",
        "KAWAMORI_PUBLIC_URL": "https://bousai.example.jp",
    }


def one_run(
    pg: PostgresServer, run: int, args, env_for, http_url: str, endpoints_pid: int
) -> dict[str, float]:
    from notify.fanout import fan_out_next

    name = f"bench_run_{run}"
    db_url = pg.create_database(name, template=TEMPLATE)
    env = env_for(db_url)
    argv = [sys.executable, "-m", "kawamori_app", "notify", "deliver", "--concurrency", str(args.concurrency)]
    workers = [
        subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(args.workers)
    ]
    httpx.post(f"{http_url}/reset")
    try:
        with db.connect(db_url) as conn:
            deadline = time.monotonic() + 60
            while (
                conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kawamori-deliver'"
                ).fetchone()[0]
                < args.workers
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not start")
                time.sleep(0.1)
            time.sleep(1.0)  # let them settle into polling
            postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
            before = {"pg": tree_cpu_seconds(postmaster), "endpoints": cpu_seconds(endpoints_pid)}
            _, issued = issue_alert(conn)
            started = time.perf_counter()
            result = fan_out_next(conn, now=datetime.now(UTC))
            enqueue_s = time.perf_counter() - started
            assert result is not None and result.queued == args.subscriptions, result
            while True:
                left = conn.execute("SELECT count(*) FROM deliveries WHERE state = 'queued'").fetchone()[0]
                if left == 0:
                    break
                time.sleep(0.2)
            done = dict(conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
        cpu_s = sum(cpu_seconds(w.pid) for w in workers)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(30)
    time.sleep(0.5)
    pg_s = tree_cpu_seconds(postmaster) - before["pg"]
    endpoints_s = cpu_seconds(endpoints_pid) - before["endpoints"]
    arrivals = sorted(httpx.get(f"{http_url}/stats", timeout=30).json())
    pg.drop_database(name)
    assert done == {"delivered": args.subscriptions}, done
    assert len(arrivals) >= args.subscriptions, len(arrivals)
    first = [t - issued for t in arrivals[:1000]]
    return {
        "enqueue_s": enqueue_s,
        "rate": args.subscriptions / (arrivals[args.subscriptions - 1] - issued),
        "p99_first_1000_s": statistics.quantiles(first, n=100)[98],
        "first_s": first[0],
        "total_s": arrivals[args.subscriptions - 1] - issued,
        "cpu_ms": 1000 * cpu_s / args.subscriptions,
        "pg_cpu_ms": 1000 * pg_s / args.subscriptions,  # fan-out, claims, records
        "endpoints_cpu_ms": 1000 * endpoints_s / args.subscriptions,
    }


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process, its children that have ended (reaped: PostgreSQL's
    backends) and those still running."""
    fields = _stat(pid)
    ticks = sum(int(f) for f in fields[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                child = _stat(entry.name)
            except OSError:
                continue
            if child[1] == str(pid):
                ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def naive(pg: PostgresServer, args, env_for, n: int) -> float:
    """The obvious loop: for each matching subscription, SELECT it, open its address,
    render, send, INSERT the log row — one at a time. Returns notifications/s."""
    from alerts.message import AlertMessage
    from kawamori.settings import Settings
    from notify.channels.base import Delivery
    from notify.compose import SealedDirectory
    from notify.config import notifiers
    from notify.render import render
    from notify.sealing import load_key

    name = "bench_naive"
    db_url = pg.create_database(name, template=TEMPLATE)
    env = env_for(db_url)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    channels = notifiers(settings)
    directory = SealedDirectory(load_key(settings), "https://bousai.example.jp")
    provider = {"webpush": "webpush", "line": "line", "email": "email", "gateway": "webhook"}
    with db.connect(db_url) as conn:
        outbox, _ = issue_alert(conn)
        payload = conn.execute("SELECT payload FROM alert_outbox WHERE id = %s", (outbox,)).fetchone()[0]
        ids = [
            r[0] for r in conn.execute("SELECT id FROM subscriptions WHERE areas && %s LIMIT %s", (AREAS, n))
        ]
        started = time.perf_counter()
        for sid in ids:
            channel, language, sealed = conn.execute(
                "SELECT channel, language, address_sealed FROM subscriptions WHERE id = %s", (sid,)
            ).fetchone()
            message = AlertMessage.model_validate_json(json.dumps(payload))
            recipient, render_channel = directory.recipient(channel, bytes(sealed), sid)
            rendered = render(
                message,
                language=language,
                channel=render_channel,
                shelters=(),
                resident_url=directory.resident_url(),
                unsubscribe_url=directory.unsubscribe_url(sid),
            )
            channels[provider[channel]].send(Delivery(str(sid), rendered, recipient))
        elapsed = time.perf_counter() - started
    pg.drop_database(name)
    return len(ids) / elapsed


@contextmanager
def stack(n: int, *, script: str, prepare=None):
    """The endpoints (``script --serve``) in their own process, a PostgreSQL, and the template
    database: migrated, ``prepare(conn)`` (e.g. a network), ``n`` matching subscriptions;
    yields ``(pg, env_for(db_url), subscriber key (base64), endpoints' pid, their URL)``."""
    from notify.channels.webpush import generate_vapid_keys
    from notify.sealing import SubscriberKey

    folder = Path(tempfile.mkdtemp(prefix="kawamori-bench-"))
    folder.chmod(0o711)
    http_port, smtp_port = free_port(), free_port()
    http_url = f"http://127.0.0.1:{http_port}"
    endpoints = subprocess.Popen(
        [sys.executable, script, "--serve", str(http_port), str(smtp_port)], cwd=ROOT, start_new_session=True
    )
    pg = PostgresServer(folder / "pg")
    pg.start()
    try:
        master = os.urandom(32)
        key_b64 = base64.b64encode(master).decode()
        vapid, _ = generate_vapid_keys()
        template_url = pg.create_database(TEMPLATE)
        started = time.perf_counter()
        with db.connect(template_url) as conn:
            db.migrate(conn)
            if prepare is not None:
                prepare(conn)
            subscriptions(conn, SubscriberKey(master), n, http_url, random.Random(6))
            conn.execute("VACUUM ANALYZE subscriptions")
        print(
            f"setup: {n:,} matching subscriptions (+10% elsewhere) in {time.perf_counter() - started:.1f} s"
        )
        for _ in range(50):
            try:
                httpx.get(f"{http_url}/stats")
                break
            except httpx.HTTPError:
                time.sleep(0.2)

        def env_for(db_url: str) -> dict:
            return worker_env(db_url, key_b64, http_url, smtp_port, vapid, folder)

        yield pg, env_for, key_b64, endpoints.pid, http_url
    finally:
        pg.stop()
        os.killpg(endpoints.pid, signal.SIGTERM)
        endpoints.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="kawamori notify deliver processes")
    parser.add_argument("--concurrency", type=int, default=32, help="sends in flight per channel per worker")
    parser.add_argument("--naive", type=int, default=2000, help="subscriptions the naive loop sends to")
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return

    with stack(args.subscriptions, script=__file__) as (pg, env_for, _key, endpoints_pid, http_url):
        runs = []
        for run in range(args.runs):
            runs.append(one_run(pg, run, args, env_for, http_url, endpoints_pid))
            r = runs[-1]
            print(
                f"run {run + 1}: enqueue {r['enqueue_s']:.2f} s, {r['rate']:,.0f}/s, "
                f"first {r['first_s']:.2f} s, p99 first 1,000 {r['p99_first_1000_s']:.2f} s, "
                f"all in {r['total_s']:.1f} s; CPU per notification: workers {r['cpu_ms']:.2f} ms, "
                f"PostgreSQL {r['pg_cpu_ms']:.2f} ms, endpoints {r['endpoints_cpu_ms']:.2f} ms"
            )
        baseline = naive(pg, args, env_for, args.naive)

    def med(k: str) -> float:
        return statistics.median(r[k] for r in runs)

    n_areas = len(AREAS)
    print()
    print(f"one level-4 alert, {n_areas} areas, {args.subscriptions:,} subscriptions "
          f"({', '.join(f'{c} {int(w * 100)}%' for c, w in MIX.items())}); "
          f"{args.workers} workers × {args.concurrency} per channel; median of {args.runs} runs")  # fmt: skip
    print()
    print("| measurement | Kawamori (median) | naive loop | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| matching + enqueue | {med('enqueue_s'):.2f} s | — | — | ≤ 2 s |")
    print(
        f"| delivery rate (issued → last received) | {med('rate'):,.0f} /s | {baseline:,.0f} /s "
        f"| {med('rate') / baseline:.1f}× | ≥ 1,000 /s |"
    )
    naive_p99 = 990 / baseline
    print(
        f"| p99 issued → first 1,000 received | {med('p99_first_1000_s'):.2f} s | {naive_p99:.1f} s "
        f"(990 / rate) | {naive_p99 / med('p99_first_1000_s'):.1f}× | ≤ 1 s |"
    )
    print(f"| all {args.subscriptions:,} received | {med('total_s'):.1f} s | "
          f"{args.subscriptions / baseline:,.0f} s (extrapolated) | — | — |")  # fmt: skip
    for key, what in (("cpu_ms", "workers"), ("pg_cpu_ms", "PostgreSQL"), ("endpoints_cpu_ms", "endpoints")):
        print(f"| CPU per notification: {what} | {med(key):.2f} ms | — | — | — |")


if __name__ == "__main__":
    main()
