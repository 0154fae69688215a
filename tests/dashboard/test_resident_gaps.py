"""The resident page's gaps found in the demo typhoon (issue 18): a fallback when no
shelter nearby is open at level 4 and above, the city's phone number and LINE link with
its QR code from the settings, English punctuation and a time zone on English pages."""

from __future__ import annotations

import html
import json
import re
import struct

import httpx
import pytest

from dashboard.main import create_app
from dashboard.routers.residents import ResidentConfig, line_qr
from kawamori import db
from tests.helpers import serve
from tests.notify.subscribers import IN_UPPER, NOW, UPPER, flood, new_key

LINE_URL = "https://lin.ee/abcDEF1"


@pytest.fixture
def page(demo_db):
    config = ResidentConfig(key=new_key(), city_phone="0235-25-2111", line_friend_url=LINE_URL)
    app = create_app(demo_db, clock=lambda: NOW, residents_config=config)
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield lambda **params: http.get("/r/", params=params).text


def test_level_4_without_an_open_shelter_gives_fallbacks(page, demo_db):
    with db.connect(demo_db) as conn:
        flood(conn, level=4)  # every demo shelter is closed: nothing confirmed open
    ja = page(lat=IN_UPPER[0], lon=IN_UPPER[1], lang="ja")
    assert "近くに開いていて入れる避難所はありません" not in ja
    assert "開設が確認できていない指定避難所" in ja and "羽黒体育館" in ja and "開設を確認中" in ja
    assert "藤島地域活動センター" not in ja  # not a flood shelter
    assert "垂直避難" in ja and "親せき" in ja and "0235-25-2111" in ja
    easy = page(lat=IN_UPPER[0], lon=IN_UPPER[1], lang="ja-easy")
    assert "うえの かい" in easy
    english = page(lat=IN_UPPER[0], lon=IN_UPPER[1], lang="en")
    assert "Haguro Gymnasium" in english and "highest floor" in english


def test_below_level_4_the_plain_answer_stays(page, demo_db):
    with db.connect(demo_db) as conn:
        flood(conn, level=3)
    ja = page(lat=IN_UPPER[0], lon=IN_UPPER[1], lang="ja")
    assert "近くに開いていて入れる避難所はありません" in ja and "垂直避難" not in ja


def test_city_phone_and_line_link_with_its_qr_code(page):
    text = page(area=UPPER, lang="ja")
    assert 'href="tel:0235252111"' in text and "電話：0235-25-2111" in text
    assert f'href="{LINE_URL}"' in text and "LINE で友だち追加する" in text
    qr = re.search(r'<img class="qr" src="([^"]+)" alt="友だち追加の QR コード"', text)[1]
    assert qr.startswith("data:image/svg+xml") and html.unescape(qr) == line_qr(LINE_URL)


def test_english_pages_use_english_punctuation_and_a_time_zone(page, demo_db):
    with db.connect(demo_db) as conn:
        flood(conn, level=3)
    english = page(lat=IN_UPPER[0], lon=IN_UPPER[1], lang="en")
    main = english.split("<main", 1)[1]
    assert not re.search(r"[「」【】（）]", main), re.findall(r".{20}[「」【】（）].{20}", main)
    assert "JST" in english
    assert "Kyoden River (Chiwara" in english or "(Chiwara" in english


# --- a Home-Screen web app, and where to go when push cannot work -----------------------------------


def test_manifest_and_icons(demo_db):
    config = ResidentConfig(key=new_key())
    with serve(create_app(demo_db, residents_config=config)) as base, httpx.Client(base_url=base) as http:
        manifest = http.get("/r/manifest.webmanifest", params={"lang": "en"})
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        body = manifest.json()
        assert (
            body["scope"] == "/r/" and body["display"] == "standalone" and body["start_url"] == "/r/?lang=en"
        )
        for icon in body["icons"]:
            answer = http.get(icon["src"])
            assert answer.status_code == 200 and answer.headers["content-type"] == icon["type"]
            if icon["type"] == "image/png":
                size = int(icon["sizes"].split("x")[0])
                assert answer.content[:8] == b"\x89PNG\r\n\x1a\n"
                assert struct.unpack(">II", answer.content[16:24]) == (size, size)
        assert http.get("/r/icon-7.png").status_code == 404
        page = http.get("/r/", params={"lang": "ja-easy"}).text
        assert 'rel="manifest" href="/r/manifest.webmanifest?lang=ja-easy"' in page
        assert 'rel="apple-touch-icon"' in page


def test_chromium_reads_the_manifest_and_push_failure_points_to_line_and_email(demo_db):
    from playwright.sync_api import expect, sync_playwright

    from dashboard.main import create_app as make
    from notify.channels.webpush import generate_vapid_keys

    _, vapid = generate_vapid_keys()
    config = ResidentConfig(key=new_key(), vapid_public_key=vapid)
    with serve(make(demo_db, clock=lambda: NOW, residents_config=config)) as base, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(locale="ja-JP")
        context.grant_permissions(["notifications"], origin=base)
        # a browser whose push service refuses (as one without a push service does)
        context.add_init_script(
            "PushManager.prototype.subscribe = async () => { throw new DOMException('no', 'AbortError'); };"
        )
        page = context.new_page()
        page.goto(f"{base}/r/?area={UPPER}&lang=ja")
        cdp = context.new_cdp_session(page)
        found = cdp.send("Page.getAppManifest")
        assert found["errors"] == [] and json.loads(found["data"])["scope"] == "/r/"
        page.click("#push-on")
        expect(page.locator("#push-status")).to_contain_text("LINE かメールで受け取ってください")
        browser.close()


def test_without_push_or_email_the_page_says_which_channels_there_are(demo_db):
    config = ResidentConfig(key=new_key())  # no VAPID key, no SMTP
    with serve(create_app(demo_db, residents_config=config)) as base, httpx.Client(base_url=base) as http:
        page = http.get("/r/", params={"area": UPPER, "lang": "en"}).text
        assert "alerts come by LINE, and by phone, FAX and the municipal radio" in page
        assert 'id="push-on"' not in page and 'id="email"' not in page


def test_times_are_in_the_city_s_time_zone(demo_db):
    """KAWAMORI_TIME_ZONE reaches the pages: a city elsewhere sees its own clock."""
    from zoneinfo import ZoneInfo

    with db.connect(demo_db) as conn:
        flood(conn, level=3)
    app = create_app(
        demo_db,
        clock=lambda: NOW,
        residents_config=ResidentConfig(key=new_key()),
        zone=ZoneInfo("Pacific/Guam"),
    )
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        english = http.get("/r/", params={"lat": IN_UPPER[0], "lon": IN_UPPER[1], "lang": "en"}).text
    local = NOW.astimezone(ZoneInfo("Pacific/Guam"))
    assert f"{local.hour}:{local.minute:02d} ChST" in english and "JST" not in english
