"""Check-ins and rescue requests in PostgreSQL, sealed with the subscriber key.

What is stored in the clear: a request's state, team, number of people, alert area,
times and flags; a check-in's status, shelter, household size and area. Everything that
points at a person — the place, the address, the phone number, the LINE user, the needs
and the note — is one sealed blob (:meth:`notify.sealing.SubscriberKey.seal`, the request
id as associated data), opened only for staff with the rescue permission. Households and
sources are keyed digests. Nothing here logs any of it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from shapely.geometry import shape

from kawamori.model import Actor
from notify.sealing import SubscriberKey
from notify.subscriptions import areas_at
from rescue.errors import Contradiction, InvalidReport, NotPermitted, TooMany, UnknownRequest
from rescue.rules import (
    OPEN,
    Admission,
    Extent,
    Limits,
    State,
    admit,
    check_contact,
    check_place,
    normalise_address,
    normalise_phone,
    purge_before,
    step,
)

OPEN_STATES = [s.value for s in OPEN]
RECENT_CLOSED = timedelta(hours=24)  # closed requests the queue still shows
DEFAULT_LIMITS = Limits()


def _digest(key: SubscriberKey, kind: str, value: str) -> str:
    return key.digest(f"rescue-{kind}", value)


def household_digest(key: SubscriberKey, household: str) -> str:
    return _digest(key, "household", household)


def status_token(key: SubscriberKey, request_id: uuid.UUID) -> str:
    """The resident's token for a request's status (the same every time: a merged repeat
    gets the request's token again); the database keeps only its SHA-256."""
    return _digest(key, "status", str(request_id))[:40]


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def extent_of(conn: psycopg.Connection) -> Extent | None:
    """The municipality: the box around its alert areas and shelters (with a margin)."""
    points: list[tuple[float, float]] = []
    for (geometry,) in conn.execute("SELECT geometry FROM alert_areas"):
        west, south, east, north = shape(geometry).bounds
        points += [(south, west), (north, east)]
    points += [(r[0], r[1]) for r in conn.execute("SELECT latitude, longitude FROM shelters")]
    return Extent.around(points)


def _area_of(conn: psycopg.Connection, point: tuple[float, float] | None) -> str | None:
    if point is None:
        return None
    found = areas_at(conn, latitude=point[0], longitude=point[1])
    return found[0] if found else None


# --- check-ins ---------------------------------------------------------------------------------------


def open_request_of(conn: psycopg.Connection, *, digests: list[str]) -> dict | None:
    return conn.execute(
        """SELECT id, state FROM rescue_requests
           WHERE state = ANY(%s) AND (household_digest = ANY(%s) OR source_digests && %s)
           ORDER BY received_at LIMIT 1""",
        (OPEN_STATES, digests, digests),
        prepare=False,
    ).fetchone()


def check_in(
    conn: psycopg.Connection,
    *,
    key: SubscriberKey,
    report_id: uuid.UUID,
    household: str,
    status: str,
    household_size: int,
    shelter_id: str | None,
    point: tuple[float, float] | None,
    language: str,
    reported_at: datetime,
    now: datetime,
) -> str:
    """Record a household's check-in; ``"recorded"``, ``"repeat"`` (this report was
    already stored) or ``"older"`` (a newer report of the household is already stored).
    Raises :class:`Contradiction` while the household has an open rescue request."""
    digest = household_digest(key, household)
    if status == "shelter":
        if not shelter_id:
            raise InvalidReport("choose the shelter you are at", code="no_shelter")
        if conn.execute("SELECT 1 FROM shelters WHERE id = %s", (shelter_id,)).fetchone() is None:
            raise InvalidReport("no such shelter", code="unknown_shelter")
    else:
        shelter_id = None
    if point is not None:
        extent = extent_of(conn)
        if extent is not None and not extent.covers(*point):
            raise InvalidReport("this place is outside the city", code="outside")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (digest,))
        if open_request_of(conn, digests=[digest]) is not None:
            raise Contradiction(
                "your household has an open rescue request; cancel it first if you are safe now"
            )
        existing = conn.execute(
            "SELECT report_id, reported_at FROM safety_checkins WHERE household_digest = %s", (digest,)
        ).fetchone()
        if existing and existing[0] == report_id:
            return "repeat"
        if existing and existing[1] > reported_at:
            return "older"
        conn.execute(
            """INSERT INTO safety_checkins (household_digest, report_id, status, shelter_id, household_size,
                                            area_id, language, reported_at, received_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (household_digest) DO UPDATE SET
                 report_id = EXCLUDED.report_id, status = EXCLUDED.status, shelter_id = EXCLUDED.shelter_id,
                 household_size = EXCLUDED.household_size, area_id = EXCLUDED.area_id,
                 language = EXCLUDED.language, reported_at = EXCLUDED.reported_at,
                 received_at = EXCLUDED.received_at""",
            (
                digest,
                report_id,
                status,
                shelter_id,
                household_size,
                _area_of(conn, point),
                language,
                min(reported_at, now),
                now,
            ),
        )
    return "recorded"


