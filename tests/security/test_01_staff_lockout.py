"""Finding 1: anyone could lock any staff account out, admin included — 50 wrong
passwords in 4 s, and the right password got 429 for about 15 minutes, whatever the
client. Now delays grow per (user, client) and per client, and a browser that has
signed in before (its device cookie) is judged only by its own failures."""

from __future__ import annotations

import time

from kawamori import db, staff
from tests.security.conftest import PASSWORD, post_login


def test_fifty_wrong_passwords_do_not_lock_the_admin_out(stack):
    with stack.client("198.51.100.7") as admins_browser:  # the admin signs in as every day
        assert post_login(admins_browser, "admin", PASSWORD).status_code == 303
        assert admins_browser.cookies.get("kawamori_device")
        admins_browser.post("/staff/logout", headers={"X-CSRF-Token": "-"})
        admins_browser.cookies.delete("kawamori_session")

    statuses = []
    started = time.monotonic()
    with stack.client("203.0.113.66") as attacker:
        for i in range(50):
            statuses.append(post_login(attacker, "admin", f"wrong-guess-{i:04d}").status_code)
    assert time.monotonic() - started < 30
    assert statuses[: staff.PER_USER_CLIENT.free] == [401] * staff.PER_USER_CLIENT.free
    assert set(statuses[staff.PER_USER_CLIENT.free :]) == {429}  # the attacker waits, growing

    # the admin's own browser signs in at once, with the right password
    admins_browser.headers["X-Forwarded-For"] = "198.51.100.7"
    with stack.client("198.51.100.7", cookies=admins_browser.cookies) as same_browser:
        assert post_login(same_browser, "admin", PASSWORD).status_code == 303
    # and so does a new browser elsewhere: only 5 failures were counted against the name
    with stack.client("192.0.2.10") as new_browser:
        assert post_login(new_browser, "admin", PASSWORD).status_code == 303


def test_an_attacker_spreading_guesses_over_addresses_cannot_lock_out_a_known_browser(stack):
    with stack.client("198.51.100.7") as browser:
        assert post_login(browser, "admin", PASSWORD).status_code == 303
        cookies = browser.cookies
    with db.connect(stack.database_url) as conn:  # 100+ failures from many addresses
        for i in range(staff.PER_USER_UNKNOWN.free + 5):
            conn.execute(
                "INSERT INTO staff_login_failures (username, client, failed_at) VALUES ('admin', %s, now())",
                (f"203.0.113.{i % 250}",),
            )
    with stack.client("192.0.2.10") as new_browser:  # a browser never seen waits...
        assert post_login(new_browser, "admin", PASSWORD).status_code == 429
    with stack.client("198.51.100.7") as known:  # ...the known one does not
        known.cookies.set("kawamori_device", cookies.get("kawamori_device"), path="/staff")
        assert post_login(known, "admin", PASSWORD).status_code == 303
    with db.connect(stack.database_url) as conn:  # kawamori staff unlock
        assert staff.unlock(conn, username="admin") > 0
    with stack.client("192.0.2.10") as new_browser:
        assert post_login(new_browser, "admin", PASSWORD).status_code == 303
