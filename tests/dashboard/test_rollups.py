"""Migration 0018 against a real PostgreSQL: the newest reading per station and the
hourly rollups kept by the database as readings are stored, whoever stores them; the
hydrograph from rollups equals the same buckets computed from the raw readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import queries
from kawamori import db

STATION = "kyoden-chiwara"
ORIGIN = datetime(2026, 9, 1, tzinfo=UTC)


def insert(conn: psycopg.Connection, rows: list[tuple[datetime, float]], *, station: str = STATION) -> None:
    with conn.cursor() as cur:  # one statement per batch, as ingest stores them
        cur.execute(
            "INSERT INTO readings (station_id, time, level_m) SELECT %s, t, l FROM unnest(%s::timestamptz[], "
            "%s::float8[]) AS x(t, l) ON CONFLICT DO NOTHING",
            (station, [t for t, _ in rows], [level for _, level in rows]),
        )


def latest(conn: psycopg.Connection, station: str = STATION):
    query = "SELECT time, level_m FROM station_latest WHERE station_id = %s"
    return conn.execute(query, (station,)).fetchone()


def test_latest_follows_the_newest_reading_and_ignores_late_ones(demo_db):
    with db.connect(demo_db) as conn:
        assert latest(conn) is None
        insert(conn, [(ORIGIN, 1.0), (ORIGIN + timedelta(minutes=10), 1.2)])
        assert latest(conn) == (ORIGIN + timedelta(minutes=10), 1.2)
        insert(conn, [(ORIGIN + timedelta(minutes=5), 9.0)])  # late: older than the newest
        assert latest(conn) == (ORIGIN + timedelta(minutes=10), 1.2)
        insert(conn, [(ORIGIN, 5.0)])  # a duplicate (station, time): not stored, changes nothing
        rollup = conn.execute("SELECT n, max_m FROM reading_rollups WHERE station_id = %s", (STATION,))
        assert rollup.fetchone() == (3, 9.0)


def test_the_dashboard_cannot_write_what_the_triggers_keep(demo_db):
    with db.connect(demo_db) as conn:
        for table in ("station_latest", "reading_rollups"):
            allowed = conn.execute(
                "SELECT has_table_privilege('kawamori_dashboard', %s, 'INSERT'), "
                "has_table_privilege('kawamori_dashboard', %s, 'SELECT')",
                (table, table),
            ).fetchone()
            assert allowed == (False, True)


def test_a_one_reading_peak_survives_a_year_of_rollups(demo_db):
    now = ORIGIN + timedelta(days=365)
    with db.connect(demo_db) as conn:
        readings = [(ORIGIN + timedelta(minutes=10 * i), 2.0) for i in range(365 * 144)]
        peak = ORIGIN + timedelta(days=200, minutes=30)
        readings[200 * 144 + 3] = (peak, 15.05)
        insert(conn, readings)
        days = queries.station_readings(
            conn, station_id=STATION, since=now - timedelta(days=365), until=now, bucket=timedelta(days=1)
        )
    assert len(days) == 365 and sum(d["n"] for d in days) == len(readings)
    top = max(days, key=lambda d: d["max_m"])
    assert top["max_m"] == 15.05 and top["time"] == datetime(2027, 3, 20, tzinfo=UTC)
    assert top["level_m"] < 2.1  # the mean hides it; the envelope does not


levels = st.floats(min_value=-5, max_value=30, allow_nan=False).map(lambda v: round(v, 3))
batches = st.lists(
    st.lists(st.tuples(st.integers(min_value=0, max_value=72 * 60), levels), min_size=1, max_size=40),
    min_size=1,
    max_size=5,
)


@pytest.mark.parametrize("hours", [1, 3, 24])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches)
def test_rollups_equal_buckets_of_the_raw_readings(demo_db, hours, batches):
    bucket = timedelta(hours=hours)
    since, until = ORIGIN, ORIGIN + timedelta(hours=73)
    with db.connect(demo_db) as conn:
        conn.execute("DELETE FROM readings; DELETE FROM reading_rollups; DELETE FROM station_latest")
        for batch in batches:  # batches arrive in any order, late readings included
            insert(conn, [(ORIGIN + timedelta(minutes=m), level) for m, level in batch])
        raw = conn.execute(
            """SELECT date_bin(%s, time, TIMESTAMPTZ '2000-01-01'), avg(level_m), min(level_m), max(level_m),
                      count(*) FROM readings WHERE station_id = %s GROUP BY 1 ORDER BY 1""",
            (bucket, STATION),
        ).fetchall()
        rolled = queries.station_readings(conn, station_id=STATION, since=since, until=until, bucket=bucket)
        newest = conn.execute("SELECT max(time) FROM readings").fetchone()[0]
        assert latest(conn)[0] == newest
    expected = [(t, lo, hi, n) for t, _, lo, hi, n in raw]
    assert [(r["time"], r["min_m"], r["max_m"], r["n"]) for r in rolled] == expected
    assert all(r["level_m"] == pytest.approx(mean) for r, (_, mean, *_) in zip(rolled, raw, strict=True))
