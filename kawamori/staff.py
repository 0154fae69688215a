"""Staff accounts: argon2id passwords, sessions, CSRF tokens and sign-in throttling.

Service functions take a connection and keyword arguments; ``now`` is passed in.

* **Passwords** are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile:
  3 passes, 64 MiB, 4 lanes); a stored hash made with older parameters is replaced at
  the next successful sign-in. A person chooses the password, so :func:`check_password`
  refuses short, common and guessable ones. There is no default password anywhere.
* **Signing in** answers the same (:class:`InvalidCredentials`) for an unknown user, a
  wrong password and a disabled account, and does the same argon2 work for all three
  (a dummy hash stands in for a missing user).
* **Throttling**: at most :data:`MAX_FAILURES_PER_USER` failures per user name and
  :data:`MAX_FAILURES_PER_CLIENT` per client address within :data:`FAILURE_WINDOW`;
  beyond that, :class:`Throttled` — whether or not the user exists.
* **Sessions**: a random token in the cookie, only its SHA-256 in ``staff_sessions``;
  it ends after :data:`IDLE_TIMEOUT` without requests and at the latest
  :data:`SESSION_LENGTH` after signing in. Each session has its own CSRF token.
  Disabling an account or changing its password ends its sessions; a role change takes
  effect on the next request (the role is read with the session).
* **Audit**: account changes and sign-ins go to ``staff_audit`` (who, whom, what, when).

Errors::

    StaffError
    ├── InvalidCredentials   wrong user name or password (or disabled) — same for all
    ├── Throttled            too many failures; ``retry_after`` seconds
    ├── NotSignedIn          no session, or it has ended
    ├── WeakPassword         refused by the password policy
    ├── InvalidAccount       bad user name, duplicate user, unknown user
    └── NotPermitted         the acting staff member's role does not allow it
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from psycopg.types.json import Jsonb

from alerts.model import Actor, Role
from kawamori.tokens import new_token as new_token
from kawamori.tokens import same as same
from kawamori.tokens import token_digest as token_digest

SESSION_LENGTH = timedelta(hours=12)  # one shift
IDLE_TIMEOUT = timedelta(hours=2)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most this often
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20
MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")

# Common passwords long enough to pass the length rule (the short ones fail that first).
COMMON = frozenset(
    {
        "password1234", "password12345", "password123456", "passwordpassword", "123456789012",
        "1234567890123", "12345678901234", "qwertyuiop12", "qwertyuiopasdf", "qwerty123456",
        "iloveyou1234", "administrator", "administrator1", "letmein12345", "welcome12345",
        "changeme1234", "kawamori1234", "kawamorikawamori", "abcdefghijkl", "abc123abc123",
        "aaaaaaaaaaaa", "000000000000", "111111111111", "1qaz2wsx3edc", "zaq12wsxcde3",
        "passw0rd1234", "p@ssw0rd1234", "asdfghjkl123", "superman1234", "trustno1trustno1",
        "football1234", "baseball1234", "monkey123456", "dragon123456", "sunshine1234",
    }
)  # fmt: skip


class StaffError(Exception):
    pass


class InvalidCredentials(StaffError):
    def __init__(self) -> None:
        super().__init__("wrong user name or password")


class Throttled(StaffError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after // 60 + 1} minutes")
        self.retry_after = retry_after


class NotSignedIn(StaffError):
    pass


class WeakPassword(StaffError):
    pass


class InvalidAccount(StaffError):
    pass


class NotPermitted(StaffError):
    pass


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    display_name: str
    role: Role
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Session:
    actor: Actor
    csrf_token: str
    expires_at: datetime


# --- pure helpers -------------------------------------------------------------------


@cache
def hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, RFC 9106 low-memory profile


@cache
def _dummy_hash() -> str:
    return hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time inside argon2). With no
    stored hash, a dummy hash is checked so the work and timing are the same."""
    try:
        return hasher().verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def normalise_username(username: str) -> str:
    return username.strip().lower()


def check_password(password: str, *, username: str = "", display_name: str = "") -> None:
    """Refuse short, common and guessable passwords (raises :class:`WeakPassword`)."""
    lowered = password.lower()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise WeakPassword("a password may have at most 1024 characters")
    if lowered in COMMON or len(set(lowered)) < 5:
        raise WeakPassword("this password is too common or too simple; choose another")
    for part in (username, *display_name.lower().split()):
        if len(part) >= 3 and part.lower() in lowered:
            raise WeakPassword("a password must not contain the user name or the person's name")


def generate_password() -> str:
    """A random password for a generated account (about 120 bits)."""
    return secrets.token_urlsafe(15)


# --- accounts -----------------------------------------------------------------------


