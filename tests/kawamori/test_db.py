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


# reading_seqs enforces one reading per (device, seq) on a TimescaleDB hypertable only
TIMESCALE_ONLY = {"reading_seqs"}
EXPECTED_TABLES = {"schema_migrations"}.union(
    *(re.findall(r"CREATE TABLE (\w+)", m.sql) for m in db.migrations())
) - TIMESCALE_ONLY


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


def test_migration_10_turns_public_station_alerts_into_area_issuances(empty_database_url, demo_network):
    """Alerts open when 0010 is applied: a public stage or forecast alert becomes its
    area's issuance (id, versions and CAP references kept), a second one in the same
    area is merged into it, one awaiting approval is withdrawn (nothing was public)."""
    from alerts import store
    from alerts.model import Condition, Kind
    from alerts.policy import ApprovalPolicy

    t0 = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)
    with db.connect(empty_database_url) as conn:
        db.migrate(conn, upto=9)
        apply_network(conn, demo_network)
        conn.execute("UPDATE stations SET alert_status = 'Exercise' WHERE id = 'kyoden-chiwara'")

        def old_alert(station, kind, state, level, areas, *, status="Actual", version=1):
            alert_id = conn.execute(
                """INSERT INTO alerts (fingerprint, station_id, kind, status, state, public, alert_level,
                                       stage_key, areas, details, version, opened_at, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, 'danger', %s, '{"level_m": 7.9}', %s, %s, %s)
                   RETURNING id""",
                (
                    f"{station}:{kind}",
                    station,
                    kind,
                    status,
                    state,
                    status == "Actual",
                    level,
                    areas,
                    version,
                    t0,
                    t0,
                ),
            ).fetchone()[0]
            for v in range(1, version + 1):
                conn.execute(
                    """INSERT INTO alert_outbox
                           (alert_id, version, msg_type, status, public, payload, created_at)
                       VALUES (%s, %s, 'Alert', %s, %s, '{}', %s)""",
                    (alert_id, v, status, status == "Actual", t0),
                )
            return alert_id

        kept = old_alert("kyoden-jumonji", "stage", "active", 4, ["area-kyoden-lower"], version=2)
        merged = old_alert("kyoden-kanehiro", "forecast", "active", 2, ["area-kyoden-lower"])
        pending = old_alert("fujishima-tomizawa", "forecast", "pending", 4, ["area-fujishima"], version=0)
        drill = old_alert("kyoden-chiwara", "stage", "active", 2, ["area-kyoden-upper"], status="Exercise")

        db.migrate(conn)
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT id, kind, fingerprint, area_id, state, alert_level, version FROM alerts"
            ).fetchall()
        }
        assert rows[kept] == ("area", "area:area-kyoden-lower", "area-kyoden-lower", "active", 4, 2)
        assert rows[merged][0] == "forecast" and rows[merged][3] == "resolved"
        assert rows[pending][3] == "withdrawn"
        assert rows[drill][:4] == ("area", "area:area-kyoden-upper:Exercise", "area-kyoden-upper", "active")
        actions = dict(conn.execute("SELECT alert_id, action FROM alert_audit").fetchall())
        assert actions == {kept: "changed", merged: "superseded", pending: "withdrawn", drill: "changed"}

        # the evaluator carries the converted issuance on: same level, nothing new sent;
        # the water falls, and lifting level 4 is proposed to staff, with nothing public
        stage4 = Condition("kyoden-jumonji", Kind.stage, 4, "danger", details={"level_m": 7.9})
        policy = ApprovalPolicy()
        store.apply_many(conn, conditions={"kyoden-jumonji": [stage4]}, now=t0, policy=policy)
        store.apply_many(conn, conditions={"kyoden-jumonji": []}, now=t0 + timedelta(hours=1), policy=policy)
        assert conn.execute(
            "SELECT state, alert_level, proposal, pending_level FROM alerts WHERE id = %s", (kept,)
        ).fetchone() == ("active", 4, "lift", 0)
        assert conn.execute("SELECT count(*) FROM alert_outbox WHERE alert_id = %s", (kept,)).fetchone() == (
            2,
        )
