"""Access codes, staff sessions and staff accounts' shelters in PostgreSQL.

One browser holds one session (one cookie) that may count for several shelters: each
shelter is added by signing in with its access code. Issuing a new code does not sign
out tablets already counting unless asked (``revoke=True``): the code is for signing
in, the session for the shift. A staff account of the alert console (operator or above)
counts for the shelters assigned to it (``kawamori shelters assign``).

Wrong codes are throttled per client address with growing delays (:data:`PER_CLIENT`,
:mod:`kawamori.throttle`), checked before the scrypt work, so nobody can guess fast or
make the server hash for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from kawamori.model import Actor, Role
from kawamori.throttle import Rule
from shelters import access
from shelters.errors import AccessDenied, Throttled, UnknownShelter

SESSION_LENGTH = timedelta(hours=12)  # one shift
PER_CLIENT = Rule(free=10, base=timedelta(seconds=10))
FAILURE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Session:
    shelters: tuple[str, ...]
    csrf_token: str
    expires_at: datetime

    @property
    def shelter_id(self) -> str:
        """The shelter signed in first (a one-shelter tablet's shelter)."""
        return self.shelters[0]


def set_access_code(
    conn: psycopg.Connection, *, shelter_id: str, code: str | None = None, revoke: bool = False
) -> str:
    """Give a shelter a new access code (generated unless given); returns it. Only
    its hash is stored, so this is the one chance to write it down. Tablets signed in
    at the shelter stay signed in unless ``revoke``."""
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
        if revoke:
            revoke_sessions(conn, shelter_id=shelter_id)
    return code


def revoke_sessions(conn: psycopg.Connection, *, shelter_id: str) -> int:
    """Sign every browser out of one shelter (their other shelters stay); returns how many."""
    with conn.transaction():
        gone = conn.execute(
            "DELETE FROM shelter_session_shelters WHERE shelter_id = %s", (shelter_id,)
        ).rowcount
        conn.execute(
            """DELETE FROM shelter_sessions s WHERE NOT EXISTS
                   (SELECT 1 FROM shelter_session_shelters x WHERE x.token_digest = s.token_digest)"""
        )
    return gone


def _shelters(conn: psycopg.Connection, digest: str) -> tuple[str, ...]:
    rows = conn.execute(
        """SELECT shelter_id FROM shelter_session_shelters WHERE token_digest = %s
           ORDER BY signed_in_at, shelter_id""",
        (digest,),
    ).fetchall()
    return tuple(r[0] for r in rows)


def open_session(
    conn: psycopg.Connection,
    *,
    shelter_id: str,
    code: str,
    now: datetime,
    token: str | None = None,
    client: str = "unknown",
) -> tuple[str, Session]:
    """Check the code; add the shelter to the browser's session (``token``, if it is
    still valid) or open a new one. Returns the cookie token and the session. Raises
    :class:`Throttled` while ``client`` must wait, else :class:`AccessDenied` for a
    wrong shelter or code."""
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
    with conn.transaction():
        conn.execute("DELETE FROM shelter_sessions WHERE expires_at < %s", (now,))
        existing = None
        if token:
            existing = conn.execute(
                "SELECT token_digest FROM shelter_sessions WHERE token_digest = %s AND expires_at > %s",
                (access.token_digest(token), now),
            ).fetchone()
        if existing is None:
            token = access.new_token()
            conn.execute(
                """INSERT INTO shelter_sessions (token_digest, csrf_token, created_at, expires_at)
                   VALUES (%s, %s, %s, %s)""",
                (access.token_digest(token), access.new_token(), now, now + SESSION_LENGTH),
            )
        assert token is not None
        conn.execute(
            """INSERT INTO shelter_session_shelters (token_digest, shelter_id, signed_in_at)
               VALUES (%s, %s, %s) ON CONFLICT DO NOTHING""",
            (access.token_digest(token), shelter_id, now),
        )
    return token, current_session(conn, token=token, now=now)


def current_session(conn: psycopg.Connection, *, token: str | None, now: datetime) -> Session:
    if not token:
        raise AccessDenied("not signed in")
    digest = access.token_digest(token)
    row = conn.execute(
        "SELECT csrf_token, expires_at FROM shelter_sessions WHERE token_digest = %s", (digest,)
    ).fetchone()
    shelters = _shelters(conn, digest) if row else ()
    if row is None or row[1] <= now or not shelters:
        raise AccessDenied("the session has ended; sign in again")
    return Session(shelters, row[0], row[1])


def close_session(conn: psycopg.Connection, *, token: str, shelter_id: str | None = None) -> None:
    """Sign out of one shelter, or (``None``) out of every shelter of the session."""
    digest = access.token_digest(token)
    with conn.transaction():
        if shelter_id is not None:
            conn.execute(
                "DELETE FROM shelter_session_shelters WHERE token_digest = %s AND shelter_id = %s",
                (digest, shelter_id),
            )
        if shelter_id is None or not _shelters(conn, digest):
            conn.execute("DELETE FROM shelter_sessions WHERE token_digest = %s", (digest,))


# --- staff accounts -------------------------------------------------------------------


def assign(
    conn: psycopg.Connection, *, username: str, shelter_ids: list[str], remove: bool = False
) -> list[str]:
    """Let a staff account count for shelters (or stop, ``remove``); returns the
    account's shelters afterwards."""
    with conn.transaction():
        user = conn.execute("SELECT id FROM staff_users WHERE username = %s", (username,)).fetchone()
        if user is None:
            raise AccessDenied(f"no staff account {username!r}")
        for shelter_id in shelter_ids:
            if conn.execute("SELECT 1 FROM shelters WHERE id = %s", (shelter_id,)).fetchone() is None:
                raise UnknownShelter(shelter_id)
            if remove:
                conn.execute(
                    "DELETE FROM shelter_assignments WHERE user_id = %s AND shelter_id = %s",
                    (user[0], shelter_id),
                )
            else:
                conn.execute(
                    """INSERT INTO shelter_assignments (user_id, shelter_id) VALUES (%s, %s)
                       ON CONFLICT DO NOTHING""",
                    (user[0], shelter_id),
                )
        rows = conn.execute(
            "SELECT shelter_id FROM shelter_assignments WHERE user_id = %s ORDER BY shelter_id", (user[0],)
        ).fetchall()
    return [r[0] for r in rows]


def account_shelters(conn: psycopg.Connection, actor: Actor) -> tuple[str, ...]:
    """The shelters a signed-in staff member may count for: the ones assigned to the
    account, for an operator or above (a viewer sees, never counts)."""
    if not actor.role.at_least(Role.operator):
        return ()
    rows = conn.execute(
        "SELECT shelter_id FROM shelter_assignments WHERE user_id = %s ORDER BY shelter_id", (actor.id,)
    ).fetchall()
    return tuple(r[0] for r in rows)
