"""The staff page in headless Chromium (Debian's, driven by Playwright): sign in,
lose the network, keep tapping, get it back — every tap is stored exactly once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from dashboard.main import create_app
from kawamori import db
from shelters.sessions import set_access_code
from tests.helpers import cable, serve, wait_for

SHELTER = "062031-0013"


@pytest.fixture
def page_at(shelter_db):
    with db.connect(shelter_db) as conn:
        code = set_access_code(conn, shelter_id=SHELTER)
    with serve(create_app(shelter_db)) as server, cable(server) as line, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        page.goto(f"{line.url}/staff")
        yield page, context, line, code, shelter_db
        browser.close()


def stored(database_url: str) -> tuple[int, int, int]:
    with db.connect(database_url) as conn:
        events = conn.execute("SELECT count(*), count(DISTINCT id) FROM shelter_count_events").fetchone()
        occupancy = conn.execute("SELECT occupancy FROM shelters WHERE id = %s", (SHELTER,)).fetchone()
    return events[0], events[1], occupancy[0]


def test_taps_made_offline_are_synced_exactly_once(page_at):
    page, context, line, code, database_url = page_at
    page.fill("#shelter-id", SHELTER)
    page.fill("#code", code)
    page.click("#signin button[type=submit]")
    expect(page.locator("#shelter-name")).to_have_text("鶴岡市立藤島小学校")
    expect(page.locator("#signin")).to_be_hidden()
    expect(page.locator("#sync")).to_contain_text("最終同期")

    page.click("[data-status=open]")
    page.click("#plus")
    expect(page.locator("#sync")).to_have_attribute("data-pending", "0")
    assert wait_for(lambda: stored(database_url) == (1, 1, 1))

    page.evaluate("navigator.serviceWorker.ready")  # the page is cached for offline reloads
    context.set_offline(True)  # the tablet says it is offline, and no byte gets through
    line.cut()
    for _ in range(5):
        page.click("#plus")
    page.click("#minus")
    expect(page.locator("#count")).to_have_text("5")  # shown at once, from the local queue
    expect(page.locator("#sync")).to_contain_text("オフライン")
    expect(page.locator("#sync")).to_have_attribute("data-pending", "6")
    assert stored(database_url) == (1, 1, 1)

    page.reload()  # the queue survives a reload while offline (localStorage)
    expect(page.locator("#count")).to_have_text("5")
    expect(page.locator("#sync")).to_have_attribute("data-pending", "6")

    line.mend()
    context.set_offline(False)
    expect(page.locator("#sync")).to_have_attribute("data-pending", "0", timeout=15_000)
    expect(page.locator("#sync")).not_to_contain_text("オフライン")
    assert wait_for(lambda: stored(database_url) == (7, 7, 5))
    page.wait_for_timeout(3500)  # another periodic sync: nothing is sent twice
    assert stored(database_url) == (7, 7, 5)
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT status FROM shelters WHERE id = %s", (SHELTER,)).fetchone() == ("open",)

    # a stale CSRF token (signed in again elsewhere) is replaced and the tap still goes through
    page.evaluate(
        """() => {
             const s = JSON.parse(localStorage.getItem("kawamori-staff-session"));
             s.csrf_token = "stale";
             localStorage.setItem("kawamori-staff-session", JSON.stringify(s));
           }"""
    )
    page.reload()
    page.click("#plus")
    assert wait_for(lambda: stored(database_url) == (8, 8, 6))
    expect(page.locator("#sync")).to_have_attribute("data-pending", "0")

    page.click("#lang")
    expect(page.locator("#crowding")).to_contain_text("Vacant")
    expect(page.locator("#sync")).to_contain_text("Last synced")
    page.fill("#exact-value", "400")
    page.click("#exact button[type=submit]")
    expect(page.locator("#crowding")).to_contain_text("× Full")
    assert wait_for(lambda: stored(database_url)[2] == 400)
    page.click("#lang")  # やさしい日本語, from the same text catalogue as the CLI
    expect(page.locator("#crowding")).to_contain_text("× いっぱい です")
    expect(page.locator("#count-title")).to_have_text("いま いる ひと の かず")


def test_wrong_code_is_refused_in_words(page_at):
    page, _, _, _, _ = page_at
    page.fill("#shelter-id", SHELTER)
    page.fill("#code", "AAAA-BBBB-CCCC")
    page.click("#signin button[type=submit]")
    expect(page.locator("#error")).to_contain_text("アクセスコードが違います")
    expect(page.locator("#panel")).to_be_hidden()
