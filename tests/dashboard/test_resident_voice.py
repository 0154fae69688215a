"""The voice on the resident side: the level of a place spoken as WAV, a public alert
message spoken for the gateway (never an exercise), and in Chromium the page's audio
player and the live region that announces a level change while the page is open."""

from __future__ import annotations

import subprocess
import uuid

from playwright.sync_api import expect, sync_playwright

from alerts.model import Status
from dashboard.main import create_app
from dashboard.routers.residents import ResidentConfig
from tests.helpers import serve
from tests.notify.factories import message
from tests.notify.subscribers import NOW, UPPER, flood, new_key


def seconds_of(audio: bytes, tmp_path) -> float:
    path = tmp_path / f"{uuid.uuid4().hex}.wav"
    path.write_bytes(audio)
    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


def outbox(conn, *, alert_id: int, status: Status = Status.actual) -> None:
    conn.execute(
        """INSERT INTO alerts (id, fingerprint, station_id, kind, status, state, public, alert_level, areas,
                               version, opened_at, updated_at)
           OVERRIDING SYSTEM VALUE
           VALUES (%s, %s, 'kyoden-chiwara', 'stage', %s, 'active', %s, 4, %s, 1, %s, %s)""",
        (alert_id, f"voice:{alert_id}", status.value, status is Status.actual, [UPPER], NOW, NOW),
    )
    payload = message(level=4, alert_id=alert_id, version=1, status=status).model_dump_json()
    conn.execute(
        """INSERT INTO alert_outbox (alert_id, version, msg_type, status, public, payload, created_at)
           VALUES (%s, 1, 'Alert', %s, %s, %s, %s)""",
        (alert_id, status.value, status is Status.actual, payload, NOW),
    )


def test_the_level_of_an_area_spoken(client, conn, tmp_path):
    flood(conn, level=4)
    for lang in ("ja", "ja-easy", "en"):
        answer = client.get("/r/speech.wav", params={"area": UPPER, "lang": lang})
        assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
        assert seconds_of(answer.content, tmp_path) > 2


def test_a_public_alert_spoken_for_the_gateway_never_an_exercise(client, conn, tmp_path):
    outbox(conn, alert_id=901)
    outbox(conn, alert_id=902, status=Status.exercise)
    spoken = client.get("/api/speech/901/1.wav", params={"lang": "en"})
    assert spoken.status_code == 200 and seconds_of(spoken.content, tmp_path) > 3
    assert client.get("/api/speech/902/1.wav").status_code == 404
    assert client.get("/api/speech/901/7.wav").status_code == 404
    assert client.get("/api/speech/901/1.wav", params={"lang": "xx"}).status_code == 422


def test_the_page_has_a_player_and_announces_a_level_change(demo_db, conn):
    config = ResidentConfig(key=new_key())
    with serve(create_app(demo_db, residents_config=config)) as base, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_context(locale="ja-JP").new_page()
        page.clock.install()
        page.goto(f"{base}/r/?area={UPPER}&lang=ja")
        player = page.locator(".listen audio")
        expect(player).to_have_attribute("src", f"/r/speech.wav?area={UPPER}&lang=ja")
        assert (
            page.evaluate("() => fetch(document.querySelector('.listen audio').src).then(r => r.status)")
            == 200
        )
        expect(page.locator("#level-announce")).to_have_text("")
        flood(conn, level=4)
        page.clock.run_for(61_000)  # the page looks again every minute
        expect(page.locator("#level-announce")).to_have_text(
            "警戒レベルが変わりました。警戒レベル4「避難指示」"
        )
        expect(page.locator("#level-text")).to_contain_text("避難指示")
        browser.close()
