"""The check-in and rescue page and the staff triage page in headless Chromium (Debian's,
driven by Playwright): "I'm safe" in three taps (also offline: queued, then sent once),
a rescue request with a tap on the map, the triage queue updating live while the resident
sees their request's status, and axe-core finding no serious violation on either page.

Real: the pages, their scripts, the server, the database. The map's tiles come from the
internet and are not loaded here; a tap on the map needs none.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from kawamori import db
from tests.helpers import screenshot_path, serve
from tests.rescue.conftest import PASSWORD

AXE = Path(__file__).resolve().parents[2] / "dashboard" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser(app):
    with serve(app) as base, sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium, base
        chromium.close()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings (evaluated through DevTools: the page's CSP
    allows no injected script, rightly)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}× e.g. {v['nodes'][0]['html'][:80]})"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def rows(database_url: str, sql: str) -> list[tuple]:
    with db.connect(database_url) as conn:
        return conn.execute(sql).fetchall()


def test_im_safe_in_three_taps_also_offline(browser, demo_db):
    chromium, base = browser
    context = chromium.new_context(locale="ja-JP", viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{base}/r/safety?lang=ja")
    assert serious_violations(page) == []
    context.set_offline(True)
    page.get_by_role("button", name="自宅などで安全").click()  # tap 1
    page.get_by_label("3", exact=True).first.check()  # tap 2
    page.get_by_role("button", name="送る", exact=True).click()  # tap 3
    expect(page.locator("#safety-status")).to_contain_text("つながったら自動で1回だけ送ります")
    assert rows(demo_db, "SELECT count(*) FROM safety_checkins") == [(0,)]
    context.set_offline(False)
    expect(page.locator("#safety-status")).to_contain_text("受け付けました")
    assert rows(demo_db, "SELECT status, household_size FROM safety_checkins") == [("safe", 3)]
    page.reload()  # nothing is sent twice
    expect(page.locator("h1")).to_contain_text("安否の報告")
    assert page.evaluate("() => localStorage.getItem('kawamori-safety-outbox')") == "[]"
    assert rows(demo_db, "SELECT count(*) FROM safety_checkins") == [(1,)]
    # やさしい日本語 and English read the same page
    page.goto(f"{base}/r/safety?lang=ja-easy")
    expect(page.get_by_role("button", name="たすけて")).to_be_visible()
    page.goto(f"{base}/r/safety?lang=en")
    expect(page.get_by_role("button", name="We need help")).to_be_visible()
    assert serious_violations(page) == []


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/rescue")
    expect(page).to_have_url(re.compile(r"/staff/login\?next=/rescue"))
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/rescue$"))


def test_rescue_with_a_map_tap_worked_live_by_staff(browser, demo_db):
    chromium, base = browser
    staff_page = chromium.new_context(locale="ja-JP", viewport={"width": 1280, "height": 1000}).new_page()
    sign_in(staff_page, base, "rescuer")
    expect(staff_page.locator("#queue-none")).to_be_visible()
    assert serious_violations(staff_page) == []

    resident = chromium.new_context(locale="ja-JP", viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    resident.goto(f"{base}/r/safety?lang=ja")
    resident.get_by_role("button", name="助けが必要").click()
    resident.locator("#rescue-map").click(position={"x": 180, "y": 120})  # a tap on the map
    expect(resident.locator("#point-status")).to_contain_text("場所を選びました")
    resident.get_by_label("電話番号").fill("090-3333-4444")
    resident.get_by_label("車いす").check()
    resident.get_by_label("2", exact=True).last.check()
    resident.get_by_role("button", name="救助を頼む").click()
    expect(resident.locator("#mine-state")).to_contain_text("受け付けました")
    resident.screenshot(path=screenshot_path("resident-rescue.png"), full_page=True)

    # on the staff page within the poll, with a pin on the map
    card = staff_page.locator("#queue li.request")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("受付")
    expect(card).to_contain_text("車いす")
    expect(card).to_contain_text("09033334444")
    expect(staff_page.locator(".pin")).to_have_count(1)
    card.get_by_label("隊の名前").fill("消防1班")
    card.get_by_role("button", name="隊を割り当てる").click()
    expect(card).to_contain_text("出動中")
    expect(card).to_contain_text("消防1班")
    staff_page.screenshot(path=screenshot_path("rescue-triage.png"))
    # the resident's page shows it (its status poll)
    expect(resident.locator("#mine-state")).to_contain_text("救助隊が向かっています", timeout=20_000)

    # another request arrives while the page is open: it appears by itself
    with httpx.Client(base_url=base, timeout=10) as http:
        answer = http.post(
            "/api/rescue-requests",
            json={"id": str(uuid.uuid4()), "household": "another-household", "people": 1,
                  "address": "鶴岡市京田1-1", "phone": "0235-00-0000"},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
    expect(staff_page.locator("#queue li.request")).to_have_count(2)
    (state,) = rows(demo_db, "SELECT state FROM rescue_requests WHERE team IS NOT NULL")
    assert state == ("assigned",)


def test_staff_without_the_permission_are_told_why(browser):
    chromium, base = browser
    page = chromium.new_context(locale="en-GB").new_page()
    sign_in(page, base, "clerk")
    expect(page.locator(".denied")).to_contain_text("kawamori rescue grant")
    assert page.locator("#queue").count() == 0
    assert json.loads(page.locator("body").get_attribute("data-texts"))["title"]


@pytest.mark.parametrize("lang", ["ja", "ja-easy", "en"])
def test_the_other_new_and_changed_resident_pages_pass_axe(browser, lang):
    chromium, base = browser
    page = chromium.new_context(locale="ja-JP", viewport=PHONE).new_page()
    for path in ("/r/timeline", "/r/help", "/r/?area=area-kyoden-upper"):
        page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang={lang}")
        assert serious_violations(page) == [], path
