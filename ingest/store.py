"""Ingest's PostgreSQL side: the device registry and writing a planned batch in one
transaction (COPY into a staging table, then deduplicating insert)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from ingest.plan import DeadLetter, DeviceInfo, Plan
from kawamori.contract import DEAD_LETTER_PAYLOAD_LIMIT, Reason
from kawamori.db import READINGS_CHANNEL, insert_dead_letters

_INCOMING_TYPES = [
    "int4",
    "text",
    "timestamptz",
    "float8",
    "text",
    "int8",
    "float8",
    "float4",
    "int2",
    "int4",
    "timestamptz",
]
_NOTIFY_CHUNK = 200  # station ids per NOTIFY payload (well under PostgreSQL's 8000 bytes)


def load_devices(conn: psycopg.Connection) -> dict[str, DeviceInfo]:
    rows = conn.execute(
        """SELECT d.id, d.station_id, d.installed_at, d.retired_at IS NOT NULL,
                  coalesce(s.level_min_m, 'NaN'), coalesce(s.level_max_m, 'NaN')
           FROM devices d LEFT JOIN stations s ON s.id = d.station_id"""
    ).fetchall()
    return {row[0]: DeviceInfo(*row[1:]) for row in rows}


EXTRA_KEYS = 32  # of a status's other keys kept in device_status.extra
EXTRA_TEXT = 200  # characters of each text value


def status_extra(extra: dict) -> dict:
    """The keys of a status message beyond the fixed columns, as stored: scalars only,
    text cut to EXTRA_TEXT, at most EXTRA_KEYS (a device's words, bounded)."""
    kept: dict = {}
    for key, value in extra.items():
        if len(kept) >= EXTRA_KEYS or not isinstance(key, str) or len(key) > 40:
            break
        if isinstance(value, str):
            kept[key] = value.replace("\x00", "")[:EXTRA_TEXT]
        elif (
            value is None
            or isinstance(value, (bool, int))
            or (isinstance(value, float) and math.isfinite(value))
        ):
            kept[key] = value
    return kept


def load_dev_euis(conn: psycopg.Connection) -> dict[str, str]:
    """LoRaWAN DevEUI → device id (migration 0019)."""
    return dict(conn.execute("SELECT dev_eui, device_id FROM lorawan_devices").fetchall())


@dataclass(frozen=True, slots=True)
class Written:
    stored: int
    duplicates: int
    dead_letters: int
    stations: tuple[str, ...]
    watermarks: dict[str, int]
    rejected: tuple[DeadLetter, ...] = ()  # what went to dead_letters, with reasons


def write_plan(conn: psycopg.Connection, plan: Plan) -> Written:
    """Write everything in ``plan`` in one transaction. Readings already stored (same
    station and time, or same device, sequence number and time) are counted, not stored;
    a sequence number already stored with another time becomes a dead letter."""
    stored = 0
    stations: list[str] = []
    watermarks: dict[str, int] = {}
    dead_letters = list(plan.dead_letters)
    reused: list = []
    with conn.transaction(), conn.cursor() as cur:
        if plan.readings:
            cur.execute(
                """CREATE TEMP TABLE IF NOT EXISTS incoming (
                       n integer, station_id text, time timestamptz, level_m double precision, device_id text,
                       seq bigint, distance_m double precision, battery_v real, rssi_dbm smallint,
                       quality integer, received_at timestamptz) ON COMMIT DELETE ROWS"""
            )
            with cur.copy(
                "COPY incoming (n, station_id, time, level_m, device_id, seq, distance_m, battery_v,"
                " rssi_dbm, quality, received_at) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(_INCOMING_TYPES)
                write_row = copy.write_row
                for n, row in enumerate(plan.readings):  # ReadingRow is a tuple in this column order
                    write_row((n, *row))
            # A seq already stored with the same time is a duplicate (a redelivery); with
            # another time it is a dead letter. The unique indexes on (station, time) and
            # (device, seq) settle races with other workers: ON CONFLICT DO NOTHING.
            cur.execute(
                """WITH checked AS MATERIALIZED (
                       -- a per-row index probe, never an anti join: the planner knows
                       -- nothing of the staging table and chose to hash all of `readings`
                       -- for every batch, slower as the table grew (bench/README.md, ingest)
                       SELECT i.*, (SELECT r.time FROM readings r
                                    WHERE r.device_id = i.device_id AND r.seq = i.seq LIMIT 1) AS stored
                       FROM incoming i),
                   fresh AS (
                       SELECT DISTINCT ON (station_id, time) *
                       FROM checked WHERE stored IS NULL
                       ORDER BY station_id, time, seq),
                   inserted AS (
                       INSERT INTO readings (station_id, time, level_m, device_id, seq, distance_m,
                                             battery_v, rssi_dbm, quality, received_at)
                       SELECT station_id, time, level_m, device_id, seq, distance_m, battery_v,
                              rssi_dbm, quality, received_at
                       FROM fresh
                       ON CONFLICT DO NOTHING
                       RETURNING station_id)
                   SELECT station_id, count(*), NULL::int4, NULL::timestamptz
                   FROM inserted GROUP BY station_id
                   UNION ALL
                   SELECT NULL, 0, n, stored FROM checked WHERE stored <> time"""
            )
            outcome = cur.fetchall()
            per_station = [(station, count) for station, count, _, _ in outcome if station is not None]
            reused = [(n, first) for station, _, n, first in outcome if station is None]
            stored = sum(count for _, count in per_station)
            stations = sorted(station for station, _ in per_station)
            for n, first in reused:
                row, source = plan.readings[n], plan.sources[n]
                dead_letters.append(
                    DeadLetter(
                        topic=source.topic[:256],
                        device_id=row.device_id,
                        reason=Reason.seq_reused,
                        detail=f"seq {row.seq} is stored with time {first.isoformat()}; "
                        f"this copy says {row.time.isoformat()}",
                        payload=source.payload[:DEAD_LETTER_PAYLOAD_LIMIT],
                        payload_size=len(source.payload),
                        received_at=source.received_at,
                    )
                )
            cur.execute(
                """INSERT INTO device_status (device_id, last_seen, last_seq, updated_at)
                   SELECT device_id, max(received_at), max(seq), now() FROM incoming GROUP BY device_id
                   ON CONFLICT (device_id) DO UPDATE SET
                       last_seen = greatest(device_status.last_seen, EXCLUDED.last_seen),
                       last_seq = greatest(device_status.last_seq, EXCLUDED.last_seq),
                       updated_at = now()"""
            )
        if plan.watermarks:  # one statement for all devices of the batch
            cur.execute(
                """INSERT INTO device_status (device_id, last_seq)
                   SELECT * FROM unnest(%s::text[], %s::bigint[])
                   ON CONFLICT (device_id) DO UPDATE
                   SET last_seq = greatest(device_status.last_seq, EXCLUDED.last_seq)
                   RETURNING device_id, last_seq""",
                (list(plan.watermarks), list(plan.watermarks.values())),
            )
            watermarks = dict(cur.fetchall())
        for update in plan.statuses:
            s = update.status
            cur.execute(
                """INSERT INTO device_status (device_id, online, last_seen, firmware, battery_v, rssi_dbm,
                                              uptime_s, buffered, dropped, config_version, extra, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
                   ON CONFLICT (device_id) DO UPDATE SET
                       online = EXCLUDED.online,
                       last_seen = greatest(device_status.last_seen, EXCLUDED.last_seen),
                       firmware = coalesce(EXCLUDED.firmware, device_status.firmware),
                       battery_v = coalesce(EXCLUDED.battery_v, device_status.battery_v),
                       rssi_dbm = coalesce(EXCLUDED.rssi_dbm, device_status.rssi_dbm),
                       uptime_s = coalesce(EXCLUDED.uptime_s, device_status.uptime_s),
                       buffered = coalesce(EXCLUDED.buffered, device_status.buffered),
                       dropped = coalesce(EXCLUDED.dropped, device_status.dropped),
                       config_version = coalesce(EXCLUDED.config_version, device_status.config_version),
                       extra = CASE WHEN EXCLUDED.extra = '{}' THEN device_status.extra
                                    ELSE EXCLUDED.extra END,
                       updated_at = now()""",
                (
                    update.device_id,
                    s.online,
                    update.received_at if s.online else None,
                    s.firmware,
                    s.battery_v,
                    s.rssi_dbm,
                    s.uptime_s,
                    s.buffered,
                    s.dropped,
                    s.config_version,
                    Jsonb(status_extra(s.extra)),
                ),
            )
        if dead_letters:
            insert_dead_letters(
                cur,
                [
                    (d.received_at, d.topic, d.device_id, d.reason.value, d.detail, d.payload, d.payload_size)
                    for d in dead_letters
                ],
            )
        for start in range(0, len(stations), _NOTIFY_CHUNK):
            cur.execute(
                "SELECT pg_notify(%s, %s)",
                (READINGS_CHANNEL, ",".join(stations[start : start + _NOTIFY_CHUNK])),
            )
    return Written(
        stored=stored,
        duplicates=len(plan.readings) - stored - len(reused) + plan.duplicates,
        dead_letters=len(dead_letters),
        stations=tuple(stations),
        watermarks=watermarks,
        rejected=tuple(dead_letters),
    )
