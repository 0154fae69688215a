"""Issue 20, finding 5: every service connected to PostgreSQL as a superuser, the
public dashboard included. Now each logs in as its own role (migration 0013), which
owns nothing and writes only what its service owns — shown against the real server."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from alerts.service import evaluate
from kawamori import contract, db, roles
from simulator.mqtt import Connection
from tests.helpers import running_ingest, wait_for


@pytest.fixture
def urls(demo_db):
    passwords = {service: f"{service}-password-for-tests" for service in roles.SERVICES}
    with db.connect(demo_db) as conn:
        roles.set_passwords(conn, passwords)
    return {service: roles.url_as(demo_db, service, password) for service, password in passwords.items()}


@pytest.mark.parametrize("service", roles.SERVICES)
def test_5_no_service_is_a_superuser_or_can_change_the_schema(urls, service):
    with db.connect(urls[service]) as conn:
        superuser, createrole, createdb = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert not (superuser or createrole or createdb)
        for statement in (
            "CREATE TABLE intruder (x int)",
            "DROP TABLE readings",
            "ALTER TABLE readings ADD COLUMN x int",
            "COPY readings TO PROGRAM 'true'",  # a superuser's way to the server's shell
            "DELETE FROM schema_migrations",
            "TRUNCATE readings",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


@pytest.mark.parametrize(
    ("service", "statement"),
    [
        ("dashboard", "INSERT INTO readings (station_id, time, level_m) VALUES ('kyoden-chiwara', now(), 1)"),
        ("dashboard", "DELETE FROM dead_letters"),
        ("dashboard", "UPDATE device_status SET online = false"),
        ("ingest", "UPDATE alerts SET state = 'resolved'"),
        ("ingest", "DELETE FROM staff_users"),
        ("alerts", "INSERT INTO readings (station_id, time, level_m) VALUES ('kyoden-chiwara', now(), 1)"),
        ("alerts", "UPDATE staff_users SET role = 'admin'"),
        ("notify", "UPDATE staff_users SET role = 'admin'"),
        ("shelters", "DELETE FROM readings"),
    ],
)
def test_5_each_service_writes_only_what_it_owns(urls, service, statement):
    with db.connect(urls[service]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_5_ingest_and_the_evaluator_do_their_job_with_their_own_roles(urls, broker):
    password = broker.accounts.ensure("kw-demo-01")
    broker.reload()
    with running_ingest(urls["ingest"], broker, "kawamori-ingest-roles"):
        board = Connection(f"mqtt://kw-demo-01:{password}@127.0.0.1:{broker.port}", "kw-demo-01")
        board.start()
        try:
            item = contract.encode_reading(seq=1, time=datetime.now(UTC), level_m=9.0)
            batch = contract.encode_batch([item])
            board.publish(contract.topic("kw-demo-01", "reading"), batch, wait_s=5)
        finally:
            board.stop()
        with db.connect(urls["ingest"]) as conn:
            wait_for(lambda: conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 1)
    with db.connect(urls["alerts"]) as conn:
        assert evaluate(conn, now=datetime.now(UTC))
        assert conn.execute("SELECT count(*) FROM station_status").fetchone()[0] > 0
