"""Registering a firmware fleet: ``count`` stations copied from the network's own
(``fleet-00001`` … a copy of the first station, the next of the second, …), one
device each (``fleet-00001-g``) installed before the fleet's first reading, and a
broker account per device. Each gauge sees its station's quiet level
(:func:`simulator.hydrograph.base_level`, below the first stage: a fleet raises no
alert)."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from kawamori.broker_auth import Accounts
from kawamori.model import Station
from simulator.firmware_fleet import DeviceSpec, normal_level
from simulator.hydrograph import base_level


def fleet_ids(count: int, prefix: str = "fleet") -> list[tuple[str, str]]:
    """``(station id, device id)`` for each member of the fleet."""
    return [(f"{prefix}-{n:05d}", f"{prefix}-{n:05d}-g") for n in range(1, count + 1)]


def register_fleet(
    conn: psycopg.Connection,
    accounts: Accounts,
    count: int,
    *,
    installed_at: datetime,
    prefix: str = "fleet",
) -> list[DeviceSpec]:
    """Stations, devices and broker accounts for a fleet of ``count`` (idempotent)."""
    templates = conn.execute(
        "SELECT id, mount_height_m, level_min_m FROM stations WHERE id NOT LIKE %s ORDER BY id",
        (f"{prefix}-%",),
    ).fetchall()
    if not templates:
        raise ValueError("no stations to copy: load a network first (`kawamori network load FILE`)")
    ids = fleet_ids(count, prefix)
    with conn.transaction(), conn.cursor() as cur:
        rows = [(station, templates[n % len(templates)][0], n) for n, (station, _) in enumerate(ids)]
        cur.executemany(
            """INSERT INTO stations (id, name_ja, name_en, river_ja, river_en, latitude, longitude,
                   datum_elevation_m, mount_height_m, level_min_m, level_max_m, stages, alert_rules)
               SELECT %s, name_ja || ' #' || %s, name_en || ' #' || %s, river_ja, river_en,
                   latitude, longitude, datum_elevation_m, mount_height_m, level_min_m, level_max_m,
                   stages, alert_rules
               FROM stations WHERE id = %s
               ON CONFLICT (id) DO NOTHING""",
            [(station, str(n + 1), str(n + 1), template) for station, template, n in rows],
        )
        cur.executemany(
            """INSERT INTO devices (id, station_id, note, installed_at) VALUES (%s, %s, 'simulated', %s)
               ON CONFLICT (id) DO UPDATE SET retired_at = NULL,
                   installed_at = LEAST(devices.installed_at, EXCLUDED.installed_at)""",
            [(device, station, installed_at) for station, device in ids],
        )
    passwords = accounts.ensure_many([device for _, device in ids])
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT id, name_ja, name_en, river_ja, river_en, latitude, longitude, mount_height_m,
                      level_min_m, level_max_m, stages FROM stations WHERE id LIKE %s""",
            (f"{prefix}-%",),
        ).fetchall()
    stations = {row["id"]: Station.model_validate(row) for row in rows}
    specs = []
    for station_id, device in ids:
        station = stations[station_id]
        base_mm = round(base_level(station) * 1000)
        specs.append(
            DeviceSpec(
                device,
                passwords[device],
                round(station.mount_height_m * 1000),
                normal_level(base_mm, seed=device),
            )
        )
    return specs
