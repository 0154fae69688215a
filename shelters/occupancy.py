"""Head counts and status in PostgreSQL: events appended idempotently, the shelter's
current occupancy re-folded from them in the same transaction, under a row lock on
the shelter so concurrent tablets serialise per shelter and never lose an update.
A batch is all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import psycopg

from shelters.counts import CountEvent, Kind, Source, StatusEvent, bucketed, fold, timeline
from shelters.doorcounter import DoorCount
from shelters.errors import ConflictingEvent, UnassignedCounter, UnknownShelter


def _lock(conn: psycopg.Connection, shelter_id: str) -> None:
    if conn.execute("SELECT 1 FROM shelters WHERE id = %s FOR UPDATE", (shelter_id,)).fetchone() is None:
        raise UnknownShelter(shelter_id)


def _events(conn: psycopg.Connection, shelter_id: str, *, since_last_set: bool) -> list[CountEvent]:
    rows = conn.execute(
        """WITH last_set AS (
               SELECT recorded_at, id FROM shelter_count_events
               WHERE shelter_id = %(s)s AND kind = 'set' AND %(since)s
               ORDER BY recorded_at DESC, id DESC LIMIT 1)
           SELECT id, kind, value, recorded_at, source FROM shelter_count_events e
           WHERE shelter_id = %(s)s
             AND (NOT EXISTS (SELECT 1 FROM last_set)
                  OR (e.recorded_at, e.id) >= (SELECT recorded_at, id FROM last_set))
           ORDER BY recorded_at, id""",
        {"s": shelter_id, "since": since_last_set},
    ).fetchall()
    return [CountEvent(r[0], Kind(r[1]), r[2], r[3], Source(r[4])) for r in rows]


def _append(conn: psycopg.Connection, shelter_id: str, event: CountEvent, device_id: str | None) -> bool:
    row = conn.execute(
        """INSERT INTO shelter_count_events (id, shelter_id, kind, value, source, device_id, recorded_at,
                                             entered_by, origin)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id""",
        (
            event.id,
            shelter_id,
            event.kind.value,
            event.value,
            event.source.value,
            device_id,
            event.recorded_at,
            event.entered_by,
            event.origin,
        ),
    ).fetchone()
    if row is not None:
        return True
    existing = conn.execute(
        "SELECT shelter_id, kind, value FROM shelter_count_events WHERE id = %s", (event.id,)
    ).fetchone()
    if existing != (shelter_id, event.kind.value, event.value):
        raise ConflictingEvent(f"event {event.id} was already stored with different content")
    return False


def record_counts(
    conn: psycopg.Connection,
    *,
    shelter_id: str,
    events: Sequence[CountEvent],
    device_id: str | None = None,
) -> dict:
    """Append count events (repeats are ignored) and update the occupancy; returns
    ``{"occupancy", "stored", "duplicates"}``. All or nothing."""
    stored = 0
    with conn.transaction():
        _lock(conn, shelter_id)
        for event in events:
            stored += _append(conn, shelter_id, event, device_id)
        if stored:
            occupancy = fold(_events(conn, shelter_id, since_last_set=True))
            conn.execute(
                """UPDATE shelters SET occupancy = %s, count_changed_at = now(), updated_at = now()
                   WHERE id = %s""",
                (occupancy, shelter_id),
            )
        row = conn.execute("SELECT occupancy FROM shelters WHERE id = %s", (shelter_id,)).fetchone()
    assert row is not None
    return {"occupancy": row[0], "stored": stored, "duplicates": len(events) - stored}


def record_status(conn: psycopg.Connection, *, shelter_id: str, events: Sequence[StatusEvent]) -> dict:
    """Append status events (repeats ignored); the shelter's status becomes that of the
    latest event by time. Returns ``{"status", "stored", "duplicates"}``."""
    with conn.transaction():
        _lock(conn, shelter_id)
        stored = 0
        for event in events:
            row = conn.execute(
                """INSERT INTO shelter_status_events (id, shelter_id, status, recorded_at, source,
                                                      entered_by, origin)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id""",
                (
                    event.id,
                    shelter_id,
                    event.status.value,
                    event.recorded_at,
                    event.source,
                    event.entered_by,
                    event.origin,
                ),
            ).fetchone()
            if row is None:
                existing = conn.execute(
                    "SELECT shelter_id, status FROM shelter_status_events WHERE id = %s", (event.id,)
                ).fetchone()
                if existing != (shelter_id, event.status.value):
                    raise ConflictingEvent(f"event {event.id} was already stored with different content")
            stored += row is not None
        if stored:
            conn.execute(
                """UPDATE shelters SET status = latest.status, status_changed_at = latest.recorded_at,
                       updated_at = now()
                   FROM (SELECT status, recorded_at FROM shelter_status_events WHERE shelter_id = %(s)s
                         ORDER BY recorded_at DESC, id DESC LIMIT 1) latest
                   WHERE id = %(s)s""",
                {"s": shelter_id},
            )
        row = conn.execute("SELECT status FROM shelters WHERE id = %s", (shelter_id,)).fetchone()
    assert row is not None
    return {"status": row[0], "stored": stored, "duplicates": len(events) - stored}


def assign_counter(conn: psycopg.Connection, *, device_id: str, shelter_id: str) -> None:
    """Make ``device_id`` a door counter of ``shelter_id`` (creating the device record
    if needed; its broker account is provisioned like any other device's)."""
    with conn.transaction():
        _lock(conn, shelter_id)
        conn.execute(
            "INSERT INTO devices (id, note) VALUES (%s, 'door counter') ON CONFLICT (id) DO NOTHING",
            (device_id,),
        )
        conn.execute(
            """INSERT INTO shelter_counters (device_id, shelter_id) VALUES (%s, %s)
               ON CONFLICT (device_id) DO UPDATE SET shelter_id = EXCLUDED.shelter_id""",
            (device_id, shelter_id),
        )


def apply_door_count(conn: psycopg.Connection, count: DoorCount) -> dict:
    """Store one decoded door-counter message as a count event of the counter's
    shelter (once, however often it is delivered)."""
    row = conn.execute(
        """SELECT c.shelter_id FROM shelter_counters c JOIN devices d ON d.id = c.device_id
           WHERE c.device_id = %s AND d.retired_at IS NULL""",
        (count.device_id,),
    ).fetchone()
    if row is None:
        raise UnassignedCounter(count.device_id)
    events = []
    if count.delta:
        events.append(CountEvent(count.event_id, Kind.delta, count.delta, count.time, Source.door_counter))
    return {
        "shelter_id": row[0],
        **record_counts(conn, shelter_id=row[0], events=events, device_id=count.device_id),
    }


def history(
    conn: psycopg.Connection, *, shelter_id: str, since: datetime, until: datetime, bucket: timedelta
) -> dict:
    """Occupancy per time bucket (count at the end, peak) and status changes since
    ``since``: aggregates for after-action review."""
    if conn.execute("SELECT 1 FROM shelters WHERE id = %s", (shelter_id,)).fetchone() is None:
        raise UnknownShelter(shelter_id)
    points = timeline(_events(conn, shelter_id, since_last_set=False))
    statuses = conn.execute(
        """SELECT recorded_at, status FROM shelter_status_events
           WHERE shelter_id = %s AND recorded_at >= %s AND recorded_at < %s ORDER BY recorded_at, id""",
        (shelter_id, since, until),
    ).fetchall()
    return {
        "shelter_id": shelter_id,
        "occupancy": bucketed(points, since=since, until=until, bucket=bucket),
        "status_changes": [{"time": t, "status": s} for t, s in statuses],
    }
