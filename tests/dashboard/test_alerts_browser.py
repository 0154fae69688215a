"""The alert console in headless Chromium (Debian's, driven by Playwright): sign in,
see an area's proposal to issue level 4 at the top, be refused (409) when the proposal
changed while the dialog was open, approve it, watch changes made elsewhere arrive
without reloading (server-sent events), read the audit trail."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from alerts import store
from alerts.model import Condition, Kind
from alerts.policy import ApprovalPolicy
from dashboard.main import create_app
from kawamori import db, staff
from kawamori.model import Role
from tests.helpers import screenshot_path, serve

SCREENSHOT = screenshot_path("alert-console.png")
PASSWORD = "river-watch-2026"


def raise_alert(database_url: str, station: str, level: int, *, status: str = "Actual") -> int:
    """The station's confirmed stage at ``level``: evidence for its area's issuance."""
    with db.connect(database_url) as conn:
        conn.execute("UPDATE stations SET alert_status = %s WHERE id = %s", (status, station))
        condition = Condition(
            station, Kind.stage, alert_level=level, stage_key="danger", details={"level_m": 7.84}
        )
        [t] = store.apply(
            conn, station_id=station, conditions=[condition], now=datetime.now(UTC), policy=ApprovalPolicy()
        )
    return t.after.id


@pytest.fixture
def console(demo_db):
    with db.connect(demo_db) as conn:
        for username, name, role in (
            ("sato", "佐藤 花子", Role.operator),
            ("suzuki", "鈴木 一郎", Role.operator),
        ):
            staff.create_user(
                conn,
                username=username,
                display_name=name,
                role=role,
                password=PASSWORD,
                now=datetime.now(UTC),
            )
    with serve(create_app(demo_db)) as base, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 1000})
        yield context.new_page(), base, demo_db
        browser.close()


def other_operator_approves(base: str, alert_id: int) -> None:
    """Suzuki approves from another browser (the API, as the page does)."""
    with httpx.Client(base_url=base, timeout=10) as http:
        page = http.get("/staff/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', page)[1]
        http.post("/staff/login", data={"username": "suzuki", "password": PASSWORD, "login_token": token})
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', http.get("/alerts").text)[1]
        response = http.post(
            f"/api/alerts/{alert_id}/approve", json={"reason": "現地確認"}, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 200, response.text


def test_sign_in_approve_and_watch_live(console):
    page, base, database_url = console
    with db.connect(database_url) as conn:  # the gauge's last three hours, for the card's trend line
        now = datetime.now(UTC)
        for minutes_ago, level in ((150, 6.9), (100, 7.3), (50, 7.6), (5, 7.84)):
            conn.execute(
                "INSERT INTO readings (station_id, time, level_m) VALUES ('kyoden-jumonji', %s, %s)",
                (now - timedelta(minutes=minutes_ago), level),
            )
    first = raise_alert(database_url, "kyoden-jumonji", 4)

    page.goto(f"{base}/alerts")
    expect(page).to_have_url(re.compile(r"/staff/login\?next=/alerts"))
    page.fill("#username", "sato")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator("#message")).to_contain_text("ユーザー名またはパスワードが違います")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")

    pending = page.locator("#pending-list")
    expect(page.locator("#pending-title")).to_contain_text("承認待ち (1)")
    expect(page).to_have_title(re.compile(r"^\(1\) 承認待ち"))
    card = pending.locator(f"li[data-id='{first}']")
    # titled by the area, nothing issued there yet, the proposal in words with its evidence
    expect(card.locator("h3")).to_contain_text("京田川下流（十文字橋・家根広橋周辺）")
    expect(card.locator("h3")).to_contain_text("発令中のレベル: 未発令")
    expect(card.locator(".proposal")).to_contain_text("提案: 引き上げ 警戒レベル4へ · 根拠: 観測")
    expect(card).to_contain_text("警戒レベル4")
    expect(card).to_contain_text(
        "京田川下流（十文字橋・家根広橋周辺）の住民に「避難指示（警戒レベル4）」を送信します"
    )
    expect(card.locator(".evidence")).to_contain_text("十文字橋 · 観測 · 警戒レベル4 · 水位 7.84 m")
    expect(card).to_contain_text("承認 0 / 1 名")
    expect(page.locator("#live")).to_contain_text("ライブ更新中")
    # the station's last three hours beside its evidence, the direction in words too
    expect(card.locator(".evidence .trend")).to_contain_text("↑ 3時間の水位: 上昇 (6.90 → 7.84 m)")
    # sound is off: a proposal waits, so the person is asked to switch it on
    prompt = page.locator("#sound-prompt")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text("通知音がオフです")
    prompt.get_by_role("button", name="通知音をオンにする").click()
    expect(prompt).to_be_hidden()
    expect(page.locator("#sound")).to_have_attribute("aria-pressed", "true")

    # an exercise arriving while the page is open: labelled, and the count goes up without a reload
    drill = raise_alert(database_url, "fujishima-fujikawa", 4, status="Exercise")
    drill_card = pending.locator(f"li[data-id='{drill}']")
    expect(drill_card).to_contain_text("訓練", timeout=5000)
    expect(drill_card).to_contain_text("EXERCISE")
    expect(drill_card).to_contain_text("承認しても住民には送信されません")
    expect(page).to_have_title(re.compile(r"^\(2\) 承認待ち"))
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    animation = "getComputedStyle(document.getElementById('pending')).animationName"
    assert "pulse" in page.evaluate(animation)
    page.emulate_media(reduced_motion="reduce")  # no pulsing; a heavier border instead
    assert page.evaluate(animation) == "none"
    page.emulate_media(reduced_motion="no-preference")

    # the proposal changes while the dialog is open: the approval is refused (409), the person
    # is told why in the server's words, and the card shows what it is now
    card.get_by_role("button", name="承認して送信").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_contain_text("避難指示（警戒レベル4）")
    raise_alert(database_url, "kyoden-jumonji", 5)
    expect(card.locator(".proposal")).to_contain_text("警戒レベル5へ", timeout=5000)
    page.fill("#confirm-reason", "古い画面から")
    page.click("#confirm-ok")
    expect(dialog).to_be_hidden()
    conflict = card.locator(".conflict")
    expect(conflict).to_contain_text("提案が変わっていたため、操作は行われませんでした")
    expect(conflict).to_contain_text("changed since you saw it")
    expect(conflict).to_be_focused()
    expect(card).to_contain_text("承認 0 / 2 名")
    raise_alert(database_url, "kyoden-jumonji", 4)  # the water settles back at level 4
    expect(card.locator(".proposal")).to_contain_text("警戒レベル4へ", timeout=5000)
    conflict.get_by_role("button", name="閉じる").click()
    expect(card.locator(".conflict")).to_have_count(0)

    card.get_by_role("button", name="承認して送信").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("避難指示（警戒レベル4）")
    page.fill("#confirm-reason", "水位上昇を現地で確認")
    page.click("#confirm-ok")
    expect(dialog).to_be_hidden()
    active = page.locator("#active-list")
    expect(active.locator(f"li[data-id='{first}']")).to_contain_text("発令中")
    expect(active.locator(f"li[data-id='{first}'] h3")).to_contain_text("発令中のレベル: 警戒レベル4")
    expect(page).to_have_title(re.compile(r"^\(1\) 承認待ち"))

    # someone else approves the exercise: it moves to the active list by itself (SSE, no polling yet)
    other_operator_approves(base, drill)
    expect(active.locator(f"li[data-id='{drill}']")).to_contain_text("訓練", timeout=5000)
    expect(page.locator("#pending-list")).to_contain_text("承認待ちはありません")
    expect(page).to_have_title(re.compile(r"^警報コンソール"))

    audit = active.locator(f"li[data-id='{first}'] details.audit")
    if not audit.get_attribute("open"):
        audit.locator("summary").click()
    expect(audit).to_contain_text("佐藤 花子")
    expect(audit).to_contain_text("承認")
    expect(audit).to_contain_text("水位上昇を現地で確認")
    expect(audit).to_contain_text("提案の変更 引き上げ (警戒レベル5)")
    expect(audit.locator("li", has_text="佐藤 花子: 発令")).to_contain_text("警戒レベル4")
    # the engine's reasons in Japanese, from the one catalogue (alerts.audit_texts)
    expect(audit).to_contain_text("発令の根拠となる状況が生じました")
    drill_audit = active.locator(f"li[data-id='{drill}'] details.audit")
    drill_audit.locator("summary").click()
    expect(drill_audit).to_contain_text("鈴木 一郎")

    # keyboard: acknowledge with Tab/Enter only
    active.locator(f"li[data-id='{first}']").get_by_role("button", name="確認した").focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Enter")
    expect(active.locator(f"li[data-id='{first}']")).to_contain_text("確認済み: 佐藤 花子")

    # a forecast of level 4 from an hourly gauge, then the water falls to level 2: the level
    # is held for the gauge's dwell, and the card says from when it may come down
    with db.connect(database_url) as conn:
        now = datetime.now(UTC)
        for when, condition in (
            (now, Condition("kyoden-jumonji", Kind.forecast, 4, "danger", details={"hold_s": 3600.0})),
            (now + timedelta(seconds=1), Condition("kyoden-jumonji", Kind.stage, 2, "caution")),
        ):
            store.apply(
                conn, station_id="kyoden-jumonji", conditions=[condition], now=when, policy=ApprovalPolicy()
            )
    held = active.locator(f"li[data-id='{first}']")
    expect(held).to_contain_text("根拠は発令中のレベルを下回っています。下げる判断ができるのは", timeout=5000)
    expect(held.locator("h3")).to_contain_text("発令中のレベル: 警戒レベル4")

    page.click("#lang")
    expect(page.locator("#active-title")).to_contain_text("Active alerts")
    expect(held).to_contain_text("it may come down from")
    expect(active.locator(f"li[data-id='{first}']")).to_contain_text("Acknowledged by 佐藤 花子")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#message")).to_contain_text("You have signed out")
    page.goto(f"{base}/alerts")
    expect(page).to_have_url(re.compile(r"/staff/login"))
