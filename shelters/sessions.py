"""Access codes and staff sessions in PostgreSQL. Setting a new code ends every
session of that shelter. Wrong codes are throttled per client address with growing
delays (:data:`PER_CLIENT`, :mod:`kawamori.throttle`), checked before the scrypt work,
so nobody can guess fast or make the server hash for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from kawamori.throttle import Rule
from shelters import access
from shelters.errors import AccessDenied, Throttled, UnknownShelter

SESSION_LENGTH = timedelta(hours=12)  # one shift
PER_CLIENT = Rule(free=10, base=timedelta(seconds=10))
FAILURE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Session:
    shelter_id: str
    csrf_token: str
    expires_at: datetime


def set_access_code(conn: psycopg.Connection, *, shelter_id: str, code: str | None = None) -> str:
    """Give a shelter a new access code (generated unless given); returns it. Only
    its hash is stored, so this is the one chance to write it down."""
    code = code or access.new_code()
    if len(access.normalise(code)) < 8:
        raise AccessDenied("an access code needs at least 8 characters")
    with conn.transaction():
        row = conn.execute(
            "UPDATE shelters SET access_code_hash = %s WHERE id = %s RETURNING id",
            (access.hash_code(code), shelter_id),
        ).fetchone()
        if row is None:
            raise UnknownShelter(shelter_id)
        conn.execute("DELETE FROM shelter_sessions WHERE shelter_id = %s", (shelter_id,))
    return code


def open_session(
    conn: psycopg.Connection, *, shelter_id: str, code: str, now: datetime, client: str = "unknown"
) -> tuple[str, Session]:
    """Check the code and open a session; returns the cookie token and the session.
    Raises :class:`Throttled` while ``client`` must wait, else :class:`AccessDenied`
    for a wrong shelter or code."""
    client = client[:64]
    failures, last = conn.execute(
        "SELECT count(*), max(failed_at) FROM shelter_login_failures WHERE client = %s AND failed_at > %s",
        (client, now - FAILURE_WINDOW),
    ).fetchone()
    if wait := PER_CLIENT.wait(failures, last, now=now):
        raise Throttled(wait)
    row = conn.execute("SELECT access_code_hash FROM shelters WHERE id = %s", (shelter_id,)).fetchone()
    # the same answer (and the same scrypt work) whether the shelter exists or not
    if not access.verify_code(code, row[0] if row else access.hash_code("unknown-shelter")) or row is None:
        with conn.transaction():
            conn.execute(
                "DELETE FROM shelter_login_failures WHERE failed_at < %s", (now - timedelta(days=1),)
            )
            conn.execute(
                "INSERT INTO shelter_login_failures (client, failed_at) VALUES (%s, %s)", (client, now)
            )
        raise AccessDenied("wrong shelter or access code")
    token, csrf = access.new_token(), access.new_token()
    expires = now + SESSION_LENGTH
    with conn.transaction():
        conn.execute("DELETE FROM shelter_sessions WHERE expires_at < %s", (now,))
        conn.execute(
            """INSERT INTO shelter_sessions (token_digest, shelter_id, csrf_token, created_at, expires_at)
               VALUES (%s, %s, %s, %s, %s)""",
            (access.token_digest(token), shelter_id, csrf, now, expires),
        )
    return token, Session(shelter_id, csrf, expires)


def current_session(conn: psycopg.Connection, *, token: str | None, now: datetime) -> Session:
    if not token:
        raise AccessDenied("not signed in")
    row = conn.execute(
        "SELECT shelter_id, csrf_token, expires_at FROM shelter_sessions WHERE token_digest = %s",
        (access.token_digest(token),),
    ).fetchone()
    if row is None or row[2] <= now:
        raise AccessDenied("the session has ended; sign in again")
    return Session(*row)


def close_session(conn: psycopg.Connection, *, token: str) -> None:
    conn.execute("DELETE FROM shelter_sessions WHERE token_digest = %s", (access.token_digest(token),))
