"""Staff accounts: argon2id passwords, sessions, CSRF tokens and sign-in throttling.

Service functions take a connection and keyword arguments; ``now`` is passed in.

* **Passwords** are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile:
  3 passes, 64 MiB, 4 lanes); a stored hash made with older parameters is replaced at
  the next successful sign-in. A person chooses the password, so :func:`check_password`
  refuses short, common and guessable ones. There is no default password anywhere.
* **Signing in** answers the same (:class:`InvalidCredentials`) for an unknown user, a
  wrong password and a disabled account, and does the same argon2 work for all three
  (a dummy hash stands in for a missing user).
* **Throttling** (:mod:`kawamori.throttle`: growing delays, never a lockout): per (user
  name, client address) after :data:`PER_USER_CLIENT` failures, per client address
  after :data:`PER_CLIENT`, and per user name from unknown browsers after
  :data:`PER_USER_UNKNOWN` (many addresses at once) — whether or not the user exists.
  A browser that has signed in to the account before holds a **device cookie**; its
  failures count only against itself (:data:`PER_DEVICE`), so nobody can lock a
  person out of the browser they use. ``kawamori staff unlock`` clears the failures.
* **Second factor**: an account with a TOTP secret (RFC 6238, ``kawamori staff totp``)
  needs its 6-digit code at sign-in, each code once; approvers and admins can be
  required to have one (``require_totp``).
* **Generated passwords** (the first admin's) must be changed at the first sign-in:
  until then the session can do nothing but :func:`change_own_password`.
* **Sessions**: a random token in the cookie, only its SHA-256 in ``staff_sessions``;
  it ends after :data:`IDLE_TIMEOUT` without requests and at the latest
  :data:`SESSION_LENGTH` after signing in. Each session has its own CSRF token.
  Disabling an account or changing its password ends its sessions; a role change takes
  effect on the next request (the role is read with the session).
* **Audit**: account changes and sign-ins go to ``staff_audit`` (who, whom, what, when).

Errors::

    StaffError
    ├── InvalidCredentials   wrong user name or password (or disabled) — same for all
    ├── SecondFactorNeeded   the password was right; the TOTP code is missing or wrong
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

from kawamori import totp
from kawamori.model import Actor, Role
from kawamori.throttle import Rule
from kawamori.tokens import new_token as new_token
from kawamori.tokens import same as same
from kawamori.tokens import token_digest as token_digest

SESSION_LENGTH = timedelta(hours=12)  # one shift
IDLE_TIMEOUT = timedelta(hours=2)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most this often
FAILURE_WINDOW = timedelta(minutes=15)
PER_USER_CLIENT = Rule(free=5)  # one person mistyping on one machine
PER_CLIENT = Rule(free=20)  # one address guessing many names
PER_USER_UNKNOWN = Rule(free=100)  # one name guessed from many addresses
PER_DEVICE = Rule(free=5)  # a browser that has signed in to the account before
DEVICE_LIFETIME = timedelta(days=365)
MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's list (from leaked password sets),
    lower-cased; the short ones fail the length rule first."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"]) | {
        "kawamorikawamori",
        "kawamori1234",
        "administrator1",
    }


class StaffError(Exception):
    pass


class InvalidCredentials(StaffError):
    def __init__(self) -> None:
        super().__init__("wrong user name or password")


class Throttled(StaffError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after // 60 + 1} minutes")
        self.retry_after = retry_after


class SecondFactorNeeded(StaffError):
    def __init__(self) -> None:
        super().__init__("enter the 6-digit code from the authenticator app")


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
    must_change_password: bool = False  # a generated password: nothing else until it is changed
    device_token: str | None = None  # only from sign_in: a new device cookie for this browser


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
    if lowered in common_passwords() or len(set(lowered)) < 5:
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
    must_change_password: bool = False,
) -> Account:
    """``must_change_password``: a generated password (the first admin's), to be replaced
    at the first sign-in."""
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
                          (username, display_name, role, password_hash, created_at, updated_at,
                           must_change_password)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)
                   RETURNING id, username, display_name, role, disabled, created_at""",
                (
                    username,
                    display_name,
                    Role(role).value,
                    hash_password(password),
                    now,
                    now,
                    must_change_password,
                ),
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


def set_totp(conn: psycopg.Connection, *, username: str, enable: bool, now: datetime) -> str | None:
    """Give an account a new TOTP secret (returned once, for the authenticator app) or
    remove it (the command line: a lost phone)."""
    secret = totp.new_secret() if enable else None
    with conn.transaction():
        account = _update(
            conn, username=username, now=now, sql="totp_secret = %s, totp_last_step = NULL", params=(secret,)
        )
        _audit(conn, now=now, by=None, user_id=account.id, action="totp" if enable else "totp_removed")
    return secret


def has_totp(conn: psycopg.Connection, *, user_id: int) -> bool:
    row = conn.execute("SELECT totp_secret IS NOT NULL FROM staff_users WHERE id = %s", (user_id,)).fetchone()
    return bool(row and row[0])


def needs_totp(conn: psycopg.Connection, *, roles: frozenset[Role]) -> list[str]:
    """Active accounts of ``roles`` without a second factor (what ``require_totp`` refuses)."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT username FROM staff_users WHERE NOT disabled AND totp_secret IS NULL AND role = ANY(%s) "
            "ORDER BY username",
            ([str(r) for r in roles],),
        )
    ]


# --- signing in ---------------------------------------------------------------------


def _known_device(conn: psycopg.Connection, *, username: str, device: str | None) -> str | None:
    """The digest of ``device`` if it is a device cookie this account signed in with."""
    if not device:
        return None
    digest = token_digest(device)
    row = conn.execute(
        """SELECT 1 FROM staff_devices d JOIN staff_users u ON u.id = d.user_id
            WHERE d.digest = %s AND u.username = %s""",
        (digest, username),
    ).fetchone()
    return digest if row else None


def _throttle(
    conn: psycopg.Connection, *, username: str, client: str, device: str | None, now: datetime
) -> None:
    """Raise :class:`Throttled` while any rule that applies asks to wait. A known
    browser (``device``: its digest) is judged only by its own failures."""
    params = {"u": username, "c": client, "d": device, "since": now - FAILURE_WINDOW}
    if device is not None:
        rows = [
            (PER_DEVICE, "username = %(u)s AND device = %(d)s"),
        ]
    else:
        rows = [
            (PER_USER_CLIENT, "username = %(u)s AND client = %(c)s AND device IS NULL"),
            (PER_CLIENT, "client = %(c)s AND device IS NULL"),
            (PER_USER_UNKNOWN, "username = %(u)s AND device IS NULL"),
        ]
    columns = ", ".join(f"count(*) FILTER (WHERE {w}), max(failed_at) FILTER (WHERE {w})" for _, w in rows)
    found = conn.execute(
        f"""SELECT {columns} FROM staff_login_failures
             WHERE failed_at > %(since)s AND (username = %(u)s OR client = %(c)s)""",
        params,
    ).fetchone()
    wait = max(rule.wait(found[2 * i], found[2 * i + 1], now=now) for i, (rule, _) in enumerate(rows))
    if wait:
        raise Throttled(wait)


def _failed(conn: psycopg.Connection, *, username: str, client: str, device: str | None, now) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM staff_login_failures WHERE failed_at < %s", (now - timedelta(days=1),))
        conn.execute(
            "INSERT INTO staff_login_failures (username, client, device, failed_at) VALUES (%s, %s, %s, %s)",
            (username, client, device, now),
        )


def sign_in(
    conn: psycopg.Connection,
    *,
    username: str,
    password: str,
    client: str,
    now: datetime,
    device: str | None = None,
    code: str = "",
) -> tuple[str, Session]:
    """Check the password (and the TOTP ``code`` where the account has a second factor)
    and open a session; returns the cookie token and the session. ``device``: the
    browser's device cookie, if any; the session carries a new one when it had none.
    Raises :class:`Throttled`, :class:`InvalidCredentials` (the same for every reason)
    or :class:`SecondFactorNeeded`."""
    username = normalise_username(username)[:64]
    client = client[:64]
    known = _known_device(conn, username=username, device=device)
    _throttle(conn, username=username, client=client, device=known, now=now)
    row = conn.execute(
        """SELECT id, username, display_name, role, password_hash, disabled, must_change_password,
                  totp_secret, totp_last_step
             FROM staff_users WHERE username = %s""",
        (username,),
    ).fetchone()
    ok = verify_password(password, row[4] if row else None)
    if not ok or row is None or row[5]:
        _failed(conn, username=username, client=client, device=known, now=now)
        raise InvalidCredentials()
    actor = Actor(row[0], row[1], row[2], Role(row[3]))
    if row[7] is not None:
        step = totp.accepted_step(row[7], code, now=now, last_step=row[8])
        if step is None:
            if code:  # a wrong code counts like a wrong password
                _failed(conn, username=username, client=client, device=known, now=now)
            raise SecondFactorNeeded()
        conn.execute("UPDATE staff_users SET totp_last_step = %s WHERE id = %s", (step, actor.id))
    token, csrf = new_token(), new_token()
    new_device = None if known else new_token()
    expires = now + SESSION_LENGTH
    with conn.transaction():
        if hasher().check_needs_rehash(row[4]):
            conn.execute(
                "UPDATE staff_users SET password_hash = %s WHERE id = %s", (hash_password(password), actor.id)
            )
        conn.execute(
            "DELETE FROM staff_login_failures WHERE username = %s AND client = %s", (username, client)
        )
        conn.execute(
            "DELETE FROM staff_sessions WHERE expires_at < %s OR last_seen < %s", (now, now - IDLE_TIMEOUT)
        )
        conn.execute(
            """INSERT INTO staff_sessions
                      (token_digest, user_id, csrf_token, created_at, last_seen, expires_at)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (token_digest(token), actor.id, csrf, now, now, expires),
        )
        conn.execute("DELETE FROM staff_devices WHERE last_used < %s", (now - DEVICE_LIFETIME,))
        if known:
            conn.execute("UPDATE staff_devices SET last_used = %s WHERE digest = %s", (now, known))
        else:
            conn.execute(
                "INSERT INTO staff_devices (digest, user_id, created_at, last_used) VALUES (%s, %s, %s, %s)",
                (token_digest(new_device), actor.id, now, now),
            )
        _audit(conn, now=now, by=actor, user_id=actor.id, action="signed_in")
    return token, Session(actor, csrf, expires, must_change_password=row[6], device_token=new_device)


