"""The staff map's hydrograph in headless Chromium over a real database: a one-reading
peak above 氾濫危険水位 inside a bucket whose mean stays below it is shown (the min–max
envelope and the words), stages are labelled without overlap, "now", the current value,
the ETA to the next stage at the evaluator's stored rate, the area's issued level as a
band; the same peak from the hourly rollups a year wide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from kawamori import db
from tests.dashboard.test_map_browser import browser_on  # noqa: F401  (the fixture)

TOMIZAWA = "fujishima-tomizawa"  # 氾濫危険水位 14.75 m; its area has level 4 issued


def add_peak(database_url: str) -> None:
    """Two hours at about 13.8 m, one reading at 15.05 m an hour ago (a 10-minute bucket's
    mean 13.9 m), before the scenario's last three readings (14.70, 14.80, 14.90)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with db.connect(database_url) as conn, conn.cursor() as cur:
        rows = [(TOMIZAWA, now - timedelta(minutes=m), 13.8 + (m % 2) * 0.02) for m in range(5, 125)]
        rows[55] = (TOMIZAWA, rows[55][1], 15.05)
        cur.executemany("INSERT INTO readings (station_id, time, level_m) VALUES (%s, %s, %s)", rows)
        # Kanehiro (5.00 m, caution 7.12 m): the evaluator's stored rate is 1 m/h
        rate = '{"rate_m_h": 1}'
        cur.execute("UPDATE station_status SET state = %s WHERE station_id = 'kyoden-kanehiro'", (rate,))


ENVELOPE_TOP = """() => {
  const ys = document.querySelector('#hydrograph polygon.envelope').getAttribute('points')
    .trim().split(/\\s+/).map((p) => Number(p.split(',')[1]));
  const danger = document.querySelector('#hydrograph g.stage[data-stage="danger"] line');
  return [Math.min(...ys), Number(danger.getAttribute('y1'))];
}"""
LABEL_OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll('#hydrograph .stage-label')].map((e) => e.getBBox());
  const plot = document.querySelector('#hydrograph svg > rect').getBBox();
  let out = 0;
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => {
    if (a.y < b.y + b.height && b.y < a.y + a.height) out++;
  }));
  return [out, boxes.length, boxes.every((b) => b.x >= plot.x + plot.width)];
}"""


def test_the_hydrograph_shows_a_one_reading_peak_above_danger(browser_on):  # noqa: F811
    open_page, base, _, database_url = browser_on
    add_peak(database_url)
    page = open_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/")
    page.locator(f"#stations li[data-id='{TOMIZAWA}']").click()
    summary = page.locator(".hydrograph-summary")
    expect(summary).to_contain_text("表示期間の最高: 15.05 m")
    expect(summary).to_contain_text("氾濫危険水位（14.75 m）に達しました")
    expect(summary).to_contain_text("現在の水位: 14.90 m")
    expect(summary).to_contain_text("発令中: 警戒レベル4 避難指示")
    top, danger = page.evaluate(ENVELOPE_TOP)
    assert top < danger  # the envelope's top is drawn above the danger line (SVG y grows down)
    overlaps, labels, outside = page.evaluate(LABEL_OVERLAPS)
    assert (overlaps, labels, outside) == (0, 3, True)  # 観測開始, 氾濫注意, 氾濫危険: apart, beside the plot
    expect(page.locator("#hydrograph g.now")).to_contain_text("現在")
    expect(page.locator("#hydrograph g.current")).to_contain_text("14.90 m")
    expect(page.locator("#hydrograph g.issued-band")).to_contain_text("警戒レベル4")

    # a year wide, from the hourly rollups: the peak is still there
    page.get_by_role("button", name="1年").click()
    expect(page.locator("#detail-title")).to_contain_text("1年")
    expect(summary).to_contain_text("表示期間の最高: 15.05 m")
    top, danger = page.evaluate(ENVELOPE_TOP)
    assert top < danger
    expect(page.get_by_role("button", name="← 前へ")).to_be_disabled()  # the API keeps a year
    # 30 days: back half a period and to now again
    page.get_by_role("button", name="30日").click()
    page.get_by_role("button", name="← 前へ").click()
    expect(page.get_by_role("button", name="現在へ")).to_be_enabled()
    page.get_by_role("button", name="現在へ").click()
    expect(page.get_by_role("button", name="現在へ")).to_be_disabled()

    # a station rising at the stored rate: the ETA to its next stage, in English too
    page.get_by_role("button", name="6時間").click()
    page.locator("#stations li[data-id='kyoden-kanehiro']").click()
    expect(summary).to_contain_text("氾濫注意水位まで約127分")
    expect(page.locator("#hydrograph line.projection")).to_have_count(1)
    page.click("#lang")
    page.locator("#stations li[data-id='kyoden-kanehiro']").click()
    expect(summary).to_contain_text("Flood caution in about 127 min")
    assert page.evaluate("Hydrograph.placeLabels([100, 101, 102], 14, 0, 300)") == [100, 114, 128]
    assert page.evaluate("Hydrograph.placeLabels([299, 300], 14, 0, 300)") == [286, 300]
