"""Benchmark: safety check-ins and rescue requests arriving while one level-4 alert fans out
to 100,000 subscribers. Prints medians and p99 of each request's acknowledgement and of
the time until a rescue request is on the staff triage queue, with and without the
fan-out, beside the fan-out's own figures with and without the load.

    uv run python bench/rescue.py [--checkins 10000] [--rescues 1000] [--minutes 10]

Targets (issue #18): 10,000 check-ins and 1,000 rescue requests in 10 minutes while an
alert fans out to 100,000 subscribers: every request acknowledged in ≤ 1 s at p99 and on
the staff map within 2 s. The dashboard runs in its own process (uvicorn, as
`kawamori dashboard` does), the delivery workers in theirs, the endpoints of bench/notify.py
in another; requests come from many client addresses (X-Forwarded-For from 127.0.0.1, as
behind the TLS proxy) and phones, as from residents. The staff queue is polled every
second, as the triage page does, so "on the map" includes up to a second of polling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.notify import TEMPLATE, issue_alert, stack  # noqa: E402
from kawamori import db  # noqa: E402
from kawamori.embedded import PostgresServer, free_port  # noqa: E402

PASSWORD = "bench rescue staff password 42"
UPPER = (38.730, 38.775, 139.915, 139.975)  # the demo network's upper Kyoden area
SCENARIOS = (("fanout", False, True), ("load", True, False), ("both", True, True))


def serve_dashboard(db_url: str, port: int, key_b64: str) -> None:
    import uvicorn

    from dashboard.main import create_app
    from dashboard.routers.residents import ResidentConfig
    from notify.sealing import SubscriberKey

    app = create_app(db_url, residents_config=ResidentConfig(key=SubscriberKey.from_base64(key_b64)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=True,
                forwarded_allow_ips="127.0.0.1")  # fmt: skip


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else (values[0] if values else 0.0)


async def load(
    base: str, staff_cookie: dict, *, checkins: int, rescues: int, seconds: float, seed: int
) -> dict:
    """Send the requests at evenly spread times (open loop), poll the staff queue meanwhile."""
    rng = random.Random(seed)
    kinds = ["checkin"] * checkins + ["rescue"] * rescues
    rng.shuffle(kinds)
    step = seconds / max(1, len(kinds))
    acks: list[float] = []
    refused: dict[int, int] = {}
    retried = [0]
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        done = asyncio.Event()

        async def poll() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=30, cookies=staff_cookie) as staff:
                while not done.is_set() or len(seen_at) < len(sent_at):
                    answer = await staff.get("/api/rescue/queue")
                    now = time.perf_counter()
                    for item in answer.json():
                        seen_at.setdefault(item["id"], now)
                    if done.is_set() and time.perf_counter() - last[0] > 30:
                        break
                    await asyncio.sleep(1.0)

        async def one(n: int, kind: str) -> None:
            household = uuid.uuid4().hex
            client = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
            lat = rng.uniform(UPPER[0] + 0.002, UPPER[1] - 0.002)
            lon = rng.uniform(UPPER[2] + 0.002, UPPER[3] - 0.002)
            ident = str(uuid.uuid4())
            if kind == "checkin":
                body = {
                    "id": ident,
                    "household": household,
                    "status": rng.choice(["safe", "shelter"]),
                    "household_size": rng.randint(1, 5),
                    "point": {"lat": lat, "lon": lon},
                }
                if body["status"] == "shelter":
                    body["shelter_id"] = rng.choice(["demo-haguro-gym", "demo-kyoden-school"])
                url = "/api/checkins"
            else:
                body = {
                    "id": ident,
                    "household": household,
                    "people": rng.randint(1, 6),
                    "needs": ["elderly"],
                    "point": {"lat": lat, "lon": lon},
                    "phone": f"090{n:08d}",
                    "note": "2階にいます",
                }
                url = "/api/rescue-requests"
            started = time.perf_counter()
            for attempt in range(3):  # as the page's queue does: the same id again, stored once
                try:
                    answer = await http.post(url, json=body, headers={"X-Forwarded-For": client})
                    break
                except httpx.TransportError:  # e.g. a kept-alive connection the server had just closed
                    retried[0] += 1
                    if attempt == 2:
                        raise
            acks.append(time.perf_counter() - started)
            if answer.status_code >= 300:
                refused[answer.status_code] = refused.get(answer.status_code, 0) + 1
            elif kind == "rescue":
                sent_at[ident] = started

        last = [time.perf_counter()]
        poller = asyncio.create_task(poll())
        origin = time.perf_counter()
        tasks = []
        for n, kind in enumerate(kinds):
            delay = origin + n * step - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, kind)))
        await asyncio.gather(*tasks)
        last[0] = time.perf_counter()
        done.set()
        await poller
    visible = [seen_at[i] - sent_at[i] for i in sent_at if i in seen_at]
    return {
        "requests": len(kinds),
        "refused": refused,
        "retried": retried[0],
        "ack_p50": statistics.median(acks),
        "ack_p99": percentile(acks, 99),
        "ack_max": max(acks),
        "visible_p50": statistics.median(visible) if visible else float("nan"),
        "visible_p99": percentile(visible, 99) if visible else float("nan"),
        "missing": len(sent_at) - len(visible),
    }


def sign_in(base: str, username: str) -> dict:
    import re

    with httpx.Client(base_url=base, timeout=30) as http:
        page = http.get("/staff/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', page)[1]
        answer = http.post(
            "/staff/login", data={"username": username, "password": PASSWORD, "login_token": token}
        )
        assert answer.status_code == 303, answer.text
        return dict(http.cookies)


def scenario(
    pg: PostgresServer, name: str, args, key_b64: str, env_for, *, with_load: bool, with_fanout: bool
):
    from kawamori import staff
    from kawamori.model import Role
    from notify.fanout import fan_out_next
    from rescue import store

    db_url = pg.create_database(name, template=TEMPLATE)
    with db.connect(db_url) as conn:
        now = datetime.now(UTC)
        staff.create_user(
            conn, username="rescuer", display_name="b", role=Role.operator, password=PASSWORD, now=now
        )
        store.grant(conn, username="rescuer", by="bench", now=datetime.now(UTC))
    port = free_port()
    dashboard = subprocess.Popen(
        [sys.executable, __file__, "--serve-dashboard", db_url, str(port), key_b64],
        cwd=ROOT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    workers = []
    result: dict = {}
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/r/safety", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        cookie = sign_in(base, "rescuer")
        fanout: dict = {}
        if with_fanout:
            argv = [
                sys.executable,
                "-m",
                "kawamori_app",
                "notify",
                "deliver",
                "--concurrency",
                str(args.concurrency),
            ]
            workers = [subprocess.Popen(argv, env=env_for(db_url), cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL) for _ in range(args.workers)]  # fmt: skip
            time.sleep(3.0)

            def fan() -> None:
                time.sleep(args.fanout_after)
                with db.connect(db_url) as conn:
                    _, issued = issue_alert(conn)
                    started = time.perf_counter()
                    fan_out_next(conn, now=datetime.now(UTC))
                    fanout["enqueue_s"] = time.perf_counter() - started
                    while conn.execute("SELECT count(*) FROM deliveries WHERE state = 'queued'").fetchone()[
                        0
                    ]:
                        time.sleep(0.2)
                    fanout["delivered_s"] = time.time() - issued

            thread = threading.Thread(target=fan)
            thread.start()
        if with_load:
            result = asyncio.run(load(base, cookie, checkins=args.checkins, rescues=args.rescues,
                                      seconds=args.minutes * 60, seed=18))  # fmt: skip
        if with_fanout:
            thread.join()
        result.update(fanout)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(30)
        os.killpg(dashboard.pid, signal.SIGTERM)
        dashboard.wait(10)
        pg.drop_database(name)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkins", type=int, default=10_000)
    parser.add_argument("--rescues", type=int, default=1_000)
    parser.add_argument("--minutes", type=float, default=10.0, help="the requests are spread over this time")
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--fanout-after", type=float, default=5.0, help="seconds into the load")
    parser.add_argument("--scenarios", default="fanout,load,both", help="which of fanout, load, both to run")
    parser.add_argument("--serve-dashboard", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_dashboard:
        serve_dashboard(args.serve_dashboard[0], int(args.serve_dashboard[1]), args.serve_dashboard[2])
        return
    if args.serve:
        from bench.notify import serve

        serve(*args.serve)
        return

    from kawamori.network import DEMO_NETWORK, apply_network, read_network

    def network(conn) -> None:  # alert areas and shelters: the city the requests come from
        apply_network(conn, read_network(DEMO_NETWORK))

    results = {}
    with stack(args.subscriptions, script=__file__, prepare=network) as (pg, env_for, key_b64, _pid, _url):
        for name, with_load, with_fanout in SCENARIOS:
            if name not in args.scenarios.split(","):
                continue
            results[name] = scenario(pg, f"bench_{name}", args, key_b64, env_for, with_load=with_load,
                                     with_fanout=with_fanout)  # fmt: skip
            print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in results[name].items()})

    if set(results) != {"fanout", "load", "both"}:
        return  # the table needs all three
    load_only, both, fan = results["load"], results["both"], results["fanout"]
    print()
    print(f"{args.checkins:,} check-ins + {args.rescues:,} rescue requests over {args.minutes:g} min; "
          f"one level-4 alert to {args.subscriptions:,} subscribers {args.fanout_after:g} s in")  # fmt: skip
    print()
    print("| measurement | load alone | load + fan-out | target |")
    print("|---|---|---|---|")
    for key, what, target in (
        ("ack_p50", "acknowledged, median", "—"),
        ("ack_p99", "acknowledged, p99", "≤ 1 s"),
        ("visible_p50", "on the staff queue, median", "—"),
        ("visible_p99", "on the staff queue, p99", "≤ 2 s"),
    ):
        print(f"| {what} | {load_only[key]:.3f} s | {both[key]:.3f} s | {target} |")
    print(f"| refused | {load_only['refused'] or 0} | {both['refused'] or 0} | 0 |")
    print()
    print("| fan-out | alone | with the load |")
    print("|---|---|---|")
    print(f"| matching + enqueue | {fan['enqueue_s']:.2f} s | {both['enqueue_s']:.2f} s |")
    print(f"| all delivered (issued → recorded) | {fan['delivered_s']:.1f} s | {both['delivered_s']:.1f} s |")


if __name__ == "__main__":
    main()
