"""The staff pages at 390 px (a phone) in headless Chromium: nothing wider than the
screen, the header's links and buttons whole and on one line each, the map fitted to
the stations, the sensor table scrolling inside its own box."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.dashboard.test_map_browser import PASSWORD, browser_on  # noqa: F401  (the fixture)
from tests.dashboard.test_resident_browser import PHONE

NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"
STATIONS_IN_VIEW = """() => {
  const bounds = map.getBounds();
  const points = lastStations.features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]]);
  return points.every((p) => bounds.contains(p));
}"""


def whole_on_one_line(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)
    height = page.locator(selector).evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 20")
    assert box["height"] < 2.2 * height + 16, (selector, box)  # one line of text and its padding


def test_the_staff_map_on_a_phone(browser_on):  # noqa: F811
    open_page, base, *_ = browser_on
    page = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{base}/")
    expect(page.locator("#stations li")).to_have_count(5)
    assert page.evaluate(NO_OVERFLOW)
    for selector in ("#console-link", "#sensors-link", "#lang"):
        whole_on_one_line(page, selector)
    page.wait_for_function(STATIONS_IN_VIEW)
    map_box = page.locator("#map").bounding_box()
    assert map_box["width"] <= PHONE["width"] and map_box["height"] >= 300
    # the hydrograph below the map, as wide as the screen allows
    page.locator("#stations li[data-id='fujishima-tomizawa']").click()
    expect(page.locator(".hydrograph-summary")).to_contain_text("現在の水位")
    assert page.evaluate(NO_OVERFLOW)


def test_the_sensor_page_on_a_phone(browser_on):  # noqa: F811
    open_page, base, *_ = browser_on
    page = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{base}/staff/login?next=/sensors")
    page.fill("#username", "sato")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#visits-title")).to_contain_text("点検が必要な水位計")
    assert page.evaluate(NO_OVERFLOW)  # the table scrolls inside its box, not the page