def unlock(conn: psycopg.Connection, *, username: str | None = None, client: str | None = None) -> int:
    """Forget the failed sign-ins of a user name and/or a client address (the
    command line's ``kawamori staff unlock``); returns how many were forgotten."""
    if username is None and client is None:
        raise InvalidAccount("name a user or a client address")
    return conn.execute(
        """DELETE FROM staff_login_failures
            WHERE (%(u)s::text IS NULL OR username = %(u)s) AND (%(c)s::text IS NULL OR client = %(c)s)""",
        {"u": normalise_username(username) if username else None, "c": client},
    ).rowcount


def change_own_password(
    conn: psycopg.Connection, *, token: str, current: str, new: str, now: datetime
) -> Session:
    """The signed-in person sets a new password (the current one is asked again); ends
    their other sessions and clears a forced change."""
    session = current_session(conn, token=token, now=now)
    row = conn.execute("SELECT password_hash FROM staff_users WHERE id = %s", (session.actor.id,)).fetchone()
    if not verify_password(current, row[0]):
        raise InvalidCredentials()
    if same(current, new):
        raise WeakPassword("choose a password different from the current one")
    check_password(new, username=session.actor.username, display_name=session.actor.display_name)
    with conn.transaction():
        conn.execute(
            "UPDATE staff_users SET password_hash = %s, must_change_password = false, updated_at = %s "
            "WHERE id = %s",
            (hash_password(new), now, session.actor.id),
        )
        conn.execute(
            "DELETE FROM staff_sessions WHERE user_id = %s AND token_digest <> %s",
            (session.actor.id, token_digest(token)),
        )
        _audit(conn, now=now, by=session.actor, user_id=session.actor.id, action="password")
    return Session(session.actor, session.csrf_token, session.expires_at)


