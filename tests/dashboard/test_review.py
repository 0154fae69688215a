"""The after-action review: its pure parts (stage crossings from the buckets' maxima,
shelter occupancy curves, the timeline's order) and an event through the real engine
and API — readings with a one-reading peak, a proposal approved by a named person,
deliveries per channel with a failure and a duplicate, shelter counts — on the page
(ja / en, in Chromium, plots drawn) and as CSV."""

from __future__ import annotations

import csv
import io
import os
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from dashboard.review import (
    ACTIONS,
    KINDS,
    Entry,
    ShelterCurve,
    occupancy_curve,
    occupancy_marks,
    stage_crossings,
    timeline,
)
from kawamori import db, texts
from kawamori.model import ShelterStatus
from tests.dashboard.test_alerts_api import AREA, STATION, raise_alert, server, sign_in  # noqa: F401

T0 = datetime(2026, 9, 20, 0, 0, tzinfo=UTC)
STAGES = [
    {"key": "caution", "name_ja": "氾濫注意水位", "name_en": "Flood caution", "level_m": 7.07},
    {"key": "danger", "name_ja": "氾濫危険水位", "name_en": "Flood danger", "level_m": 7.77},
]


def bucket(minutes: int, mean: float, top: float) -> dict:
    return {"time": T0 + timedelta(minutes=minutes), "level_m": mean, "min_m": mean - 0.1, "max_m": top}


def test_stage_crossings_count_a_one_reading_peak():
    points = [bucket(0, 6.0, 6.1), bucket(10, 7.2, 7.3), bucket(20, 7.3, 7.90), bucket(30, 7.0, 7.1)]
    entries = stage_crossings("s", ("十文字", "Jumonji"), points, STAGES)
    assert [(e.at, e.ja) for e in entries] == [
        (T0 + timedelta(minutes=10), "十文字: 氾濫注意水位（7.07 m）に達した（最高 7.30 m）"),
        (T0 + timedelta(minutes=20), "十文字: 氾濫危険水位（7.77 m）に達した（最高 7.90 m）"),
        (T0 + timedelta(minutes=30), "十文字: 氾濫危険水位（7.77 m）を下回った"),
    ]
    assert entries[1].en == "Jumonji: reached Flood danger (7.77 m; highest 7.90 m)"


@pytest.mark.parametrize(
    ("events", "curve", "changes"),
    [
        ([], [(T0, 0)], 0),
        ([(T0 - timedelta(hours=1), "set", 40)], [(T0, 40)], 0),  # counted before: the curve starts there
        (
            [
                (T0 - timedelta(hours=1), "set", 40),
                (T0 + timedelta(minutes=5), "delta", 3),
                (T0 + timedelta(minutes=9), "delta", -50),
                (T0 + timedelta(minutes=20), "set", 12),
            ],
            [
                (T0, 40),
                (T0 + timedelta(minutes=5), 43),
                (T0 + timedelta(minutes=9), 0),
                (T0 + timedelta(minutes=20), 12),
            ],
            3,
        ),
    ],
)
def test_occupancy_curve(events, curve, changes):
    assert occupancy_curve(events, since=T0) == (curve, changes)


def test_occupancy_marks_say_when_a_shelter_filled():
    at = [T0 + timedelta(minutes=m) for m in range(5)]
    shelter = ShelterCurve(
        "s", "体育館", "Gym", 100, [(T0, 60), *zip(at[1:], (70, 85, 100, 90), strict=True)], 4
    )
    assert [e.ja for e in occupancy_marks(shelter)] == [
        "体育館: 70 人",  # the first count; half was passed before the range: not again
        "体育館: 収容の80%に達した（85/100 人）",
        "体育館: 収容の100%に達した（100/100 人）",
        "体育館: 最大 100 人",
    ]
    unknown = ShelterCurve("u", "公民館", "Hall", None, [(T0, 0), (at[1], 5), (at[2], 3)], 2)
    assert [e.en for e in occupancy_marks(unknown)] == ["Hall: 5 people"]  # its first count is its highest
    assert occupancy_marks(ShelterCurve("n", "n", "n", 10, [(T0, 0)], 0)) == []


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_action_kind_and_shelter_status_has_words(language):
    review = texts.section("console", language)
    for key in [f"actions.{a}" for a in ACTIONS] + [f"kinds.{k}" for k in KINDS]:
        assert review[f"review.{key}"].strip()
    for status in ShelterStatus:  # review_store.statuses
        assert "{shelter}" in review[f"review.status.{status}"]