def _audit(
    conn: psycopg.Connection, *, now: datetime, by: Actor | None, user_id: int | None, action: str, **details
) -> None:
    conn.execute(
        "INSERT INTO staff_audit (at, actor_id, user_id, action, details) VALUES (%s, %s, %s, %s, %s)",
        (now, by.id if by else None, user_id, action, Jsonb(details)),
    )


def _must_be_admin(by: Actor | None) -> None:
    """``by=None`` is the server's command line, which is trusted."""
    if by is not None and not by.role.at_least(Role.admin):
        raise NotPermitted("only an admin may manage staff accounts")


def _account(row) -> Account:
    return Account(row[0], row[1], row[2], Role(row[3]), row[4], row[5])


_ACCOUNT = "SELECT id, username, display_name, role, disabled, created_at FROM staff_users"


def create_user(
    conn: psycopg.Connection,
    *,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    now: datetime,
    by: Actor | None = None,
) -> Account:
    _must_be_admin(by)
    username = normalise_username(username)
    if not USERNAME.match(username):
        raise InvalidAccount("a user name has 2–64 characters: lower-case letters, digits, '.', '_' or '-'")
    display_name = display_name.strip() or username
    check_password(password, username=username, display_name=display_name)
    with conn.transaction():
        try:
            row = conn.execute(
                """INSERT INTO staff_users
                          (username, display_name, role, password_hash, created_at, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   RETURNING id, username, display_name, role, disabled, created_at""",
                (username, display_name, Role(role).value, hash_password(password), now, now),
            ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise InvalidAccount(f"a user named {username!r} already exists") from None
        _audit(conn, now=now, by=by, user_id=row[0], action="created", role=row[3])
    return _account(row)


def get_user(conn: psycopg.Connection, *, username: str) -> Account:
    row = conn.execute(f"{_ACCOUNT} WHERE username = %s", (normalise_username(username),)).fetchone()
    if row is None:
        raise InvalidAccount(f"no user named {username!r}")
    return _account(row)


def list_users(conn: psycopg.Connection) -> list[Account]:
    return [_account(row) for row in conn.execute(f"{_ACCOUNT} ORDER BY username").fetchall()]


def count_users(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM staff_users").fetchone()[0]


def _update(conn: psycopg.Connection, *, username: str, now: datetime, sql: str, params: tuple) -> Account:
    row = conn.execute(
        f"UPDATE staff_users SET {sql}, updated_at = %s WHERE username = %s "
        "RETURNING id, username, display_name, role, disabled, created_at",
        (*params, now, normalise_username(username)),
    ).fetchone()
    if row is None:
        raise InvalidAccount(f"no user named {username!r}")
    return _account(row)


def _other_active_admins(conn: psycopg.Connection, user_id: int) -> int:
    return conn.execute(
        "SELECT count(*) FROM staff_users WHERE role = 'admin' AND NOT disabled AND id <> %s", (user_id,)
    ).fetchone()[0]


def set_role(
    conn: psycopg.Connection, *, username: str, role: Role, now: datetime, by: Actor | None = None
) -> Account:
    _must_be_admin(by)
    with conn.transaction():
        before = get_user(conn, username=username)
        if before.role is Role.admin and role is not Role.admin and not _other_active_admins(conn, before.id):
            raise NotPermitted("this is the last admin; make someone else admin first")
        account = _update(conn, username=username, now=now, sql="role = %s", params=(Role(role).value,))
        _audit(
            conn, now=now, by=by, user_id=account.id, action="role", before=before.role, after=account.role
        )
    return account


def set_disabled(
    conn: psycopg.Connection, *, username: str, disabled: bool, now: datetime, by: Actor | None = None
) -> Account:
    """Disable (and sign out everywhere) or enable an account."""
    _must_be_admin(by)
    with conn.transaction():
        before = get_user(conn, username=username)
        if disabled and before.role is Role.admin and not _other_active_admins(conn, before.id):
            raise NotPermitted("this is the last admin; make someone else admin first")
        account = _update(conn, username=username, now=now, sql="disabled = %s", params=(disabled,))
        if disabled:
            conn.execute("DELETE FROM staff_sessions WHERE user_id = %s", (account.id,))
        _audit(conn, now=now, by=by, user_id=account.id, action="disabled" if disabled else "enabled")
    return account


def set_password(
    conn: psycopg.Connection, *, username: str, password: str, now: datetime, by: Actor | None = None
) -> Account:
    """Set a new password (admin or the command line); ends the user's sessions."""
    _must_be_admin(by)
    with conn.transaction():
        before = get_user(conn, username=username)
        check_password(password, username=before.username, display_name=before.display_name)
        account = _update(
            conn, username=username, now=now, sql="password_hash = %s", params=(hash_password(password),)
        )
        conn.execute("DELETE FROM staff_sessions WHERE user_id = %s", (account.id,))
        _audit(conn, now=now, by=by, user_id=account.id, action="password")
    return account


# --- signing in ---------------------------------------------------------------------


def _throttle(conn: psycopg.Connection, *, username: str, client: str, now: datetime) -> None:
    since = now - FAILURE_WINDOW
    row = conn.execute(
        """SELECT count(*) FILTER (WHERE username = %(u)s), min(failed_at) FILTER (WHERE username = %(u)s),
                  count(*) FILTER (WHERE client = %(c)s), min(failed_at) FILTER (WHERE client = %(c)s)
             FROM staff_login_failures
            WHERE failed_at > %(since)s AND (username = %(u)s OR client = %(c)s)""",
        {"u": username, "c": client, "since": since},
    ).fetchone()
    by_user, first_user, by_client, first_client = row
    oldest = None
    if by_user >= MAX_FAILURES_PER_USER:
        oldest = first_user
    if by_client >= MAX_FAILURES_PER_CLIENT:
        oldest = min(filter(None, (oldest, first_client)))
    if oldest is not None:
        raise Throttled(max(1, int((oldest + FAILURE_WINDOW - now).total_seconds())))


def sign_in(
    conn: psycopg.Connection, *, username: str, password: str, client: str, now: datetime
) -> tuple[str, Session]:
    """Check the password and open a session; returns the cookie token and the session.
    Raises :class:`Throttled` or :class:`InvalidCredentials` (the same for every reason)."""
    username = normalise_username(username)[:64]
    client = client[:64]
    _throttle(conn, username=username, client=client, now=now)
    row = conn.execute(
        """SELECT id, username, display_name, role, password_hash, disabled
             FROM staff_users WHERE username = %s""",
        (username,),
    ).fetchone()
    ok = verify_password(password, row[4] if row else None)
    if not ok or row is None or row[5]:
        with conn.transaction():
            conn.execute("DELETE FROM staff_login_failures WHERE failed_at < %s", (now - timedelta(days=1),))
            conn.execute(
                "INSERT INTO staff_login_failures (username, client, failed_at) VALUES (%s, %s, %s)",
                (username, client, now),
            )
        raise InvalidCredentials()
    actor = Actor(row[0], row[1], row[2], Role(row[3]))
    token, csrf = new_token(), new_token()
    expires = now + SESSION_LENGTH
    with conn.transaction():
        if hasher().check_needs_rehash(row[4]):
            conn.execute(
                "UPDATE staff_users SET password_hash = %s WHERE id = %s", (hash_password(password), actor.id)
            )
        conn.execute("DELETE FROM staff_login_failures WHERE username = %s", (username,))
        conn.execute(
            "DELETE FROM staff_sessions WHERE expires_at < %s OR last_seen < %s", (now, now - IDLE_TIMEOUT)
        )
        conn.execute(
            """INSERT INTO staff_sessions
                      (token_digest, user_id, csrf_token, created_at, last_seen, expires_at)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (token_digest(token), actor.id, csrf, now, now, expires),
        )
        _audit(conn, now=now, by=actor, user_id=actor.id, action="signed_in")
    return token, Session(actor, csrf, expires)


def current_session(conn: psycopg.Connection, *, token: str | None, now: datetime) -> Session:
    """The signed-in staff member (with their role as of now), or :class:`NotSignedIn`."""
    if not token:
        raise NotSignedIn("not signed in")
    digest = token_digest(token)
    row = conn.execute(
        """SELECT u.id, u.username, u.display_name, u.role, s.csrf_token, s.expires_at, s.last_seen
             FROM staff_sessions s JOIN staff_users u ON u.id = s.user_id
            WHERE s.token_digest = %s AND NOT u.disabled""",
        (digest,),
    ).fetchone()
    if row is None or row[5] <= now or row[6] + IDLE_TIMEOUT <= now:
        raise NotSignedIn("the session has ended; sign in again")
    if now - row[6] >= TOUCH_EVERY:
        conn.execute("UPDATE staff_sessions SET last_seen = %s WHERE token_digest = %s", (now, digest))
    return Session(Actor(row[0], row[1], row[2], Role(row[3])), row[4], row[5])


def sign_out(conn: psycopg.Connection, *, token: str, now: datetime) -> None:
    row = conn.execute(
        "DELETE FROM staff_sessions WHERE token_digest = %s RETURNING user_id", (token_digest(token),)
    ).fetchone()
    if row is not None:
        conn.execute(
            "INSERT INTO staff_audit (at, actor_id, user_id, action) VALUES (%s, %s, %s, 'signed_out')",
            (now, row[0], row[0]),
        )
