"""Staff accounts against a real database: hashing, sessions, throttling, the CLI."""

from __future__ import annotations

import contextlib
import stat
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from kawamori import staff, totp
from kawamori.model import Actor, Role
from kawamori_app.cli import app
from kawamori_app.stack import create_first_admin

T0 = datetime(2026, 9, 20, 21, 0, tzinfo=UTC)
GOOD = "kawa-river-night-42"
runner = CliRunner()


def add(conn, username="sato", role=Role.operator, password=GOOD, name="佐藤 花子"):
    return staff.create_user(conn, username=username, display_name=name, role=role, password=password, now=T0)


@pytest.mark.parametrize(
    "password",
    ["short", "password1234", "aaaaaaaaaaaaaaa", "121212121212", "my-sato-password", "hanako-2026-x"],
)
def test_weak_passwords_are_refused(password):
    with pytest.raises(staff.WeakPassword):
        staff.check_password(password, username="sato", display_name="佐藤 hanako")


def test_hash_is_argon2id_and_verifies():
    stored = staff.hash_password(GOOD)
    assert stored.startswith("$argon2id$")
    assert staff.verify_password(GOOD, stored)
    assert not staff.verify_password("wrong-password-1", stored)
    assert not staff.verify_password(GOOD, None)  # dummy hash: same work, never true
    assert not staff.verify_password(GOOD, "not a hash")


def test_sign_in_session_and_sign_out(conn):
    account = add(conn)
    row = conn.execute("SELECT password_hash FROM staff_users").fetchone()
    assert row[0].startswith("$argon2id$") and GOOD not in row[0]
    token, session = staff.sign_in(conn, username=" SATO ", password=GOOD, client="10.0.0.1", now=T0)
    assert session.actor == Actor(account.id, "sato", "佐藤 花子", Role.operator)
    digest = conn.execute("SELECT token_digest, csrf_token FROM staff_sessions").fetchone()
    assert digest == (staff.token_digest(token), session.csrf_token) and token not in digest
    assert staff.current_session(conn, token=token, now=T0 + timedelta(minutes=5)).actor.id == account.id

    staff.set_role(conn, username="sato", role=Role.viewer, now=T0)  # effective at once
    assert staff.current_session(conn, token=token, now=T0).actor.role is Role.viewer

    staff.sign_out(conn, token=token, now=T0)
    with pytest.raises(staff.NotSignedIn):
        staff.current_session(conn, token=token, now=T0)
    actions = [r[0] for r in conn.execute("SELECT action FROM staff_audit ORDER BY id")]
    assert actions == ["created", "signed_in", "role", "signed_out"]


def test_sessions_end_when_idle_or_too_old(conn):
    add(conn)
    token, _ = staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0)
    with pytest.raises(staff.NotSignedIn):
        staff.current_session(conn, token=token, now=T0 + staff.IDLE_TIMEOUT)
    token, _ = staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0)
    now = T0
    while now < T0 + staff.SESSION_LENGTH - timedelta(hours=1):  # kept alive by use...
        now += timedelta(hours=1)
        staff.current_session(conn, token=token, now=now)
    with pytest.raises(staff.NotSignedIn):  # ...but not beyond one shift
        staff.current_session(conn, token=token, now=T0 + staff.SESSION_LENGTH)
    with pytest.raises(staff.NotSignedIn):
        staff.current_session(conn, token="made-up", now=T0)


def test_disable_and_new_password_end_sessions(conn):
    add(conn)
    add(conn, username="boss", role=Role.admin)
    token, _ = staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0)
    staff.set_disabled(conn, username="sato", disabled=True, now=T0)
    with pytest.raises(staff.NotSignedIn):
        staff.current_session(conn, token=token, now=T0)
    with pytest.raises(staff.InvalidCredentials):
        staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0)
    staff.set_disabled(conn, username="sato", disabled=False, now=T0)
    token, _ = staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0)
    staff.set_password(conn, username="sato", password="another-good-one-7", now=T0)
    with pytest.raises(staff.NotSignedIn):
        staff.current_session(conn, token=token, now=T0)
    staff.sign_in(conn, username="sato", password="another-good-one-7", client="c", now=T0)


def test_only_admins_manage_accounts_and_the_last_admin_stays(conn):
    operator = add(conn)
    boss = add(conn, username="boss", role=Role.admin)
    as_operator = Actor(operator.id, "sato", "佐藤", Role.operator)
    with pytest.raises(staff.NotPermitted):
        staff.set_role(conn, username="sato", role=Role.admin, now=T0, by=as_operator)
    with pytest.raises(staff.NotPermitted):
        staff.create_user(
            conn, username="x2", display_name="", role=Role.admin, password=GOOD, now=T0, by=as_operator
        )
    with pytest.raises(staff.NotPermitted):
        staff.set_disabled(conn, username="boss", disabled=True, now=T0)
    with pytest.raises(staff.NotPermitted):
        staff.set_role(conn, username="boss", role=Role.viewer, now=T0)
    as_boss = Actor(boss.id, "boss", "boss", Role.admin)
    staff.set_role(conn, username="sato", role=Role.admin, now=T0, by=as_boss)
    staff.set_role(conn, username="boss", role=Role.approver, now=T0, by=as_boss)
    assert conn.execute(
        "SELECT actor_id, details FROM staff_audit WHERE action = 'role' ORDER BY id DESC"
    ).fetchone() == (boss.id, {"before": "admin", "after": "approver"})
    with pytest.raises(staff.InvalidAccount):
        add(conn)  # duplicate
    with pytest.raises(staff.InvalidAccount):
        add(conn, username="Bad Name")


