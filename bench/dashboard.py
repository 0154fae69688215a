"""Benchmark: what the staff map and the hydrograph read, from the tables kept at ingest
time (migration 0018) against the naive queries over raw readings, side by side in one
run on one database. Prints medians per query.

    uv run python bench/dashboard.py                      # 20,000 stations, a year each
    uv run python bench/dashboard.py --year-stations 100  # 20,000 stations, 100 with a year

Every station has 10-minute readings for ``--days`` (365); with ``--year-stations N``
only N stations have the whole period and the others its last day (the map's latest
values depend on the number of stations, a station-year hydrograph on one station's
history). Times: the wall clock of the query over a local socket, the server's work plus
the transfer of the answer ("client"), and the server's execution time from EXPLAIN
ANALYZE ("server").

Targets (issue 19): the map's latest values ≤ 5 ms; one station-year hydrograph ≤ 5 ms
from rollups; baselines: the newest reading per station by a LATERAL scan, and
``date_bin`` over the raw readings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

# this file is named like the package it measures: put the repository first on the path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import queries, review
from kawamori import db
from kawamori.embedded import PostgresServer

STAGES = (
    '[{"key": "caution", "name_ja": "氾濫注意水位", "name_en": "Caution", "level_m": 3.0, "alert_level": 2},'
    ' {"key": "danger", "name_ja": "氾濫危険水位", "name_en": "Danger", "level_m": 5.0, "alert_level": 4}]'
)
NAIVE_LATEST = """SELECT s.id, latest.time, latest.level_m, latest.quality FROM stations s
    LEFT JOIN LATERAL (SELECT time, level_m, quality FROM readings WHERE station_id = s.id
                       ORDER BY time DESC LIMIT 1) latest ON true"""
LATEST = "SELECT station_id, time, level_m, quality FROM station_latest"
NAIVE_HYDROGRAPH = """SELECT date_bin(%s, time, TIMESTAMPTZ '2000-01-01') AS time, avg(level_m),
    min(level_m), max(level_m), count(*) FROM readings
    WHERE station_id = %s AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1"""


def generate(conn, *, stations: int, year_stations: int, days: int, end: datetime) -> None:
    """Stations, then readings by ``generate_series`` on the server (a tide and noise),
    then station_latest and reading_rollups filled as migration 0018 back-fills them
    (the trigger, built for batches, is off while 10⁹ rows are written)."""
    conn.execute(
        """INSERT INTO stations (id, name_ja, name_en, river_ja, river_en, latitude, longitude,
                                 mount_height_m, level_min_m, level_max_m, stages)
           SELECT 'b' || lpad(i::text, 5, '0'), '観測所' || i, 'Station ' || i,
                  '川' || i / 20, 'River ' || i / 20,
                  35 + (i %% 200) * 0.01, 135 + (i / 200) * 0.01, 10, 0, 9, %s::jsonb
           FROM generate_series(0, %s - 1) AS i""",
        (STAGES, stations),
    )
    conn.execute("ALTER TABLE readings DISABLE TRIGGER readings_kept_current")
    start = end - timedelta(days=days)
    for i in range(stations):
        since = start if i < year_stations else end - timedelta(days=1)
        conn.execute(
            """INSERT INTO readings (station_id, time, level_m)
               SELECT %s, t, 1.5 + sin(extract(epoch FROM t) / 40000.0) + random() * 0.05
               FROM generate_series(%s::timestamptz, %s::timestamptz, INTERVAL '10 minutes') AS t""",
            (f"b{i:05d}", since, end),
        )
        if i % 500 == 0:
            print(f"  {i:>6} stations generated", file=sys.stderr, flush=True)
    conn.execute("ALTER TABLE readings ENABLE TRIGGER readings_kept_current")
    conn.execute(
        """INSERT INTO station_latest SELECT DISTINCT ON (station_id) station_id, time, level_m, quality
           FROM readings ORDER BY station_id, time DESC"""
    )
    conn.execute(
        """INSERT INTO reading_rollups SELECT station_id, date_bin(INTERVAL '1 hour', time,
           TIMESTAMPTZ '2000-01-01'), min(level_m), max(level_m), sum(level_m), count(*)
           FROM readings GROUP BY 1, 2"""
    )
    # the evaluator's judgement of every station, with its rate (as after its first tick)
    conn.execute(
        """INSERT INTO station_status (station_id, reading_time, level_m, evaluated_at, state)
           SELECT station_id, time, level_m, time, '{"rate_m_h": 0.01}' FROM station_latest"""
    )
    conn.execute("VACUUM ANALYZE")


REVIEW_AREA = "bench-area"


def review_event(conn, *, end: datetime, subscribers: int) -> None:
    """A 3-day event in one area of five stations (b00000–b00004, which must have readings
    for those days): 60 audit entries (the engine's and a person's), 10 messages each
    delivered to ``subscribers`` subscriptions over three channels (with failures and
    duplicates in the log), 20 shelters nearby counted every 10 minutes."""
    start = end - timedelta(days=3)
    ring = [[134.98, 34.98], [135.02, 34.98], [135.02, 35.06], [134.98, 35.06], [134.98, 34.98]]
    conn.execute(
        "INSERT INTO alert_areas (id, name_ja, name_en, geometry) "
        "VALUES (%s, 'ベンチ地区', 'Bench area', %s)",
        (REVIEW_AREA, json.dumps({"type": "Polygon", "coordinates": [ring]})),
    )
    conn.execute(
        "INSERT INTO alert_area_stations SELECT %s, 'b' || lpad(i::text, 5, '0') "
        "FROM generate_series(0, 4) i",
        (REVIEW_AREA,),
    )
    user = conn.execute(
        """INSERT INTO staff_users (username, display_name, role, password_hash)
           VALUES ('bench', 'ベンチ 職員', 'approver', 'x') RETURNING id"""
    ).fetchone()[0]
    alert = conn.execute(
        """INSERT INTO alerts (fingerprint, station_id, kind, area_id, status, state, public, alert_level,
                               areas, details, version, revision, opened_at, updated_at, ended_at)
           VALUES (%s, 'b00000', 'area', %s, 'Actual', 'resolved', true, 4, %s, %s, 10, 5, %s, %s, %s)
           RETURNING id""",
        (
            f"area:{REVIEW_AREA}",
            REVIEW_AREA,
            [REVIEW_AREA],
            json.dumps({"basis": "observed"}),
            start,
            end,
            end,
        ),
    ).fetchone()[0]
    actions = ["proposed", "approved", "issued", "raised", "lowered", "lifted"]
    for k in range(60):
        action = actions[k % len(actions)]
        details = {"evidence": [{"station": "b00000", "basis": "observed", "level": 4, "level_m": 5.1}]}
        conn.execute(
            """INSERT INTO alert_audit (alert_id, at, actor_id, action, from_state, to_state, reason, details)
               VALUES (%s, %s, %s, %s, 'pending', 'active', 'bench', %s)""",
            (
                alert,
                start + timedelta(minutes=70 * k),
                user if action == "approved" else None,
                action,
                json.dumps(details),
            ),
        )
    channels = ["line", "email", "webpush"]
    subscriptions = [uuid.uuid4() for _ in range(subscribers)]
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO subscriptions (id, channel, language, address_sealed, address_digest, areas,
                                          unsubscribe_digest) VALUES (%s, %s, 'ja', %s, %s, %s, %s)""",
            [
                (sid, channels[n % 3], os.urandom(16), uuid.uuid4().hex, [REVIEW_AREA], uuid.uuid4().hex)
                for n, sid in enumerate(subscriptions)
            ],
        )
        for version in range(1, 11):
            at = start + timedelta(hours=6 * version)
            outbox = cur.execute(
                """INSERT INTO alert_outbox (alert_id, version, msg_type, status, public, payload, created_at)
                   VALUES (%s, %s, 'Update', 'Actual', true, '{"alert_level": 4}', %s) RETURNING id""",
                (alert, version, at),
            ).fetchone()[0]
            cur.execute(
                """WITH made AS (
                       INSERT INTO deliveries (outbox_id, subscription_id, alert_id, version, channel, state,
                                               not_before, deadline, done_at, created_at)
                       SELECT %s, s.id, %s, %s, s.channel,
                              CASE WHEN random() < 0.02 THEN 'failed' ELSE 'delivered' END, %s, %s, %s, %s
                       FROM subscriptions s WHERE %s = ANY(s.areas)
                       RETURNING id, subscription_id, channel, state)
                   INSERT INTO notification_log (delivery_id, alert_id, version, subscription_id, channel,
                                                 attempt, outcome, at)
                   SELECT id, %s, %s, subscription_id, channel, a, state, %s
                   FROM made, generate_series(1, CASE WHEN random() < 0.005 THEN 2 ELSE 1 END) a""",
                (
                    outbox,
                    alert,
                    version,
                    at,
                    at + timedelta(hours=1),
                    at + timedelta(minutes=2),
                    at,
                    REVIEW_AREA,
                    alert,
                    version,
                    at + timedelta(minutes=2),
                ),
            )
    for k in range(20):
        conn.execute(
            """INSERT INTO shelters (id, name_ja, name_en, latitude, longitude, capacity, status)
               VALUES (%s, %s, %s, %s, %s, 300, 'open')""",
            (f"bench-shelter-{k}", f"避難所{k}", f"Shelter {k}", 34.99 + k * 0.003, 135.0 + (k % 3) * 0.005),
        )
        conn.execute(
            """INSERT INTO shelter_count_events (id, shelter_id, kind, value, source, recorded_at)
               SELECT gen_random_uuid(), %s, 'delta', 1 + (random() * 3)::int, 'door_counter', t
               FROM generate_series(%s::timestamptz, %s::timestamptz, INTERVAL '10 minutes') t""",
            (f"bench-shelter-{k}", start, end),
        )
    conn.execute("ANALYZE")


