"""PostgreSQL access shared by every component: connections, migrations and the
notification channel ingest uses to wake the alert evaluator.

Migrations are versioned SQL files in ``kawamori/migrations`` (``NNNN_name.sql``).
:func:`migrate` applies the missing ones in order, each in its own transaction,
under an advisory lock so concurrent starters do not race; applying them again
does nothing. An applied migration whose file has since changed is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from kawamori import contract

READINGS_CHANNEL = "kawamori_readings"
ALERTS_CHANNEL = "kawamori_alerts"  # payload: the id of an alert that changed
DEVICES_CHANNEL = "kawamori_devices"  # a device or station changed (ingest's registry)
_MIGRATION_LOCK = 0x6B61_7761  # "kawa"
_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files("kawamori.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def connect(url: str, *, application_name: str = "kawamori", **kwargs) -> psycopg.Connection:
    """A connection in autocommit mode: atomic work goes in explicit
    ``with conn.transaction():`` blocks, so nothing is left in an open transaction."""
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(url, application_name=application_name, **kwargs)


def migrate(conn: psycopg.Connection, *, upto: int | None = None) -> list[int]:
    """Apply missing migrations (up to ``upto``); return the versions applied."""
    applied_now: list[int] = []
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
    try:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version     integer PRIMARY KEY,
                   name        text NOT NULL,
                   checksum    text NOT NULL,
                   applied_at  timestamptz NOT NULL DEFAULT now())"""
        )
        done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        for migration in migrations():
            if upto is not None and migration.version > upto:
                break
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed after "
                        "it was applied; add a new migration instead"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            applied_now.append(migration.version)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied_now


def timescale_enabled(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None


def apply_timescale_policies(
    conn: psycopg.Connection, *, compress_after_days: int, retain_years: int
) -> bool:
    """Set compression and retention policies on ``readings`` when TimescaleDB is
    in use; idempotent. Returns whether TimescaleDB is in use."""
    if not timescale_enabled(conn):
        return False
    with conn.transaction():
        conn.execute("SELECT remove_compression_policy('readings', if_exists => true)")
        conn.execute(
            "SELECT add_compression_policy('readings', make_interval(days => %s))",
            (compress_after_days,),
        )
        conn.execute("SELECT remove_retention_policy('readings', if_exists => true)")
        conn.execute(
            "SELECT add_retention_policy('readings', make_interval(years => %s))",
            (retain_years,),
        )
    return True


def insert_dead_letters(cur: psycopg.Cursor, rows: list[tuple]) -> None:
    """Record rejected input: rows of (received_at, topic, device_id, reason, detail,
    payload, payload_size); payloads are cut to 4 KiB, their real size is kept."""
    cur.executemany(
        """INSERT INTO dead_letters (received_at, topic, device_id, reason, detail, payload, payload_size)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        [
            (
                at,
                topic[:256],
                device,
                reason,
                detail[:500],
                payload[: contract.DEAD_LETTER_PAYLOAD_LIMIT],
                size,
            )
            for at, topic, device, reason, detail, payload, size in rows
        ],
    )