def test_throttling_per_user_and_client_is_the_same_whether_the_user_exists(conn):
    add(conn)
    for username in ("sato", "nobody"):
        for _ in range(staff.PER_USER_CLIENT.free):
            with pytest.raises(staff.InvalidCredentials) as error:
                staff.sign_in(conn, username=username, password="wrong", client="c1", now=T0)
            assert str(error.value) == "wrong user name or password"
        with pytest.raises(staff.Throttled) as throttled:  # even the right password is not checked
            staff.sign_in(conn, username=username, password=GOOD, client="c1", now=T0 + timedelta(seconds=10))
        assert throttled.value.retry_after == 20
    # the delay ends by itself, and other places are not affected meanwhile
    staff.sign_in(conn, username="sato", password=GOOD, client="c2", now=T0 + timedelta(seconds=10))
    staff.sign_in(conn, username="sato", password=GOOD, client="c1", now=T0 + timedelta(seconds=30))


def test_delays_grow_with_each_failure(conn):
    add(conn)
    now, waits = T0, []
    for _ in range(staff.PER_USER_CLIENT.free + 4):
        try:
            staff.sign_in(conn, username="sato", password="wrong", client="c1", now=now)
        except staff.Throttled as error:
            waits.append(error.retry_after)
            now += timedelta(seconds=error.retry_after)
            with pytest.raises(staff.InvalidCredentials):
                staff.sign_in(conn, username="sato", password="wrong", client="c1", now=now)
        except staff.InvalidCredentials:
            pass
    assert waits == [30, 60, 120, 240]


def test_throttling_by_client_address(conn):
    add(conn)
    for i in range(staff.PER_CLIENT.free):
        with pytest.raises(staff.InvalidCredentials):
            staff.sign_in(conn, username=f"guess{i}", password="wrong", client="203.0.113.9", now=T0)
    with pytest.raises(staff.Throttled):
        staff.sign_in(conn, username="sato", password=GOOD, client="203.0.113.9", now=T0)
    staff.sign_in(conn, username="sato", password=GOOD, client="198.51.100.1", now=T0)


def test_a_known_browser_is_never_locked_out_by_someone_elses_failures(conn):
    add(conn)
    _, session = staff.sign_in(conn, username="sato", password=GOOD, client="office", now=T0)
    device = session.device_token
    assert device and conn.execute("SELECT digest FROM staff_devices").fetchone()[0] != device
    for i in range(staff.PER_USER_UNKNOWN.free + 1):  # guessed from many addresses
        with contextlib.suppress(staff.InvalidCredentials, staff.Throttled):
            staff.sign_in(conn, username="sato", password="wrong", client=f"bot{i}", now=T0)
    with pytest.raises(staff.Throttled):  # a new browser waits...
        staff.sign_in(conn, username="sato", password=GOOD, client="office", now=T0)
    _, again = staff.sign_in(conn, username="sato", password=GOOD, client="office", now=T0, device=device)
    assert again.device_token is None  # ...the known one signs in, and keeps its cookie
    with pytest.raises(staff.Throttled):  # another account's cookie does not count
        staff.sign_in(conn, username="sato", password=GOOD, client="office", now=T0, device="made-up")
    assert staff.unlock(conn, username="sato") > 0
    staff.sign_in(conn, username="sato", password=GOOD, client="office", now=T0)


def test_a_second_factor_is_asked_for_and_each_code_is_used_once(conn):
    add(conn)
    secret = staff.set_totp(conn, username="sato", enable=True, now=T0)
    with pytest.raises(staff.SecondFactorNeeded):
        staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0)
    code = totp.code_at(secret, T0)
    with pytest.raises(staff.SecondFactorNeeded):
        staff.sign_in(
            conn,
            username="sato",
            password=GOOD,
            client="c",
            now=T0,
            code="000000" if code != "000000" else "111111",
        )
    staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0, code=code)
    with pytest.raises(staff.SecondFactorNeeded):  # replayed
        staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0, code=code)
    staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0 + timedelta(seconds=30),
                  code=totp.code_at(secret, T0 + timedelta(seconds=30)))  # fmt: skip
    staff.set_totp(conn, username="sato", enable=False, now=T0)
    staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0)


def test_common_passwords_come_from_a_real_list():
    assert len(staff.common_passwords()) > 20_000
    for password in ("1qaz2wsx3edc", "qwerty123456", "leavemealone", "Password1234"):
        with pytest.raises(staff.WeakPassword):
            staff.check_password(password)