def current_session(conn: psycopg.Connection, *, token: str | None, now: datetime) -> Session:
    """The signed-in staff member (with their role as of now), or :class:`NotSignedIn`."""
    if not token:
        raise NotSignedIn("not signed in")
    digest = token_digest(token)
    row = conn.execute(
        """SELECT u.id, u.username, u.display_name, u.role, s.csrf_token, s.expires_at, s.last_seen,
                  u.must_change_password
             FROM staff_sessions s JOIN staff_users u ON u.id = s.user_id
            WHERE s.token_digest = %s AND NOT u.disabled""",
        (digest,),
    ).fetchone()
    if row is None or row[5] <= now or row[6] + IDLE_TIMEOUT <= now:
        raise NotSignedIn("the session has ended; sign in again")
    if now - row[6] >= TOUCH_EVERY:
        conn.execute("UPDATE staff_sessions SET last_seen = %s WHERE token_digest = %s", (now, digest))
    return Session(Actor(row[0], row[1], row[2], Role(row[3])), row[4], row[5], must_change_password=row[7])


def sign_out(conn: psycopg.Connection, *, token: str, now: datetime) -> None:
    row = conn.execute(
        "DELETE FROM staff_sessions WHERE token_digest = %s RETURNING user_id", (token_digest(token),)
    ).fetchone()
    if row is not None:
        conn.execute(
            "INSERT INTO staff_audit (at, actor_id, user_id, action) VALUES (%s, %s, %s, 'signed_out')",
            (now, row[0], row[0]),
        )
