"""Every name staff see on the map comes from the database or an imported file: river,
station, area and shelter names holding markup are shown as text in the lists, the
markers' labels, the tooltips and the popups, and no script runs (Chromium); every
staff page sends a Content-Security-Policy without inline scripts."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from kawamori import db
from tests.dashboard.area_setup import XSS
from tests.dashboard.test_map_browser import browser_on, no_injection  # noqa: F401  (the fixture)

RIVER = XSS + "藤島川"
STATION = XSS + "富沢橋"
SHELTER = XSS + "羽黒体育館"


def test_names_with_markup_are_text_everywhere(browser_on):  # noqa: F811
    open_page, base, _, database_url = browser_on
    with db.connect(database_url) as conn:
        station = "UPDATE stations SET name_ja = %s, river_ja = %s WHERE id = 'fujishima-tomizawa'"
        conn.execute(station, (STATION, RIVER))
        shelter = "UPDATE shelters SET name_ja = %s, status = 'open' WHERE id = 'demo-haguro-gym'"
        conn.execute(shelter, (SHELTER,))
    page = open_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/")
    listed = page.locator("#stations li[data-id='fujishima-tomizawa']")
    expect(listed.locator(".name")).to_have_text(STATION)
    expect(listed).to_contain_text(RIVER)
    expect(page.locator(".pin[data-station='fujishima-tomizawa'] .label")).to_contain_text(STATION)
    # the river drawn from the station downstream: its tooltip
    page.locator("path[stroke='#1f78b4']").first.hover()
    expect(page.locator(".leaflet-tooltip")).to_contain_text(RIVER)
    page.mouse.move(5, 5)
    # the shelter's popup
    page.get_by_title(SHELTER, exact=False).click()
    expect(page.locator(".leaflet-popup-content strong")).to_have_text(SHELTER)
    # the hydrograph's title
    listed.click()
    expect(page.locator("#detail-title")).to_contain_text(STATION)
    no_injection(page)


@pytest.mark.parametrize("path", ["/", "/alerts", "/staff/login"])
def test_every_staff_page_sends_a_csp_without_inline_script(browser_on, path):  # noqa: F811
    _, base, *_ = browser_on
    response = httpx.get(f"{base}{path}", follow_redirects=True)
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if " " in d.strip())
    assert directives["default-src"] == "'self'"
    assert "script-src" not in directives  # scripts fall back to 'self': no inline, no CDN
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
