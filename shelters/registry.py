"""The shelter registry in PostgreSQL: a preview of an import (added / changed /
unchanged / not in the file), the import itself (idempotent upsert in one transaction)
and reads. Status and occupancy are never touched by an import."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from kawamori.model import Hazard, ShelterStatus
from shelters.errors import ImportFailed, Problem, UnknownShelter
from shelters.opendata import Record
from shelters.recommend import ShelterState

_COLUMNS = """id, name_ja, name_en, address, latitude, longitude, capacity, hazards, status, occupancy,
              status_changed_at, count_changed_at, updated_at, capacity_text, capacity_indoor,
              capacity_outdoor, area_m2, capacity_basis, designated_shelter, temporary"""
# what an import may change, in the order a preview names them
_FIELDS = (
    "name_ja",
    "name_en",
    "address",
    "latitude",
    "longitude",
    "hazards",
    "capacity",
    "capacity_text",
    "capacity_indoor",
    "capacity_outdoor",
    "area_m2",
    "capacity_basis",
    "designated_shelter",
    "temporary",
)


def values(record: Record) -> dict:
    """A record as the registry stores it."""
    capacity, basis = record.crowding_capacity
    return {
        "id": record.id,
        "name_ja": record.name_ja,
        "name_en": record.name_en,
        "address": record.address,
        "latitude": record.latitude,
        "longitude": record.longitude,
        "hazards": sorted(h.value for h in record.hazards),
        "capacity": capacity or 0,
        "capacity_text": record.capacity.text,
        "capacity_indoor": record.capacity.indoor,
        "capacity_outdoor": record.capacity.outdoor,
        "area_m2": record.capacity.area_m2,
        "capacity_basis": basis,
        "designated_shelter": record.designated_shelter,
        "temporary": record.temporary,
    }


@dataclass(frozen=True, slots=True)
class Plan:
    """What importing a file does to the registry. ``removed`` are shelters the registry
    has and the file does not: they are kept (a list of opened shelters is not the whole
    registry), only named."""

    added: list[dict] = field(default_factory=list)
    changed: list[tuple[dict, list[str]]] = field(default_factory=list)
    unchanged: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} not in the file"
        )


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 1e-9
    return a == b


def plan(conn: psycopg.Connection, records: Sequence[Record]) -> Plan:
    """What :func:`import_records` would do, without doing it."""
    current = {row["id"]: row for row in all_shelters(conn)}
    out = Plan()
    for record in records:
        new = values(record)
        old = current.pop(record.id, None)
        if old is None:
            out.added.append(new)
            continue
        old = {**old, "hazards": sorted(old["hazards"])}
        fields_ = [f for f in _FIELDS if not _same(old[f], new[f])]
        (out.changed.append((new, fields_)) if fields_ else out.unchanged.append(new))
    out.removed.extend(current.values())
    return out


def import_records(conn: psycopg.Connection, records: Sequence[Record]) -> Plan:
    """Add and update ``records`` in one transaction; status and head counts are kept.
    Importing the same file again changes nothing (and says so)."""
    current = ""
    try:
        with conn.transaction():
            done = plan(conn, records)
            for row in [*done.added, *(new for new, _ in done.changed)]:
                current = row["id"]
                _upsert(conn, row)
    except psycopg.DataError as error:
        message = error.diag.message_primary or str(error)
        raise ImportFailed([Problem(0, current, "field_bad", {"detail": message})]) from None
    return done


def _upsert(conn: psycopg.Connection, row: dict) -> None:
    names = list(row)
    conn.execute(
        f"""INSERT INTO shelters ({", ".join(names)}) VALUES ({", ".join(f"%({n})s" for n in names)})
            ON CONFLICT (id) DO UPDATE SET
            {", ".join(f"{n} = EXCLUDED.{n}" for n in names if n != "id")}, updated_at = now()""",
        row,
    )


def all_shelters(conn: psycopg.Connection) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {_COLUMNS} FROM shelters ORDER BY id").fetchall()


def get_shelter(conn: psycopg.Connection, shelter_id: str) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM shelters WHERE id = %s", (shelter_id,)).fetchone()
    if row is None:
        raise UnknownShelter(shelter_id)
    return row


def state(row: dict) -> ShelterState:
    return ShelterState(
        id=row["id"],
        name_ja=row["name_ja"],
        name_en=row["name_en"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        capacity=row["capacity"],
        occupancy=row["occupancy"],
        status=ShelterStatus(row["status"]),
        hazards=frozenset(Hazard(h) for h in row["hazards"] if h in Hazard.__members__),
        address=row["address"],
        temporary=row.get("temporary", False),
    )


def fingerprints(conn: psycopg.Connection) -> tuple[tuple, tuple]:
    """Two fingerprints of the registry, for caches: of what rarely changes (ids,
    names, places, hazards) and of what changes all the time during an evacuation
    (status, count, capacity). Computed from the committed rows themselves, so no
    writer, however it writes, can be missed."""
    row = conn.execute(
        """SELECT count(*),
                  coalesce(sum(hashtextextended(concat_ws('|', id, name_ja, name_en, address, latitude,
                                                          longitude, array_to_string(hazards, ','),
                                                          temporary), 0)), 0),
                  coalesce(sum(hashtextextended(concat_ws('|', id, status, occupancy, capacity), 0)), 0)
           FROM shelters"""
    ).fetchone()
    assert row is not None
    return (row[0], row[1]), (row[0], row[2])


def live_states(conn: psycopg.Connection) -> dict[str, tuple[ShelterStatus, int, int]]:
    """Status, count and capacity of every shelter, by id."""
    rows = conn.execute("SELECT id, status, occupancy, capacity FROM shelters").fetchall()
    return {r[0]: (ShelterStatus(r[1]), r[2], r[3]) for r in rows}
