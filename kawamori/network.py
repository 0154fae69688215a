"""A monitoring network as a file: stations with their stages, devices, shelters and
alert areas. ``kawamori network load FILE`` applies one to the database; applying
the same file again leaves the same state (upserts; nothing is deleted).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from kawamori.model import AlertArea, Device, Shelter, Station

DEMO_NETWORK = Path(__file__).parent / "demo" / "network.yaml"
DEMO_RULES = Path(__file__).parent / "demo" / "rules.yaml"  # the demo runs hours in minutes


class NetworkError(ValueError):
    pass


class Network(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    stations: tuple[Station, ...] = ()
    devices: tuple[Device, ...] = ()
    shelters: tuple[Shelter, ...] = ()
    areas: tuple[AlertArea, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> Network:
        station_ids = {s.id for s in self.stations}
        for kind, items in (
            ("station", self.stations),
            ("device", self.devices),
            ("shelter", self.shelters),
            ("area", self.areas),
        ):
            ids = [item.id for item in items]
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} ids: {', '.join(duplicates)}")
        for station in self.stations:
            if station.downstream_id and station.downstream_id not in station_ids:
                raise ValueError(f"station {station.id}: unknown downstream station {station.downstream_id}")
        for device in self.devices:
            if device.station_id and device.station_id not in station_ids:
                raise ValueError(f"device {device.id}: unknown station {device.station_id}")
        for area in self.areas:
            unknown = set(area.station_ids) - station_ids
            if unknown:
                raise ValueError(f"area {area.id}: unknown stations {', '.join(sorted(unknown))}")
        return self


def read_network(path: Path, *, check_rules: Callable[[dict[str, Any]], object] | None = None) -> Network:
    """Parse and validate a network file, with errors that name the place. ``check_rules``
    (the alert engine's, passed by whoever wires it in) is called with each station's
    ``alert_rules`` and raises ``ValueError`` when they are not valid."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise NetworkError(f"{path}: {error}") from None
    try:
        network = Network.model_validate(document or {})
    except ValidationError as error:
        lines = [f"{path}: {error.error_count()} problem(s)"]
        for problem in error.errors():
            place = ".".join(str(part) for part in problem["loc"])
            lines.append(f"  {place}: {problem['msg']}")
        raise NetworkError("\n".join(lines)) from None
    for index, station in enumerate(network.stations):
        if check_rules is None or not station.alert_rules:
            continue
        try:
            check_rules(station.alert_rules)
        except ValueError as error:
            raise NetworkError(f"{path}: stations.{index}.alert_rules ({station.id}): {error}") from None
    return network


def apply_network(conn: psycopg.Connection, network: Network) -> dict[str, int]:
    """Upsert everything in ``network`` in one transaction; returns counts."""
    with conn.transaction(), conn.cursor() as cur:
        for s in network.stations:
            cur.execute(
                """INSERT INTO stations (id, name_ja, name_en, river_ja, river_en, latitude, longitude,
                       datum_elevation_m, mount_height_m, level_min_m, level_max_m, stages, downstream_id,
                       alert_rules)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET
                       name_ja = EXCLUDED.name_ja, name_en = EXCLUDED.name_en,
                       river_ja = EXCLUDED.river_ja, river_en = EXCLUDED.river_en,
                       latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
                       datum_elevation_m = EXCLUDED.datum_elevation_m,
                       mount_height_m = EXCLUDED.mount_height_m,
                       level_min_m = EXCLUDED.level_min_m, level_max_m = EXCLUDED.level_max_m,
                       stages = EXCLUDED.stages, downstream_id = EXCLUDED.downstream_id,
                       alert_rules = EXCLUDED.alert_rules, updated_at = now()""",
                (
                    s.id,
                    s.name_ja,
                    s.name_en,
                    s.river_ja,
                    s.river_en,
                    s.latitude,
                    s.longitude,
                    s.datum_elevation_m,
                    s.mount_height_m,
                    s.level_min_m,
                    s.level_max_m,
                    Jsonb([stage.model_dump() for stage in s.stages]),
                    s.downstream_id,
                    Jsonb(s.alert_rules),
                ),
            )
        for d in network.devices:
            cur.execute(
                """INSERT INTO devices (id, station_id, note) VALUES (%s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET
                       installed_at = CASE WHEN devices.station_id IS DISTINCT FROM EXCLUDED.station_id
                                           THEN now() ELSE devices.installed_at END,
                       station_id = EXCLUDED.station_id, note = EXCLUDED.note""",
                (d.id, d.station_id, d.note),
            )
        for h in network.shelters:
            cur.execute(
                """INSERT INTO shelters (id, name_ja, name_en, address, latitude, longitude, capacity,
                       hazards, status)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET
                       name_ja = EXCLUDED.name_ja, name_en = EXCLUDED.name_en,
                       address = EXCLUDED.address, latitude = EXCLUDED.latitude,
                       longitude = EXCLUDED.longitude, capacity = EXCLUDED.capacity,
                       hazards = EXCLUDED.hazards""",
                (
                    h.id,
                    h.name_ja,
                    h.name_en,
                    h.address,
                    h.latitude,
                    h.longitude,
                    h.capacity,
                    sorted(h.hazards),
                    h.status.value,
                ),
            )
        for a in network.areas:
            cur.execute(
                """INSERT INTO alert_areas (id, name_ja, name_en, geometry) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET name_ja = EXCLUDED.name_ja,
                       name_en = EXCLUDED.name_en, geometry = EXCLUDED.geometry""",
                (a.id, a.name_ja, a.name_en, Jsonb(a.geometry)),
            )
            cur.execute("DELETE FROM alert_area_stations WHERE area_id = %s", (a.id,))
            cur.executemany(
                "INSERT INTO alert_area_stations (area_id, station_id) VALUES (%s, %s)",
                [(a.id, station_id) for station_id in a.station_ids],
            )
    return {
        "stations": len(network.stations),
        "devices": len(network.devices),
        "shelters": len(network.shelters),
        "areas": len(network.areas),
    }
