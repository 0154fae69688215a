"""Migrations against a real PostgreSQL: from empty, from the previous version,
idempotent, edited-migration refusal, and queries that must work on plain
PostgreSQL as on TimescaleDB."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from kawamori import db
from kawamori.network import apply_network


def tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


EXPECTED_TABLES = {"schema_migrations"}.union(
    *(re.findall(r"CREATE TABLE (\w+)", m.sql) for m in db.migrations())
)


def test_migrate_from_empty_creates_every_table(empty_database_url):
    with db.connect(empty_database_url) as conn:
        applied = db.migrate(conn)
        assert applied == [m.version for m in db.migrations()]
        assert tables(conn) == EXPECTED_TABLES


def test_migrate_is_idempotent(empty_database_url):
    with db.connect(empty_database_url) as conn:
        db.migrate(conn)
        assert db.migrate(conn) == []


@pytest.mark.parametrize("previous", [m.version for m in db.migrations()][:-1])
def test_migrate_from_each_previous_version(empty_database_url, previous):
    with db.connect(empty_database_url) as conn:
        assert db.migrate(conn, upto=previous)[-1] == previous
        rest = db.migrate(conn)
        assert rest == [m.version for m in db.migrations() if m.version > previous]
        assert tables(conn) == EXPECTED_TABLES


def test_changed_migration_is_refused(empty_database_url):
    with db.connect(empty_database_url) as conn:
        db.migrate(conn)
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(db.MigrationError, match="was changed after it was applied"):
            db.migrate(conn)


def test_migration_files_are_numbered_uniquely_from_one():
    versions = [m.version for m in db.migrations()]
    assert versions[0] == 1 and versions == sorted(set(versions))


def test_plain_postgresql_reports_no_timescale(database_url):
    with db.connect(database_url) as conn:
        if db.timescale_enabled(conn):  # pragma: no cover - only where the extension exists
            assert db.apply_timescale_policies(conn, compress_after_days=7, retain_years=10)
        else:
            assert not db.apply_timescale_policies(conn, compress_after_days=7, retain_years=10)


def test_readings_are_unique_per_station_and_time(demo_db):
    now = datetime.now(UTC)
    with db.connect(demo_db) as conn:
        conn.execute(
            "INSERT INTO readings (station_id, time, level_m) VALUES ('kyoden-chiwara', %s, 9.0)", (now,)
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO readings (station_id, time, level_m) VALUES ('kyoden-chiwara', %s, 9.1)", (now,)
            )


def test_date_bin_buckets_work(demo_db):
    start = datetime(2026, 9, 1, tzinfo=UTC)
    with db.connect(demo_db) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (station_id, time, level_m) VALUES ('kyoden-chiwara', %s, %s)",
                [(start + timedelta(minutes=m), 9.0 + m / 100) for m in range(60)],
            )
        rows = conn.execute(
            """SELECT date_bin('10 minutes', time, TIMESTAMPTZ '2000-01-01') b, count(*)
               FROM readings GROUP BY b ORDER BY b"""
        ).fetchall()
    assert [n for _, n in rows] == [10] * 6


def test_database_checks_reject_impossible_rows(database_url):
    with db.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            """INSERT INTO stations (id, name_ja, name_en, river_ja, river_en, latitude, longitude,
                   mount_height_m, level_min_m, level_max_m)
               VALUES ('x', 'x', 'x', 'x', 'x', 95, 0, 10, 0, 5)"""
        )


def test_replacing_a_device_keeps_the_station_history(demo_db, demo_network):
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    with db.connect(demo_db) as conn:
        conn.execute(
            """INSERT INTO readings (station_id, time, level_m, device_id, seq)
               VALUES ('kyoden-chiwara', %s, 9.0, 'kw-demo-01', 1)""",
            (t0,),
        )
        replaced = demo_network.model_copy(
            update={
                "devices": (
                    *demo_network.devices[1:],
                    demo_network.devices[0].model_copy(update={"id": "kw-demo-01b"}),
                )
            }
        )
        apply_network(conn, replaced)
        conn.execute("UPDATE devices SET retired_at = now() WHERE id = 'kw-demo-01'")
        conn.execute(
            """INSERT INTO readings (station_id, time, level_m, device_id, seq)
               VALUES ('kyoden-chiwara', %s, 9.1, 'kw-demo-01b', 1)""",
            (t0 + timedelta(minutes=5),),
        )
        history = conn.execute(
            "SELECT device_id FROM readings WHERE station_id = 'kyoden-chiwara' ORDER BY time"
        ).fetchall()
    assert [d for (d,) in history] == ["kw-demo-01", "kw-demo-01b"]