def forget_check_in(conn: psycopg.Connection, *, key: SubscriberKey, household: str) -> bool:
    deleted = conn.execute(
        "DELETE FROM safety_checkins WHERE household_digest = %s", (household_digest(key, household),)
    )
    return deleted.rowcount > 0


# --- rescue requests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Taken:
    """What a resident is told about a rescue request they sent."""

    token: str
    state: str
    merged: bool  # joined the household's open request
    flagged: bool

    def __repr__(self) -> str:  # never the token
        return f"Taken({self.state}, merged={self.merged})"


def _merge_details(old: dict, new: dict) -> dict:
    merged = {**old, **{k: v for k, v in new.items() if v not in (None, "", [])}}
    merged["needs"] = sorted(set(old.get("needs", [])) | set(new.get("needs", [])))
    notes = [n for n in (old.get("note"), new.get("note")) if n]
    merged["note"] = "\n---\n".join(dict.fromkeys(notes)) if notes else None
    return merged


def request_rescue(
    conn: psycopg.Connection,
    *,
    key: SubscriberKey,
    request_id: uuid.UUID,
    household: str,
    people: int,
    needs: list[str],
    point: tuple[float, float] | None,
    address: str | None,
    phone: str | None,
    line_user: str | None,
    note: str | None,
    client: str,
    language: str,
    now: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> Taken:
    """Take a rescue request; a repeat of the same id stores nothing, and a request from a
    household (page id, phone, LINE user or address) with an open one is merged into it."""
    phone = normalise_phone(phone)
    address = normalise_address(address)
    check_contact(phone, line_user)
    check_place(point, address, extent=extent_of(conn))
    digest = household_digest(key, household)
    same_household = [digest]
    if phone:
        same_household.append(_digest(key, "phone", phone))
    if line_user:
        same_household.append(_digest(key, "line", line_user))
    if address:
        same_household.append(_digest(key, "address", address))
    sources = sorted({*same_household[1:], key.client(client)})
    details = {
        "lat": point[0] if point else None,
        "lon": point[1] if point else None,
        "address": address,
        "phone": phone,
        "line_user": line_user,
        "needs": sorted(set(needs)),
        "note": note.strip() if note and note.strip() else None,
    }
    with conn.transaction():
        for lock in sorted(set(same_household)):
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
        seen = conn.execute(
            """SELECT r.id, r.state, r.id <> %s, r.flagged FROM rescue_requests r
               WHERE r.id = %s OR r.id = (SELECT request_id FROM rescue_request_ids WHERE id = %s)""",
            (request_id, request_id, request_id),
        ).fetchone()
        if seen is not None:
            return Taken(status_token(key, seen[0]), seen[1], seen[2], seen[3])
        found = open_request_of(conn, digests=same_household)
        if found is not None:
            existing_id = found[0]
            sealed = conn.execute(
                "SELECT details, people, source_digests FROM rescue_requests WHERE id = %s", (existing_id,)
            ).fetchone()
            merged = _merge_details(key.open(sealed[0], subscription_id=existing_id), details)
            conn.execute(
                """UPDATE rescue_requests
                   SET details = %s, people = GREATEST(people, %s), repeats = repeats + 1,
                          source_digests = (SELECT array_agg(DISTINCT s) FROM unnest(source_digests || %s) s),
                          area_id = COALESCE(%s, area_id), updated_at = %s
                   WHERE id = %s""",
                (
                    key.seal(merged, subscription_id=existing_id),
                    people,
                    sources,
                    _area_of(conn, point),
                    now,
                    existing_id,
                ),
            )
            conn.execute(
                "INSERT INTO rescue_request_ids (id, request_id) VALUES (%s, %s)", (request_id, existing_id)
            )
            return Taken(status_token(key, existing_id), found[1], True, False)
        recent = conn.execute(
            """SELECT coalesce(max(n), 0) FROM (
                 SELECT count(*) AS n FROM rescue_requests, unnest(source_digests) s
                 WHERE received_at > %s AND s = ANY(%s) GROUP BY s) per_source""",
            (now - limits.window, sources),
        ).fetchone()[0]
        admission = admit(recent, limits=limits)
        if admission is Admission.refuse:
            raise TooMany("too many requests from here; call 119 or the city's disaster line")
        token = status_token(key, request_id)
        conn.execute(
            """INSERT INTO rescue_requests (id, household_digest, source_digests, status_digest, people,
                                            area_id, details, flagged, language, received_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                request_id,
                digest,
                sources,
                _token_digest(token),
                people,
                _area_of(conn, point),
                key.seal(details, subscription_id=request_id),
                admission is Admission.flag,
                language,
                now,
                now,
            ),
        )
        _audit(conn, request_id, None, State.received, team=None, actor=None, name="resident", now=now)
        # a household that asks for help is no longer "safe": its check-in gives way
        conn.execute("DELETE FROM safety_checkins WHERE household_digest = %s", (digest,))
    return Taken(token, State.received.value, False, admission is Admission.flag)


def _audit(conn, request_id, before, after, *, team, actor: Actor | None, name: str, now) -> None:
    conn.execute(
        """INSERT INTO rescue_audit (request_id, from_state, to_state, team, actor_id, actor, at)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (
            request_id,
            before,
            after,
            team,
            actor.id if actor else None,
            actor.username if actor else name,
            now,
        ),
    )


def _by_token(conn: psycopg.Connection, token: str, *, lock: bool = False) -> dict:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT id, state, team, updated_at, repeats FROM rescue_requests WHERE status_digest = %s"
            + (" FOR UPDATE" if lock else ""),
            (_token_digest(token),),
        )
        .fetchone()
    )
    if row is None:
        raise UnknownRequest("no rescue request for this token (it may have been deleted)")
    return row