def test_timeline_orders_by_time_then_kind():
    late = Entry(T0 + timedelta(minutes=1), "reading", "a", "a")
    decision = Entry(T0, "decision", "b", "b")
    reading = Entry(T0, "reading", "c", "c")
    assert timeline([late, decision], [reading]) == [reading, decision, late]


def subscription(conn, channel: str) -> uuid.UUID:
    sid = uuid.uuid4()
    conn.execute(
        """INSERT INTO subscriptions (id, channel, language, address_sealed, address_digest, areas,
                                      unsubscribe_digest) VALUES (%s, %s, 'ja', %s, %s, %s, %s)""",
        (sid, channel, os.urandom(16), uuid.uuid4().hex, [AREA], uuid.uuid4().hex),
    )
    return sid


@pytest.fixture
def event(server):  # noqa: F811
    """An hour of rising water at Jumonji with a one-reading peak over danger, the
    engine's proposal approved by AP 職員, two channels' deliveries, a shelter filling."""
    base, database_url = server
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with db.connect(database_url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (station_id, time, level_m) VALUES (%s, %s, %s)",
            [
                (STATION, now - timedelta(minutes=m), 7.7 - m * 0.01 if m != 30 else 8.05)
                for m in range(60, 0, -1)
            ],
        )
    alert_id = raise_alert(database_url, 4)
    with sign_in(base, "ap") as http:
        revision = http.get(f"/api/alerts/{alert_id}").json()["alert"]["revision"]
        approved = http.post(
            f"/api/alerts/{alert_id}/approve", json={"reason": "現地確認済み", "revision": revision}
        )
        assert approved.status_code == 200, approved.text
    with db.connect(database_url) as conn:
        [(outbox_id, version)] = conn.execute(
            "SELECT id, version FROM alert_outbox WHERE alert_id = %s", (alert_id,)
        ).fetchall()
        for channel, states in (("line", ["delivered"] * 3 + ["failed"]), ("email", ["delivered", "gone"])):
            for n, state in enumerate(states):
                sid = subscription(conn, channel)
                delivery = conn.execute(
                    """INSERT INTO deliveries (outbox_id, subscription_id, alert_id, version, channel, state,
                                               not_before, deadline, done_at)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                    (outbox_id, sid, alert_id, version, channel, state, now, now + timedelta(hours=1), now),
                ).fetchone()[0]
                outcomes = (
                    ["delivered", "delivered"] if (channel, n) == ("line", 0) else [state]
                )  # one duplicate
                for attempt, outcome in enumerate(outcomes, 1):
                    conn.execute(
                        """INSERT INTO notification_log (delivery_id, alert_id, version, subscription_id,
                                                         channel, attempt, outcome, at)
                           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                        (
                            delivery,
                            alert_id,
                            version,
                            sid,
                            channel,
                            attempt,
                            "failed" if outcome == "failed" else "gone" if outcome == "gone" else "delivered",
                            now,
                        ),
                    )
        # Kanehiro's shelter (藤島地域活動センター is near area-kyoden-lower): opened and filling
        shelter = conn.execute(
            """SELECT id FROM shelters ORDER BY (latitude - 38.80)^2 + (longitude - 139.88)^2 LIMIT 1"""
        ).fetchone()[0]
        conn.execute("UPDATE shelters SET capacity = 50 WHERE id = %s", (shelter,))
        conn.execute(
            "INSERT INTO shelter_status_events (id, shelter_id, status, recorded_at) "
            "VALUES (%s, %s, 'open', %s)",
            (uuid.uuid4(), shelter, now - timedelta(minutes=50)),
        )
        for minutes, kind, value in ((45, "set", 10), (30, "delta", 25), (15, "delta", 7)):
            conn.execute(
                """INSERT INTO shelter_count_events (id, shelter_id, kind, value, source, recorded_at)
                   VALUES (%s, %s, %s, %s, 'staff', %s)""",
                (uuid.uuid4(), shelter, kind, value, now - timedelta(minutes=minutes)),
            )
    return base, now, shelter, database_url


