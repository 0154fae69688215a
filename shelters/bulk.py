"""Shelter operations at the scale of a real disaster, for the command line: official
head counts loaded with their own time, open / close by list, by hazard or from a file,
and the list of every shelter with its state.

Every write is an event with who entered it and where it came from (``entered_by``,
``origin``), so an official snapshot loaded days later is both accepted and audited.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import psycopg
from psycopg.rows import dict_row

from kawamori.clock import DEFAULT_ZONE
from kawamori.model import Hazard, ShelterStatus
from shelters import fields, occupancy
from shelters.counts import StatusEvent, official_count
from shelters.errors import WARNING, ConflictingEvent, ImportFailed, Problem, UnknownShelter
from shelters.opendata import Snapshot, decode, parse_csv, snapshot_time

_ID = ("ID", "id", "避難所ID", "shelter_id")
_COUNT = ("人数", "避難者数", "count", "people")
_TIME = ("時点", "日時", "時刻", "time", "recorded_at")


@dataclass(slots=True)
class Loaded:
    stored: int = 0
    duplicates: int = 0
    shelters: set[str] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # same shelter and time, another count


def load_snapshots(
    conn: psycopg.Connection, snapshots: Iterable[Snapshot], *, now: datetime, entered_by: str, source: str
) -> Loaded:
    """Store official head counts as exact counts at their own time (any age). Loading
    the same snapshot again stores nothing; one unknown shelter or conflicting figure
    does not stop the others."""
    by_shelter: dict[str, list] = defaultdict(list)
    for s in snapshots:
        origin = f"{source}: {s.column}, line {s.line}" if s.line else f"{source}: {s.column}"
        by_shelter[s.shelter_id].append(
            official_count(
                shelter_id=s.shelter_id,
                count=s.count,
                recorded_at=s.at,
                now=now,
                entered_by=entered_by,
                origin=origin,
            )
        )
    out = Loaded()
    for shelter_id, events in by_shelter.items():
        try:
            result = occupancy.record_counts(conn, shelter_id=shelter_id, events=events)
        except UnknownShelter:
            out.unknown.append(shelter_id)
            continue
        except ConflictingEvent:
            out.conflicts.append(shelter_id)
            continue
        out.stored += result["stored"]
        out.duplicates += result["duplicates"]
        if result["stored"]:
            out.shelters.add(shelter_id)
    return out


def read_counts(
    data: bytes, *, now: datetime, zone: tzinfo = DEFAULT_ZONE
) -> tuple[list[Snapshot], list[Problem]]:
    """Head counts from a CSV: either the national layout with 人数_<time>時点 columns,
    or a plain list ``ID,人数,時点`` (``2024-01-01 21:00``; the city's time unless an offset is given)."""
    text, _, problems = decode(data)
    header = [fields.fold(h) for h in next(csv.reader(io.StringIO(text)), [])]
    if not any(h in _COUNT for h in header):
        parsed = parse_csv(data, now=now, zone=zone)
        return parsed.snapshots, parsed.problems
    at = {name: next((header.index(n) for n in names if n in header), None) for name, names in
          (("id", _ID), ("count", _COUNT), ("time", _TIME))}  # fmt: skip
    missing = [
        names[0] for name, names in (("id", _ID), ("count", _COUNT), ("time", _TIME)) if at[name] is None
    ]
    if missing:
        raise ImportFailed([Problem(1, "", "header_missing", {"columns": ", ".join(missing)})])
    snapshots = []
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        cell = {k: fields.fold(row[i]) if i is not None and i < len(row) else "" for k, i in at.items()}
        try:
            number = fields.count(cell["count"])
        except fields.Unreadable:
            problems.append(
                Problem(line, header[at["count"]], "count_bad", {"value": cell["count"]}, WARNING)
            )
            continue
        when = snapshot_time(cell["time"], now=now, zone=zone)
        if when is None:
            problems.append(
                Problem(line, header[at["time"]], "count_time_bad", {"value": cell["time"]}, WARNING)
            )
            continue
        if number is not None and cell["id"]:
            snapshots.append(Snapshot(cell["id"], number, when.astimezone(zone), header[at["count"]], line))
    return snapshots, problems


def select(
    conn: psycopg.Connection,
    *,
    ids: Sequence[str] = (),
    hazard: Hazard | None = None,
    everything: bool = False,
) -> list[str]:
    """Shelter ids by list, by hazard (designated for it) or all; :class:`UnknownShelter`
    names every id that is not in the registry."""
    known = {r[0]: r[1] for r in conn.execute("SELECT id, hazards FROM shelters ORDER BY id").fetchall()}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UnknownShelter(", ".join(unknown))
    chosen = list(dict.fromkeys(ids))
    if hazard is not None:
        chosen += [i for i, hazards in known.items() if hazard.value in hazards and i not in chosen]
    if everything:
        chosen += [i for i in known if i not in chosen]
    return chosen


def set_status(
    conn: psycopg.Connection,
    shelter_ids: Sequence[str],
    status: ShelterStatus,
    *,
    at: datetime,
    now: datetime,
    entered_by: str,
    origin: str,
) -> tuple[int, int]:
    """Open, close or prepare many shelters in one transaction at time ``at`` (the
    official opening time may be in the past). Returns (changed, already so)."""
    changed = 0
    with conn.transaction():
        current = dict(
            conn.execute(
                "SELECT id, status FROM shelters WHERE id = ANY(%s)", (list(shelter_ids),)
            ).fetchall()
        )
        for shelter_id in shelter_ids:
            if shelter_id not in current:
                raise UnknownShelter(shelter_id)
            if current[shelter_id] == status.value:
                continue
            event = StatusEvent(
                uuid.uuid4(), status, min(at, now), entered_by=entered_by, origin=origin, source="cli"
            )
            occupancy.record_status(conn, shelter_id=shelter_id, events=[event])
            changed += 1
    return changed, len(shelter_ids) - changed


def listing(conn: psycopg.Connection) -> list[dict]:
    """Every shelter with its state, count, capacity and when it was last counted."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT s.id, s.name_ja, s.name_en, s.status, s.occupancy, s.capacity, s.capacity_basis,
                      s.capacity_text, s.temporary, s.hazards, s.status_changed_at,
                      (SELECT max(recorded_at) FROM shelter_count_events e WHERE e.shelter_id = s.id)
                          AS counted_at
               FROM shelters s ORDER BY s.id"""
        ).fetchall()
