"""Registering a firmware fleet: ``count`` stations copied from the network's own
(``fleet-00001`` … a copy of the first station, the next of the second, …), one
device each (``fleet-00001-g``) installed before the fleet's first reading, and a
broker account per device."""

from __future__ import annotations

from datetime import datetime

import psycopg

from kawamori.broker_auth import Accounts
from simulator.firmware_fleet import DeviceSpec, normal_level


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
    mounts = {
        station: (round(mount * 1000), round(low * 1000))
        for station, mount, low in conn.execute(
            "SELECT id, mount_height_m, level_min_m FROM stations WHERE id LIKE %s", (f"{prefix}-%",)
        ).fetchall()
    }
    return [
        DeviceSpec(
            device,
            passwords[device],
            mounts[station][0],
            normal_level(mounts[station][0], mounts[station][1], seed=device),
        )
        for station, device in ids
    ]
