"""The shelter registry in PostgreSQL: import (idempotent upsert, all or nothing) and
reads. Status and occupancy are never touched by an import."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from kawamori.model import Hazard, Shelter, ShelterStatus
from shelters.errors import ImportFailed, Problem, UnknownShelter
from shelters.recommend import ShelterState

_COLUMNS = """id, name_ja, name_en, address, latitude, longitude, capacity, hazards, status, occupancy,
              status_changed_at, count_changed_at, updated_at"""


@dataclass(frozen=True, slots=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int

    def __str__(self) -> str:
        return f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged"


def import_shelters(conn: psycopg.Connection, shelters: Sequence[Shelter]) -> ImportSummary:
    """Upsert ``shelters`` in one transaction. Importing the same file again changes
    nothing (and says so); status and occupancy are kept."""
    added = updated = 0
    current = ""
    try:
        with conn.transaction(), conn.cursor() as cur:
            for s in shelters:
                current = s.id
                row = _upsert(cur, s)
                if row is not None:
                    if row[0]:
                        added += 1
                    else:
                        updated += 1
    except psycopg.DataError as error:
        message = error.diag.message_primary or str(error)
        raise ImportFailed([Problem(0, current, message)]) from None
    return ImportSummary(added, updated, len(shelters) - added - updated)


def _upsert(cur: psycopg.Cursor, s: Shelter) -> tuple | None:
    return cur.execute(
        """INSERT INTO shelters (id, name_ja, name_en, address, latitude, longitude, capacity,
                                 hazards)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (id) DO UPDATE SET
               name_ja = EXCLUDED.name_ja, name_en = EXCLUDED.name_en,
               address = EXCLUDED.address, latitude = EXCLUDED.latitude,
               longitude = EXCLUDED.longitude, capacity = EXCLUDED.capacity,
               hazards = EXCLUDED.hazards, updated_at = now()
           WHERE (shelters.name_ja, shelters.name_en, shelters.address, shelters.latitude,
                  shelters.longitude, shelters.capacity, shelters.hazards)
                 IS DISTINCT FROM
                 (EXCLUDED.name_ja, EXCLUDED.name_en, EXCLUDED.address, EXCLUDED.latitude,
                  EXCLUDED.longitude, EXCLUDED.capacity, EXCLUDED.hazards)
           RETURNING (xmax = 0) AS inserted""",
        (
            s.id,
            s.name_ja,
            s.name_en,
            s.address,
            s.latitude,
            s.longitude,
            s.capacity,
            sorted(h.value for h in s.hazards),
        ),
    ).fetchone()


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
    )


def fingerprints(conn: psycopg.Connection) -> tuple[tuple, tuple]:
    """Two fingerprints of the registry, for caches: of what rarely changes (ids,
    names, places, hazards) and of what changes all the time during an evacuation
    (status, count, capacity). Computed from the committed rows themselves, so no
    writer, however it writes, can be missed."""
    row = conn.execute(
        """SELECT count(*),
                  coalesce(sum(hashtextextended(concat_ws('|', id, name_ja, name_en, address, latitude,
                                                          longitude, array_to_string(hazards, ',')), 0)), 0),
                  coalesce(sum(hashtextextended(concat_ws('|', id, status, occupancy, capacity), 0)), 0)
           FROM shelters"""
    ).fetchone()
    assert row is not None
    return (row[0], row[1]), (row[0], row[2])


def live_states(conn: psycopg.Connection) -> dict[str, tuple[ShelterStatus, int, int]]:
    """Status, count and capacity of every shelter, by id."""
    rows = conn.execute("SELECT id, status, occupancy, capacity FROM shelters").fetchall()
    return {r[0]: (ShelterStatus(r[1]), r[2], r[3]) for r in rows}
