"""The staff map and the resident page in headless Chromium (Debian's, driven by
Playwright) during a scenario-like state (tests/dashboard/area_setup.py): areas shaded
by their issued level with the level in words, a pending proposal marked and linked to
its card in the console, a drill labelled 訓練 and shading nothing, stations showing
their observed stage with a trend arrow (never "警4" as if issued), the legend, names
from the database shown as text; ``/r/`` without an area naming each area's level in
ja / en / やさしい日本語."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect, sync_playwright

from dashboard.main import create_app
from kawamori import db, staff
from kawamori.model import Role
from tests.dashboard.area_setup import DRILL, ISSUED, PROPOSED, XSS, set_up
from tests.dashboard.test_resident_browser import CONTRAST, PHONE
from tests.helpers import screenshot_path, serve

SCREENSHOT = screenshot_path("dashboard.png")
PASSWORD = "river-watch-2026"
FUJISHIMA = "藤島川流域（富沢橋・藤川橋周辺）"


@pytest.fixture
def browser_on(demo_db):
    """Yields ``(open_page, base, scenario)``; ``open_page(**context options)``."""
    now = datetime.now(UTC)
    with db.connect(demo_db) as conn:
        staff.create_user(
            conn, username="sato", display_name="佐藤 花子", role=Role.operator, password=PASSWORD, now=now
        )
        scenario = set_up(conn, now=now, area_name_ja=XSS + FUJISHIMA)
    with serve(create_app(demo_db)) as base, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )

        def open_page(**options):
            page = browser.new_context(locale="ja-JP", **options).new_page()
            page.on("dialog", lambda d: d.dismiss())
            return page

        yield open_page, base, scenario, demo_db
        browser.close()


def no_injection(page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0


def test_map_issued_proposed_observed(browser_on):
    open_page, base, scenario, database_url = browser_on
    page = open_page(viewport={"width": 1400, "height": 1000})

    # anyone: what was issued, nothing pending, no drill
    page.goto(f"{base}/")
    issued = page.locator(f"#areas li[data-area='{ISSUED}']")
    expect(issued).to_contain_text("発令: 警戒レベル4 避難指示")
    expect(issued.locator(".name")).to_have_text(XSS + FUJISHIMA)  # the name as text
    expect(page.locator("#areas-note")).to_contain_text("職員としてサインインすると表示されます")
    expect(page.locator(f"#areas li[data-area='{PROPOSED}']")).to_contain_text("発令なし")
    expect(page.locator("a.proposal-badge")).to_have_count(0)
    expect(page.locator("a.drill-badge")).to_have_count(0)
    expect(page.locator("path.area-issued-4")).to_have_count(1)
    no_injection(page)

    # staff: sign in from the map's note, come back to the map
    page.get_by_role("link", name="サインイン").click()
    page.fill("#username", "sato")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/\?lang=ja$|/$"))

    # the issued area: shaded purple, and the level written on it
    shaded = page.locator("path.area-issued")
    expect(shaded).to_have_count(1)  # the drill shades nothing, the proposal neither
    assert page.locator("path.area-issued-4").get_attribute("fill") == "#aa00aa"
    label = page.locator(f".area-label[data-area='{ISSUED}']")
    expect(label).to_contain_text("発令 警4")
    # the pending proposal: a dashed outline and a badge linked to its card
    outline = page.locator("path.area-proposed")
    expect(outline).to_have_count(1)
    assert outline.get_attribute("stroke-dasharray") == "10 6"
    badge = page.locator(f".area-label[data-area='{PROPOSED}'] a.proposal-badge")
    expect(badge).to_have_text("提案: レベル4へ（引き上げ） · 承認待ち")
    assert badge.get_attribute("href") == f"/alerts#alert-{scenario.proposal}"
    expect(page.locator(f"#areas li[data-area='{PROPOSED}']")).to_contain_text("発令なし")
    # the drill: labelled 訓練, in the list and on the map, never as the area's level
    drill = page.locator(f"#areas li[data-area='{DRILL}']")
    expect(drill).to_contain_text("発令なし")
    expect(drill.locator("a.drill-badge")).to_have_text("【訓練】提案: レベル4へ（引き上げ）")
    expect(page.locator("#areas-note")).to_contain_text("住民に届いているのは「発令」だけです")

    # stations: the observation, with its trend; level 4 at Jumonji is "相当", not issued
    jumonji = page.locator(".pin[data-station='kyoden-jumonji']")
    expect(jumonji).to_contain_text("↑ 7.84m")
    expect(jumonji).to_contain_text("氾濫危険水位")
    expect(page.locator(".station-marker")).not_to_contain_text(["警4"])
    assert "警4" not in page.locator("#stations").inner_text()
    listed = page.locator("#stations li[data-id='kyoden-jumonji']")
    expect(listed).to_contain_text("観測: 氾濫危険水位（警戒レベル4相当） · ↑ 上昇 +3.60 m/h")
    expect(page.locator(".pin[data-station='fujishima-fujikawa']")).to_contain_text("↓ 6.90m")
    expect(page.locator("#stations li[data-id='kyoden-kanehiro']")).to_contain_text("→ 横ばい")
    expect(page.locator(".pin[data-station='kyoden-chiwara']")).to_contain_text("訓練")
    expect(page.locator("aside")).to_contain_text("観測所の印は水位の観測です。発令ではありません。")

    # the legend tells the three apart
    legend = page.locator("#legend")
    for words in (
        "発令",
        "住民に伝えている警戒レベル",
        "提案",
        "職員の判断待ち",
        "観測",
        "発令ではありません",
        "訓練",
    ):
        expect(legend).to_contain_text(words)

    # a name from the database stays text, in the list and in the map's tooltip
    page.locator("path.area-issued-4").hover()
    expect(page.locator(".leaflet-tooltip")).to_contain_text(XSS)
    no_injection(page)
    page.mouse.move(5, 5)
    with db.connect(database_url) as conn:  # the real name for the docs' picture
        conn.execute("UPDATE alert_areas SET name_ja = %s WHERE id = %s", (FUJISHIMA, ISSUED))
    page.reload()
    expect(issued.locator(".name")).to_have_text(FUJISHIMA)
    page.screenshot(path=str(SCREENSHOT))

    # English
    page.click("#lang")
    expect(page.locator(f".area-label[data-area='{PROPOSED}'] a.proposal-badge")).to_have_text(
        "Proposed: raise to level 4 · awaiting approval"
    )
    expect(issued).to_contain_text("Issued: Alert level 4: evacuate")
    expect(page.locator("#legend")).to_contain_text("not an issued level")
    expect(listed).to_contain_text("Observed: Flood danger (level 4 equivalent) · ↑ rising +3.60 m/h")
    page.click("#lang")

    # the proposal's badge opens its card in the console, in view and focused
    page.locator(f".area-label[data-area='{PROPOSED}'] a.proposal-badge").click()
    expect(page).to_have_url(re.compile(rf"/alerts#alert-{scenario.proposal}$"))
    card = page.locator(f"#alert-{scenario.proposal}")
    expect(card).to_be_focused()
    expect(card).to_have_class(re.compile(r"\btargeted\b"))
    expect(card).to_contain_text("提案")
    expect(card).to_be_in_viewport()


@pytest.mark.parametrize(
    ("lang", "line", "quiet"),
    [
        (
            "ja",
            f"{XSS}{FUJISHIMA}：警戒レベル4「避難指示」",
            "ほかの2地域には、いま警戒レベルは出ていません。",
        ),
        ("en", "Fujishima River (Tomizawa and Fujikawa bridges): Alert level 4: evacuate", "other 2 areas"),
        ("ja-easy", f"{XSS}{FUJISHIMA}：レベル4（にげて ください）", "ほかの 2の ちいきには"),
    ],
)
def test_resident_page_without_an_area_names_each_area(browser_on, lang, line, quiet):
    open_page, base, *_ = browser_on
    page = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{base}/r/?lang={lang}")
    levels = page.locator("#area-levels li")
    expect(levels).to_have_count(1)  # the proposal and the drill are not issued: not shown
    expect(levels.first).to_be_visible()
    # the Japanese name: markup as text (やさしい日本語 adds furigana: read without it)
    text = levels.first.evaluate(
        "e => { const c = e.cloneNode(true); c.querySelectorAll('rt').forEach(r => r.remove());"
        " return c.textContent.replace(/\\s+/g, ' ') }"
    )
    assert line in text, text
    if lang == "ja-easy":
        assert levels.first.locator("ruby rt").count() > 0
    expect(page.locator(".quiet")).to_contain_text(quiet)
    expect(page.locator("#level-text")).to_have_count(0)  # no single banner for every area
    body = page.locator("main").inner_text()
    assert "提案" not in body and "訓練" not in body and "Proposed" not in body
    no_injection(page)
    assert page.evaluate(CONTRAST) == []
    # its link: that area's page with its issued level and what to do
    levels.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"area={ISSUED}"))
    expect(page.locator("#level-text")).to_contain_text(
        {"ja": "警戒レベル4「避難指示」", "en": "Alert level 4", "ja-easy": "レベル4"}[lang]
    )
    no_injection(page)


def test_a_shelter_whose_capacity_is_unknown_says_so(browser_on):
    """Imported open data may give a capacity no one can read: the popup says "不明" with
    the municipality's own wording (as text), never "0/0" or "/null"."""
    open_page, base, _, database_url = browser_on
    with db.connect(database_url) as conn:
        conn.execute(
            """UPDATE shelters SET capacity = 0, capacity_basis = 'unknown', capacity_text = %s,
                                   status = 'open', occupancy = 12
               WHERE id = 'demo-haguro-gym'""",
            ("屋内<img src=x onerror=alert(1)>人",),
        )
    page = open_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/")
    page.get_by_title(re.compile("羽黒体育館")).click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("収容 12/不明 (屋内<img src=x onerror=alert(1)>人)")
    expect(popup.locator("img")).to_have_count(0)