def test_a_generated_password_must_be_changed_first(conn):
    staff.create_user(conn, username="admin", display_name="Administrator", role=Role.admin,
                      password=GOOD, now=T0, must_change_password=True)  # fmt: skip
    token, session = staff.sign_in(conn, username="admin", password=GOOD, client="c", now=T0)
    assert session.must_change_password
    with pytest.raises(staff.InvalidCredentials):
        staff.change_own_password(conn, token=token, current="wrong", new="a-better-one-7", now=T0)
    staff.change_own_password(conn, token=token, current=GOOD, new="a-better-one-7", now=T0)
    assert not staff.current_session(conn, token=token, now=T0).must_change_password


def test_old_parameters_are_rehashed_on_sign_in(conn):
    add(conn)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(GOOD)
    conn.execute("UPDATE staff_users SET password_hash = %s", (weak,))
    staff.sign_in(conn, username="sato", password=GOOD, client="c", now=T0)
    stored = conn.execute("SELECT password_hash FROM staff_users").fetchone()[0]
    assert stored != weak and not staff.hasher().check_needs_rehash(stored)


def test_first_admin_gets_a_random_password_in_a_private_file(conn, tmp_path):
    created = create_first_admin(conn, tmp_path)
    assert created is not None
    username, password, path = created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().split() == ["admin", password] and len(password) >= 20
    _, session = staff.sign_in(conn, username=username, password=password, client="c", now=T0)
    assert session.must_change_password  # the generated password is changed at the first sign-in
    assert create_first_admin(conn, tmp_path) is None  # only on first start


@pytest.fixture
def env(database_url, tmp_path) -> dict[str, str]:
    return {
        "KAWAMORI_DATABASE_URL": database_url,
        "KAWAMORI_MQTT_URL": "mqtt://127.0.0.1:1",
        "KAWAMORI_DATA_DIR": str(tmp_path),
    }


def run(env, *args, input=None):
    return runner.invoke(app, ["staff", *args], env=env, input=input)


def test_cli_add_list_role_disable_password(env, conn):
    short = run(env, "add", "sato", "--role", "operator", "--password-stdin", input="short\n")
    assert short.exit_code == 2 and "at least 12 characters" in short.output
    prompted = run(env, "add", "sato", "--role", "operator", "--name", "佐藤 花子", input=f"{GOOD}\n{GOOD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert GOOD not in prompted.output
    mismatch = run(env, "add", "tanaka", input=f"{GOOD}\nsomething-else-9\n{GOOD}\n{GOOD}\n")
    assert mismatch.exit_code == 0 and "Created tanaka (viewer)" in mismatch.output  # asked again
    duplicate = run(env, "add", "sato", "--password-stdin", input=f"{GOOD}\n")
    assert duplicate.exit_code == 2 and "already exists" in duplicate.output

    listed = run(env, "list")
    assert listed.exit_code == 0 and "佐藤 花子" in listed.output and "operator" in listed.output
    assert run(env, "role", "sato", "approver").exit_code == 0
    assert run(env, "role", "sato", "boss").exit_code == 2  # not a role
    assert run(env, "disable", "tanaka").exit_code == 0
    missing = run(env, "disable", "nobody")
    assert missing.exit_code == 2 and "no user named" in missing.output
    assert run(env, "password", "sato", "--password-stdin", input="new-password-for-sato\n").exit_code == 2
    assert run(env, "password", "sato", "--password-stdin", input="a-new-river-pass-1\n").exit_code == 0
    rows = conn.execute("SELECT username, role, disabled FROM staff_users ORDER BY username").fetchall()
    assert rows == [("sato", "approver", False), ("tanaka", "viewer", True)]
    staff.sign_in(conn, username="sato", password="a-new-river-pass-1", client="c", now=T0)


def test_cli_unlock_and_totp(env, conn):
    add(conn)
    for _ in range(staff.PER_USER_CLIENT.free):
        with pytest.raises(staff.InvalidCredentials):
            staff.sign_in(conn, username="sato", password="wrong", client="c1", now=T0)
    assert run(env, "unlock").exit_code == 2  # a user or a client address
    unlocked = run(env, "unlock", "sato")
    assert unlocked.exit_code == 0 and "Forgot 5" in unlocked.output
    staff.sign_in(conn, username="sato", password=GOOD, client="c1", now=T0)

    enrolled = run(env, "totp", "sato")
    assert enrolled.exit_code == 0, enrolled.output
    uri = next(line for line in enrolled.output.splitlines() if line.startswith("otpauth://totp/"))
    assert "issuer=Kawamori" in uri
    secret = conn.execute("SELECT totp_secret FROM staff_users WHERE username = 'sato'").fetchone()[0]
    assert f"secret={secret}" in uri
    with pytest.raises(staff.SecondFactorNeeded):
        staff.sign_in(conn, username="sato", password=GOOD, client="c1", now=T0)
    assert run(env, "totp", "sato", "--remove").exit_code == 0
    staff.sign_in(conn, username="sato", password=GOOD, client="c1", now=T0)
    assert run(env, "totp", "nobody").exit_code == 2