def status_of(conn: psycopg.Connection, *, token: str) -> dict:
    """What the resident sees: the state, whether a team is on its way, when it changed."""
    row = _by_token(conn, token)
    return {"state": row["state"], "team_assigned": row["team"] is not None, "updated_at": row["updated_at"]}


def cancel(conn: psycopg.Connection, *, token: str, now: datetime) -> dict:
    """The resident no longer needs help (a closed request stays as it is)."""
    with conn.transaction():
        row = _by_token(conn, token, lock=True)
        if State(row["state"]).open:
            conn.execute(
                "UPDATE rescue_requests SET state = 'cancelled', team = NULL, updated_at = %s,"
                " closed_at = %s "
                "WHERE id = %s",
                (now, now, row["id"]),
            )
            _audit(
                conn,
                row["id"],
                row["state"],
                State.cancelled,
                team=None,
                actor=None,
                name="resident",
                now=now,
            )
    return status_of(conn, token=token)


def forget(conn: psycopg.Connection, *, token: str) -> None:
    """Deletion on request: the request and everything sealed in it (the audit keeps only
    the id, states and staff names)."""
    row = _by_token(conn, token)
    conn.execute("DELETE FROM rescue_requests WHERE id = %s", (row["id"],))


# --- staff -----------------------------------------------------------------------------------------


def permitted(conn: psycopg.Connection, *, user_id: int) -> bool:
    return conn.execute("SELECT 1 FROM rescue_staff WHERE user_id = %s", (user_id,)).fetchone() is not None


def require_permission(conn: psycopg.Connection, actor: Actor) -> None:
    if not permitted(conn, user_id=actor.id):
        raise NotPermitted("rescue requests are shown only to staff with the rescue permission")


def grant(conn: psycopg.Connection, *, username: str, by: str, now: datetime) -> bool:
    row = conn.execute("SELECT id FROM staff_users WHERE username = %s", (username,)).fetchone()
    if row is None:
        raise UnknownRequest(f"no staff account {username!r}")
    done = conn.execute(
        "INSERT INTO rescue_staff (user_id, granted_by, granted_at) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (row[0], by, now),
    )
    return done.rowcount > 0


def revoke(conn: psycopg.Connection, *, username: str) -> bool:
    done = conn.execute(
        "DELETE FROM rescue_staff WHERE user_id = (SELECT id FROM staff_users WHERE username = %s)",
        (username,),
    )
    return done.rowcount > 0


