"""マイ・タイムライン in Chromium: a resident writes their steps for levels 3, 4 and 5
(kept in the browser's IndexedDB, never sent); the resident page at level 4 shows their
own step, and a pushed level-4 alert shown by the service worker starts with it."""

from __future__ import annotations

from playwright.sync_api import expect

from kawamori import db
from notify.render import Channel, push_payload, render
from tests.dashboard.test_resident_browser import PushService, notifications, resident  # noqa: F401
from tests.notify.factories import UNSUBSCRIBE_URL, message
from tests.notify.subscribers import UPPER, flood


def test_my_timeline_on_the_page_and_in_alerts(resident):  # noqa: F811
    page, context, base, database_url, _, _ = resident
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.post_data or ""))
    page.goto(f"{base}/r/timeline?lang=ja")
    expect(page.locator("h1")).to_have_text("マイ・タイムライン")
    page.get_by_label("高齢者等避難").fill("祖母を連れて京田小学校へ")
    page.get_by_label("避難指示").fill("薬と水を持ってすぐ出る")
    page.get_by_role("button", name="保存する").click()
    expect(page.locator("#timeline-status")).to_have_text("保存しました。")
    assert not any("祖母" in body for body in requests)  # stays in the browser
    page.reload()
    expect(page.get_by_label("高齢者等避難")).to_have_value("祖母を連れて京田小学校へ")

    with db.connect(database_url) as conn:
        flood(conn, level=4)
    page.goto(f"{base}/r/?area={UPPER}&lang=ja")
    expect(page.locator("#my-step")).to_have_text("わたしの行動（レベル4）：薬と水を持ってすぐ出る")

    push = PushService(page, context, base)
    rendered = render(
        message(level=4), language="ja", channel=Channel.webpush, resident_url=f"{base}/r/",
        unsubscribe_url=UNSUBSCRIBE_URL,
    )  # fmt: skip
    push.deliver(push_payload(rendered))
    (shown,) = notifications(page, lambda shown: len(shown) == 1)
    assert shown["body"].startswith("わたしの行動: 薬と水を持ってすぐ出る\n\n")
    assert rendered.body in shown["body"]

    # deleting the timeline removes it from the page
    page.goto(f"{base}/r/timeline?lang=ja")
    page.get_by_role("button", name="すべて消す").click()
    expect(page.locator("#timeline-status")).to_have_text("消しました。")
    page.goto(f"{base}/r/?area={UPPER}&lang=ja")
    expect(page.locator("#level-text")).to_contain_text("避難指示")
    expect(page.locator("#my-step")).to_be_hidden()
