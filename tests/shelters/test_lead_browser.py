"""A district lead in headless Chromium: signs in once with a staff account, counts at
two shelters from one tablet, loses the network, keeps counting at both, gets it back —
every tap is stored exactly once, at the shelter it was made for. A second shelter
added with its access code joins the same browser."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect, sync_playwright

from dashboard.main import create_app
from kawamori import db, staff
from kawamori.model import Role
from shelters.sessions import assign, set_access_code
from tests.helpers import cable, serve, wait_for

FIRST, SECOND, THIRD = "062031-0013", "062031-0001", "062031-0002"
PASSWORD = "kawasemi-riverbank-42"


@pytest.fixture
def lead(shelter_db):
    with db.connect(shelter_db) as conn:
        staff.create_user(
            conn, username="sato", display_name="佐藤 地区リーダー", role=Role.operator, password=PASSWORD,
            now=datetime.now(UTC),
        )  # fmt: skip
        assign(conn, username="sato", shelter_ids=[FIRST, SECOND])
        code = set_access_code(conn, shelter_id=THIRD)
    with serve(create_app(shelter_db)) as server, cable(server) as line, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        yield page, context, line, code, shelter_db
        browser.close()


def counts(database_url: str) -> dict[str, tuple[int, int, int]]:
    """Per shelter: events stored, distinct ids, occupancy."""
    with db.connect(database_url) as conn:
        rows = conn.execute(
            """SELECT s.id, count(e.id), count(DISTINCT e.id), s.occupancy
               FROM shelters s LEFT JOIN shelter_count_events e ON e.shelter_id = s.id
               WHERE s.id = ANY(%s) GROUP BY s.id, s.occupancy""",
            ([FIRST, SECOND, THIRD],),
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_a_district_lead_counts_at_two_shelters_offline_and_syncs_exactly_once(lead):
    page, context, line, code, database_url = lead
    base = line.url
    page.goto(f"{base}/staff/login?next=/staff")
    page.fill("#username", "sato")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/staff")
    expect(page.locator("#who")).to_contain_text("佐藤 地区リーダー")
    expect(page.locator("#switcher")).to_be_visible()
    expect(page.locator("#switch option")).to_have_count(2)

    page.select_option("#switch", FIRST)
    expect(page.locator("#shelter-name")).to_have_text("鶴岡市立藤島小学校")
    page.click("[data-status=open]")
    page.click("#plus")
    assert wait_for(lambda: counts(database_url)[FIRST] == (1, 1, 1))

    page.evaluate("navigator.serviceWorker.ready")
    context.set_offline(True)  # the tablet says it is offline...
    line.cut()  # ...and no byte reaches the server (Chromium's emulation alone lets some by)
    for _ in range(3):
        page.click("#plus")  # three more at the first shelter
    page.select_option("#switch", SECOND)
    expect(page.locator("#shelter-name")).to_have_text("鶴岡市立京田小学校")
    page.fill("#exact-value", "40")
    page.click("#exact button[type=submit]")
    page.click("#minus")
    expect(page.locator("#count")).to_have_text("39")
    expect(page.locator("#sync")).to_contain_text("オフライン")
    expect(page.locator("#sync")).to_have_attribute("data-pending", "5")
    page.reload()  # both queues survive a reload offline
    expect(page.locator("#sync")).to_have_attribute("data-pending", "5")
    assert counts(database_url)[SECOND] == (0, 0, 0)

    line.mend()
    context.set_offline(False)
    expect(page.locator("#sync")).to_have_attribute("data-pending", "0", timeout=15_000)
    assert wait_for(
        lambda: counts(database_url)[FIRST] == (4, 4, 4) and counts(database_url)[SECOND] == (2, 2, 39)
    )
    page.wait_for_timeout(3500)  # another periodic sync: nothing is sent twice
    assert counts(database_url)[FIRST] == (4, 4, 4) and counts(database_url)[SECOND] == (2, 2, 39)
    with db.connect(database_url) as conn:
        by = conn.execute(
            "SELECT DISTINCT entered_by FROM shelter_count_events WHERE shelter_id = %s", (SECOND,)
        )
        assert by.fetchall() == [("sato",)]  # who counted is kept

    # a third shelter joins the same browser with its access code
    page.click("#add")
    page.fill("#shelter-id", THIRD)
    page.fill("#code", code)
    page.click("#signin button[type=submit]")
    expect(page.locator("#switch option")).to_have_count(3)
    expect(page.locator("#shelter-name")).to_have_text("羽黒体育館")
    page.click("#plus")
    assert wait_for(lambda: counts(database_url)[THIRD] == (1, 1, 1))
    assert counts(database_url)[FIRST] == (4, 4, 4)