def test_the_review_as_csv(event):
    base, now, _, database = event
    params = {
        "area": AREA,
        "since": (now - timedelta(hours=2)).isoformat(),
        "until": (now + timedelta(minutes=5)).isoformat(),
    }
    assert httpx.get(f"{base}/review.csv", params=params).status_code == 401
    with sign_in(base, "op") as http:
        response = http.get("/review.csv", params=params)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
        whats = [r["what_ja"] for r in rows]
        assert any("氾濫危険水位（7.77 m）に達した（最高 8.05 m）" in w for w in whats)
        approvals = [r for r in rows if r["kind"] == "decision" and ": 承認 — 現地確認済み" in r["what_ja"]]
        assert approvals and approvals[0]["who_ja"] == "AP 職員"
        issued = [
            r for r in rows if r["kind"] == "decision" and ": 発令 — 承認により発効しました" in r["what_ja"]
        ]
        assert issued and issued[0]["who_en"] == "AP 職員"
        assert any(
            r["kind"] == "decision" and r["who_en"] == "engine" and "提案" in r["what_ja"] for r in rows
        )
        evidence = [r["what_ja"].split(": ", 1)[1] for r in rows if r["kind"] == "evidence"]
        assert evidence[0] == "十文字橋 7.40 m（観測、警戒レベル4相当）"
        deliveries = {r["what_en"].split(": ", 1)[1] for r in rows if r["kind"] == "delivery"}
        assert deliveries == {
            "version 1 line: sent 3, failed 1, duplicates 1, superseded 0, pending 0",
            "version 1 email: sent 1, failed 1, duplicates 0, superseded 0, pending 0",
        }
        assert [r["what_en"].split(": ", 1)[1] for r in rows if r["kind"] == "shelter"] == [
            "opened",
            "10 people",
            "reached 50 % of capacity (35/50)",
            "reached 80 % of capacity (42/50)",
            "highest, 42 people",
        ]
        assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
        # a station in no area is an area of its own (as on the map): its readings and shelters
        with db.connect(database) as conn:
            conn.execute("DELETE FROM alert_area_stations WHERE station_id = 'kyoden-chiwara'")
        alone = http.get("/review.csv", params={**params, "area": "kyoden-chiwara"})
        assert alone.status_code == 200 and "time,area,kind" in alone.text
        # bad requests say why
        wrong = http.get("/review.csv", params={**params, "until": params["since"]})
        assert wrong.status_code == 400 and "after its start" in wrong.json()["detail"]
        assert http.get("/review.csv", params={"area": "nowhere"}).json()["detail"] == "no area nowhere"
        assert "not a date" in http.get("/review.csv", params={"since": "yesterday"}).json()["detail"]
        long = {"since": (now - timedelta(days=40)).isoformat()}
        assert "at most 31 days" in http.get("/review.csv", params=long).json()["detail"]


def test_the_review_page_in_chromium(event):
    base, now, *_ = event
    since = (now - timedelta(hours=2)).astimezone().replace(tzinfo=None)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_context(locale="ja-JP", viewport={"width": 1200, "height": 900}).new_page()
        page.goto(f"{base}/staff/login?next=/review")
        page.fill("#username", "op")
        page.fill("#password", "river-watch-2026")
        page.click("button[type=submit]")
        page.goto(f"{base}/review?area={AREA}&since={since.isoformat()}&lang=ja")
        expect(page.locator("#timeline")).to_contain_text("氾濫危険水位（7.77 m）に達した（最高 8.05 m）")
        expect(page.locator("#timeline")).to_contain_text("AP 職員")
        expect(page.locator("#deliveries tr[data-channel='line']")).to_contain_text("3")
        # the plots: Jumonji's envelope reaches above its danger line; the shelter's count is drawn
        jumonji = page.locator("figure.plot-box", has_text="十文字").locator(".hydrograph-summary")
        expect(jumonji).to_contain_text("期間の最高: 8.05 m")
        filled = page.locator("figure.plot-box", has_text="最大 42")
        expect(filled.locator(".occupancy svg path.count")).to_have_count(1)
        expect(filled).to_contain_text("記録 3")
        expect(page.locator("#csv")).to_have_attribute(
            "href", f"/review.csv?area={AREA}&since={since.isoformat().replace(':', '%3A')}"
        )
        # English
        page.get_by_role("link", name="English").click()
        expect(page.locator("#timeline")).to_contain_text("reached Flood danger (7.77 m; highest 8.05 m)")
        expect(page.locator("#timeline-title")).to_contain_text("Timeline")
        assert page.evaluate("window.__xss") is None
        browser.close()
