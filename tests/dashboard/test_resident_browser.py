"""The resident page in headless Chromium (Debian's, driven by Playwright) on a phone
viewport: it reads in ja / en / やさしい日本語, registers its service worker, subscribes
to Web Push and by e-mail, shows a pushed alert as a notification (a repeat of the same
version quietly), and unsubscribes.

What is real and what is not:
- real: the page, its script, the service worker's registration, the browser's
  notification permission, the POST to /api/subscriptions and what the server stores
  (unsealed again with recipients_for), the e-mail form and its confirmation e-mail (a
  real SMTP server) and page, the unsubscribe page, and the
  service worker's ``push`` handler showing a notification for a payload made by
  ``notify.render.push_payload`` (delivered through the DevTools protocol's
  ``ServiceWorker.deliverPushMessage``, as a push service would), the same push
  delivered again showing once and silently, also after the worker was stopped
  (``ServiceWorker.stopAllWorkers``), and a newer version alerting again.
- replaced: ``PushManager.subscribe`` — Chromium's needs Google's push service (FCM),
  which a test cannot reach, so an init script returns a PushSubscription-shaped object
  with real P-256 keys. Encryption to those keys and the RFC 8030 request are tested
  against a local push service in tests/notify/test_webpush.py.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect, sync_playwright

from alerts.model import MsgType
from dashboard.main import create_app
from dashboard.routers.residents import ResidentConfig
from kawamori import db
from notify import subscriptions as subs
from notify.channels.webpush import generate_vapid_keys
from notify.render import Channel, push_payload, render
from tests.dashboard.test_residents_api import mail_link
from tests.helpers import screenshot_path, serve, wait_for
from tests.notify.factories import RESIDENT_URL, UNSUBSCRIBE_URL, message
from tests.notify.subscribers import NOW, UPPER, flood, new_key
from tests.notify.test_webpush import Browser

SCREENSHOT = screenshot_path("resident-page.png")
PHONE = {"width": 390, "height": 844}

FAKE_PUSH = """
(() => {
  const fake = %s;
  // like the browser's, the subscription outlives the page (kept in this test's storage)
  const sub = { endpoint: fake.endpoint, expirationTime: null, toJSON() { return fake; },
                unsubscribe: async () => { localStorage.removeItem("fake-push"); return true; } };
  PushManager.prototype.subscribe = async function () {
    localStorage.setItem("fake-push", "1");
    return sub;
  };
  PushManager.prototype.getSubscription = async function () {
    return localStorage.getItem("fake-push") ? sub : null;
  };
})();
"""


@pytest.fixture
def resident(demo_db, mailbox):
    key = new_key()
    _, vapid_public = generate_vapid_keys()
    config = ResidentConfig(key=key, vapid_public_key=vapid_public, mailer=mailbox.mailer)
    keys = Browser()
    address = {
        "endpoint": "https://push.example.net/wpush/v2/abc",
        "expirationTime": None,
        "keys": {"p256dh": keys.p256dh, "auth": keys.subscription("x").auth},
    }
    with (
        serve(create_app(demo_db, clock=lambda: NOW, residents_config=config)) as base,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(
            locale="ja-JP", viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
        )
        context.grant_permissions(["notifications"], origin=base)
        context.add_init_script(FAKE_PUSH % json.dumps(address))
        page = context.new_page()
        yield page, context, base, demo_db, key, address
        browser.close()


CONTRAST = """() => {
  // WCAG 2.x contrast of every element that holds text, against its painted background
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92
                                                     : ((v + 0.055) / 1.055) ** 2.4; })
                                       .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    const shown = style.visibility !== "hidden" && style.display !== "none" && el.getClientRects().length;
    if (!own || !shown) continue;
    const [a, b] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const text = el.textContent.trim().slice(0, 20);
    if (ratio < 4.5) worst.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)} "${text}"`);
  }
  return worst;
}"""


def font_sizes(page) -> float:
    return page.evaluate(
        """() => Math.min(...[...document.querySelectorAll("main p, main li, main label, main button")]
                   .filter((el) => el.getClientRects().length)
                   .map((el) => parseFloat(getComputedStyle(el).fontSize)))"""
    )


def waiting(page, check, explain=None):
    """``wait_for(check)``, letting Playwright run its loop while it waits: CDP events and
    what the service worker does arrive meanwhile."""
    return wait_for(lambda: page.wait_for_timeout(100) or check(), interval=0, explain=explain)


class PushService:
    """Stands in for the push service: delivers payloads to the resident page's service
    worker through the DevTools protocol (``ServiceWorker.deliverPushMessage``), and
    can stop the worker (``ServiceWorker.stopAllWorkers``), as a phone does when idle."""

    def __init__(self, page, context, base: str) -> None:
        self.page, self.base = page, base
        self.cdp = context.new_cdp_session(page)
        self.registrations: list[str] = []
        self.status: dict[str, str] = {}  # versionId -> runningStatus
        self.cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: self.registrations.extend(
                r["registrationId"] for r in event["registrations"] if r["scopeURL"] == f"{base}/r/"
            ),
        )
        self.cdp.on(
            "ServiceWorker.workerVersionUpdated",
            lambda event: self.status.update({v["versionId"]: v["runningStatus"] for v in event["versions"]}),
        )
        self.cdp.send("ServiceWorker.enable")
        waiting(page, lambda: self.registrations, lambda: "no registration reported")

    def deliver(self, payload: bytes) -> None:
        self.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": self.base, "registrationId": self.registrations[0], "data": payload.decode()},
        )

    def stop_worker(self) -> None:
        self.cdp.send("ServiceWorker.stopAllWorkers")
        waiting(self.page, lambda: set(self.status.values()) == {"stopped"}, lambda: self.status)


SHOWN = """async () => {
  const reg = await navigator.serviceWorker.ready;
  return (await reg.getNotifications()).map((n) => ({title: n.title, body: n.body, tag: n.tag,
    data: n.data, timestamp: n.timestamp, renotify: n.renotify, silent: n.silent}));
}"""


def notifications(page, until) -> list[dict]:
    """The notifications the service worker shows (``registration.getNotifications()``),
    once ``until(notifications)`` holds."""
    shown: list[dict] = []

    def check() -> bool:
        shown[:] = page.evaluate(SHOWN)
        return until(shown)

    waiting(page, check, lambda: shown)
    return shown


def test_read_subscribe_notify_unsubscribe(resident, mailbox):
    page, context, base, database_url, key, address = resident

    # reads in three languages; the level is in the HTML (no script needed to read it)
    page.goto(f"{base}/r/?area={UPPER}&lang=ja")
    expect(page.locator("h1")).to_have_text("川の水位と避難の情報")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("#level-text")).to_contain_text("いま、この地域に出ている警戒レベルはありません")
    assert page.evaluate(CONTRAST) == []
    page.evaluate("document.querySelector('.lead').style.color = '#999'")  # the check does see
    assert len(page.evaluate(CONTRAST)) == 1
    page.get_by_role("link", name="やさしい にほんご").click()
    expect(page.locator("h1")).to_have_text("川の 水と にげる じょうほう")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("River levels and evacuation")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="日本語").click()

    # the service worker is registered with a scope that covers the page
    scope = page.evaluate("window.kawamoriServiceWorker.then(r => r.scope)")
    assert scope == f"{base}/r/"
    active = page.evaluate("navigator.serviceWorker.ready.then(r => r.active.scriptURL)")
    assert active == f"{base}/r/sw.js"

    # Web Push: the button subscribes and the server stores exactly that subscription
    page.get_by_role("button", name="通知を受け取る").click()
    expect(page.locator("#push-status")).to_contain_text("登録しました")
    expect(page.get_by_role("button", name="通知を止める")).to_be_visible()
    with db.connect(database_url) as conn:
        (subscriber,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    push = subscriber.recipient.address
    assert (push.endpoint, push.p256dh, push.auth) == (
        address["endpoint"],
        address["keys"]["p256dh"],
        address["keys"]["auth"],
    )
    assert subscriber.language == "ja"

    # the service worker shows a pushed alert (the payload the delivery workers send)
    rendered = render(
        message(),
        language="ja",
        channel=Channel.webpush,
        resident_url=f"{base}/r/?area={UPPER}",
        unsubscribe_url=subs.unsubscribe_url(base, key=key, subscription_id=subscriber.id),
    )
    push = PushService(page, context, base)
    push.deliver(push_payload(rendered))
    shown = notifications(page, until=bool)
    assert shown[0]["title"] == rendered.title and "すぐに避難してください" in shown[0]["body"]
    assert shown[0]["tag"] == rendered.topic and shown[0]["data"]["url"] == rendered.url

    # e-mail, through the plain form, confirmed with the link in the confirmation e-mail
    page.goto(f"{base}/r/?area={UPPER}&lang=ja")
    page.get_by_label("メールアドレス").fill("resident@example.jp")
    page.get_by_role("button", name="メールで受け取る").click()
    expect(page.locator("#notice")).to_contain_text("受け付けました。確認のメールを送りました。")
    page.goto(mail_link(mailbox))
    page.get_by_role("button", name="登録する").click()
    expect(page.get_by_role("status")).to_contain_text("登録しました。")

    # a flood: what a resident sees first on a phone, with the level, what to do, the
    # river in plain words and the nearest open shelters
    with db.connect(database_url) as conn:
        flood(conn, level=4)
        conn.execute(
            """UPDATE shelters SET status = 'open', occupancy = capacity / 4
               WHERE id IN (SELECT id FROM shelters ORDER BY (latitude - 38.75) ^ 2 + (longitude - 139.94) ^ 2
                            LIMIT 3)"""
        )
    page.goto(f"{base}/r/?lat=38.75&lon=139.94&lang=ja")
    expect(page.locator("#level-text")).to_contain_text("警戒レベル4「避難指示」")
    expect(page.locator(".river").first).to_contain_text("危険 — 避難を")
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    assert page.evaluate(CONTRAST) == []  # WCAG AA: 4.5:1 for every text on the alert page
    assert font_sizes(page) >= 17  # the smallest text (times, distances) at 0.85 × 20 px

    # turning push off deletes the registration
    page.get_by_role("button", name="通知を止める").click()
    expect(page.locator("#push-status")).to_contain_text("通知を止めました")
    with db.connect(database_url) as conn:
        left = [s.channel for s in subs.recipients_for(conn, areas=[UPPER], key=key)]
    assert left == ["email"]

    # the e-mail's link: a page with a button; only pressing it unsubscribes
    with db.connect(database_url) as conn:
        (email,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    page.goto(subs.unsubscribe_url(base, key=key, subscription_id=email.id))
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 1
    page.get_by_role("button", name="お知らせを止めて削除する").click()
    expect(page.get_by_role("status")).to_contain_text("すべて削除しました")
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0
    assert not re.search(r"token=", page.url)  # the confirmation page's address carries no token


def webpush(msg) -> bytes:
    """What a delivery worker sends a Japanese resident about ``msg``."""
    return push_payload(
        render(
            msg,
            language="ja",
            channel=Channel.webpush,
            resident_url=RESIDENT_URL,
            unsubscribe_url=UNSUBSCRIBE_URL,
        )
    )


def showing(**data):
    """For ``notifications(until=...)``: one notification, whose data has these values."""
    return lambda shown: len(shown) == 1 and data.items() <= shown[0]["data"].items()


SEEN = """async (fill) => {
  // the service worker's list of the push ids it has shown (the page shares its Cache Storage)
  const cache = await caches.open("kawamori-seen-pushes-v1");
  if (fill) await cache.put("/r/seen-pushes", new Response(JSON.stringify(fill)));
  const stored = await cache.match("/r/seen-pushes");
  return stored ? stored.json() : [];
}"""


def test_a_repeated_push_shows_once_and_a_newer_version_alerts_again(resident):
    """Delivery is at least once: after a worker crash the same push can come again. The
    service worker shows it again only silently, even after being stopped; a newer
    version of the alert replaces it and alerts."""
    page, context, base, *_ = resident
    page.goto(f"{base}/r/?area={UPPER}&lang=ja")
    page.evaluate("navigator.serviceWorker.ready")
    push = PushService(page, context, base)
    first, update = message(version=1), message(version=2, msg_type=MsgType.update, level=5)

    push.deliver(webpush(first))
    (shown,) = notifications(page, until=bool)
    assert shown["data"]["id"] == first.identifier and shown["data"]["repeats"] == 0
    assert shown["renotify"] and not shown["silent"]  # the first one alerts

    push.deliver(webpush(first))  # the same version again: one notification, shown quietly
    (again,) = notifications(page, until=showing(repeats=1))
    assert (again["tag"], again["title"], again["body"]) == (shown["tag"], shown["title"], shown["body"])
    assert not again["renotify"] and again["silent"]
    assert again["timestamp"] == shown["timestamp"] == again["data"]["first"]  # still "when it came"

    push.stop_worker()  # what it has seen is in storage, not in the stopped worker's memory
    push.deliver(webpush(first))
    (third,) = notifications(page, until=showing(repeats=2))
    assert not third["renotify"] and third["silent"]
    assert "running" in push.status.values()  # the push started the worker again

    push.deliver(webpush(update))  # a newer version of the same alert replaces it and alerts
    (newer,) = notifications(page, until=showing(id=update.identifier))
    assert newer["tag"] == shown["tag"] and newer["title"] != shown["title"] and "【更新】" in newer["title"]
    assert newer["renotify"] and not newer["silent"] and newer["data"]["repeats"] == 0
    assert [s["id"] for s in page.evaluate(SEEN, None)] == [first.identifier, update.identifier]

    # the list keeps the newest 200 ids
    page.evaluate(SEEN, [{"id": f"old:{n}", "first": 0, "repeats": 0} for n in range(200)])
    push.deliver(webpush(first))  # forgotten: it alerts again
    (forgotten,) = notifications(page, until=showing(id=first.identifier))
    assert forgotten["renotify"] and forgotten["data"]["repeats"] == 0
    seen = [s["id"] for s in page.evaluate(SEEN, None)]
    assert len(seen) == 200 and seen[0] == "old:1" and seen[-1] == first.identifier