def server_ms(conn, sql: str, params: tuple, repeat: int) -> float:
    """The server's execution time (EXPLAIN ANALYZE), without the answer's transfer."""
    samples = []
    for _ in range(repeat + 1):
        plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()[0]
        samples.append(plan[0]["Execution Time"])
    return statistics.median(samples[1:])


def median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm the cache
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def batch_cost(conn, *, stations: int, end: datetime, repeat: int) -> tuple[float, float]:
    """One ingest-sized statement (1,000 readings of 1,000 stations) with the trigger on
    and off: what keeping the two tables current costs ingest."""
    out = []
    for enabled in (True, False):
        switch = "ENABLE" if enabled else "DISABLE"
        conn.execute(f"ALTER TABLE readings {switch} TRIGGER readings_kept_current")
        samples = []
        for k in range(repeat):
            at = end + timedelta(minutes=10 * (k + 1) + (0 if enabled else 5))
            started = time.perf_counter()
            conn.execute(
                """INSERT INTO readings (station_id, time, level_m)
                   SELECT 'b' || lpad(i::text, 5, '0'), %s, 2.0 FROM generate_series(0, %s - 1) AS i""",
                (at, min(stations, 1000)),
            )
            samples.append(time.perf_counter() - started)
        out.append(statistics.median(samples) * 1000)
    conn.execute("ALTER TABLE readings ENABLE TRIGGER readings_kept_current")
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=20_000)
    parser.add_argument("--year-stations", type=int, default=None, help="stations with the whole period")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=10_000, help="of the review's area")
    args = parser.parse_args()
    year_stations = args.stations if args.year_stations is None else min(args.year_stations, args.stations)
    end = datetime(2026, 10, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="kawamori-bench-dashboard-") as folder:
        Path(folder).chmod(0o711)  # the embedded PostgreSQL runs as another user
        pg = PostgresServer(Path(folder) / "pg", settings={"shared_buffers": "512MB"})
        pg.start()
        try:
            url = pg.create_database("bench")
            with db.connect(url) as conn:
                db.migrate(conn)
                started = time.perf_counter()
                generate(conn, stations=args.stations, year_stations=year_stations, days=args.days, end=end)
                readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
                took = time.perf_counter() - started
                print(f"generated {readings:,} readings in {took:.0f} s", file=sys.stderr)
                station = "b00000"
                since = end - timedelta(days=args.days)
                day, hour = timedelta(days=1), timedelta(hours=1)
                rollup = queries.ROLLUP_BUCKETS.format(order="")
                # (label, SQL and parameters for the server's time, or None; what the app runs)
                rows = [
                    (
                        "map latest values (station_latest)",
                        (LATEST, ()),
                        lambda: conn.execute(LATEST).fetchall(),
                    ),
                    (
                        "map latest values, naive LATERAL",
                        (NAIVE_LATEST, ()),
                        lambda: conn.execute(NAIVE_LATEST).fetchall(),
                    ),
                    ("map station list (queries.stations)", None, lambda: queries.stations(conn, now=end)),
                ]
                for label, bucket in (("daily", day), ("hourly", hour)):
                    rows += [
                        (
                            f"station-year hydrograph, {label}, rollups",
                            (rollup, (bucket, station, bucket, since, end, None)),
                            lambda b=bucket: queries.station_readings(
                                conn, station_id=station, since=since, until=end, bucket=b
                            ),
                        ),
                        (
                            f"station-year hydrograph, {label}, naive date_bin",
                            (NAIVE_HYDROGRAPH, (bucket, station, since, end)),
                            lambda b=bucket: conn.execute(
                                NAIVE_HYDROGRAPH, (b, station, since, end)
                            ).fetchall(),
                        ),
                    ]
                print(
                    f"\n{args.stations:,} stations, {year_stations:,} with {args.days} days of 10-minute "
                    f"readings ({readings:,} readings); medians of {args.repeat}\n"
                )
                print(f"| {'query':<48} | server ms | client ms |\n|{'-' * 50}|-----------|-----------|")
                for label, server, run in rows:
                    on_server = f"{server_ms(conn, *server, args.repeat):9.2f}" if server else " " * 9
                    print(f"| {label:<48} | {on_server} | {median_ms(run, args.repeat):9.2f} |")
                with_trigger, without = batch_cost(conn, stations=args.stations, end=end, repeat=args.repeat)
                review_event(conn, end=end, subscribers=args.subscribers)
                three_days = {"area_ids": [REVIEW_AREA], "since": end - timedelta(days=3), "until": end}
                event = review.load(conn, **three_days)
                what = f"after-action review, one area, 3 days ({len(event.entries)} lines)"
                ms = median_ms(lambda: review.load(conn, **three_days), args.repeat)
                print(f"| {what:<48} | {'':9} | {ms:9.2f} |")
                for label, ms in (("on", with_trigger), ("off", without)):
                    what = f"ingest statement of 1,000 readings, trigger {label}"
                    print(f"| {what:<48} | {'':9} | {ms:9.2f} |")
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