def queue(
    conn: psycopg.Connection, *, key: SubscriberKey, actor: Actor, now: datetime
) -> list[dict[str, Any]]:
    """Open requests and those closed in the last day, opened for a permitted actor:
    received first, then confirmed, then assigned; flagged ones after the others."""
    require_permission(conn, actor)
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            """SELECT r.id, r.state, r.team, r.people, r.area_id, r.details, r.flagged, r.repeats, r.language,
                      r.received_at, r.updated_at, r.closed_at, a.name_ja AS area_ja, a.name_en AS area_en
               FROM rescue_requests r LEFT JOIN alert_areas a ON a.id = r.area_id
               WHERE r.state = ANY(%s) OR r.closed_at > %s
               ORDER BY array_position(%s, r.state),
                        r.flagged, r.received_at""",
            (OPEN_STATES, now - RECENT_CLOSED, [s.value for s in State]),
        )
        .fetchall()
    )
    out = []
    for row in rows:
        opened = key.open(row.pop("details"), subscription_id=row["id"])
        opened.pop("line_user", None)
        out.append({**row, **opened, "id": str(row["id"])})
    return out


def transition(
    conn: psycopg.Connection,
    *,
    request_id: uuid.UUID,
    target: State,
    team: str | None,
    actor: Actor,
    now: datetime,
) -> dict:
    require_permission(conn, actor)
    with conn.transaction():
        row = conn.execute(
            "SELECT state FROM rescue_requests WHERE id = %s FOR UPDATE", (request_id,)
        ).fetchone()
        if row is None:
            raise UnknownRequest("no such rescue request")
        current = State(row[0])
        new_team = step(current, target, team=team)
        conn.execute(
            """UPDATE rescue_requests SET state = %s, team = %s, updated_at = %s,
                      closed_at = CASE WHEN %s THEN NULL ELSE %s END
               WHERE id = %s""",
            (target, new_team, now, target.open, now, request_id),
        )
        _audit(conn, request_id, current, target, team=new_team, actor=actor, name="", now=now)
    return {"id": str(request_id), "state": target.value, "team": new_team}


def audit_of(conn: psycopg.Connection, *, request_id: uuid.UUID, actor: Actor) -> list[dict]:
    require_permission(conn, actor)
    return (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT from_state, to_state, team, actor, at FROM rescue_audit"
            " WHERE request_id = %s ORDER BY id",
            (request_id,),
        )
        .fetchall()
    )


def counts(conn: psycopg.Connection) -> dict[str, list[dict]]:
    """Check-ins and open rescue requests per area, and check-ins per shelter beside its
    head count: figures only, no one's data (every staff member sees them)."""
    cursor = conn.cursor(row_factory=dict_row)
    areas = cursor.execute(
        """SELECT a.id, a.name_ja, a.name_en,
                  coalesce(sum(c.household_size) FILTER (WHERE c.status = 'safe'), 0)::int AS safe_people,
                  coalesce(sum(c.household_size) FILTER (WHERE c.status = 'shelter'), 0)::int
                    AS shelter_people,
                  count(c.*)::int AS households,
                  (SELECT count(*) FROM rescue_requests r WHERE r.area_id = a.id AND r.state = ANY(%s))::int
                    AS open_requests,
                  (SELECT coalesce(sum(people), 0) FROM rescue_requests r
                    WHERE r.area_id = a.id AND r.state = ANY(%s))::int AS people_waiting
           FROM alert_areas a LEFT JOIN safety_checkins c ON c.area_id = a.id
           GROUP BY a.id ORDER BY a.id""",
        (OPEN_STATES, OPEN_STATES),
    ).fetchall()
    shelters = cursor.execute(
        """SELECT s.id, s.name_ja, s.name_en, s.occupancy, s.capacity,
                  count(c.*)::int AS households, coalesce(sum(c.household_size), 0)::int AS checked_in
           FROM shelters s JOIN safety_checkins c ON c.shelter_id = s.id
           GROUP BY s.id ORDER BY s.id"""
    ).fetchall()
    return {"areas": areas, "shelters": shelters}


def purge(conn: psycopg.Connection, *, now: datetime, retention: timedelta) -> tuple[int, int]:
    """Delete check-ins and closed requests older than the retention period (an open
    request is never deleted by age: nobody is forgotten while waiting)."""
    cutoff = purge_before(now, retention=retention)
    checkins = conn.execute("DELETE FROM safety_checkins WHERE received_at < %s", (cutoff,)).rowcount
    requests = conn.execute(
        "DELETE FROM rescue_requests WHERE state <> ALL(%s) AND closed_at < %s", (OPEN_STATES, cutoff)
    ).rowcount
    return checkins, requests
