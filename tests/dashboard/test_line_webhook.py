"""The LINE webhook against the local LINE platform (signed webhooks in, replies out
over HTTP, a real database): follow, language, location, unfollow."""

from __future__ import annotations

import json

import httpx

from notify import subscriptions as subs
from notify.channels import line
from tests.dashboard.conftest import LINE_SECRET
from tests.helpers import wait_for
from tests.notify.subscribers import IN_UPPER, NOW, OUTSIDE, UPPER, line_user, queue_work


def line_event(kind: str, user: str, event_id: str, **extra) -> dict:
    event = {
        "type": kind,
        "webhookEventId": event_id,
        "timestamp": int(NOW.timestamp() * 1000),  # the app's clock: older events are replays
        "source": {"type": "user", "userId": user},
        "replyToken": f"reply-{event_id}",
        "deliveryContext": {"isRedelivery": False},
        "mode": "active",
    }
    event.update(extra)
    return event


def post_line(client, events: list[dict], secret: str = LINE_SECRET) -> httpx.Response:
    body = json.dumps({"destination": "Ubot", "events": events}).encode()
    return client.post(
        "/line/webhook", content=body, headers={"X-Line-Signature": line.signature(secret, body)}
    )


def location(lat: float, lon: float) -> dict:
    return {"message": {"id": "1", "type": "location", "latitude": lat, "longitude": lon, "address": "x"}}


def said(text: str) -> dict:
    return {"message": {"id": "2", "type": "text", "text": text}}


def reply_to(line_api, event_id: str) -> list[dict]:
    """The messages of the reply to an event, once the LINE platform has it (replies are
    sent after each answer, so two of them may arrive in either order)."""

    def found() -> dict | None:
        bodies = (json.loads(r.body) for r in line_api.requests if r.path == "/v2/bot/message/reply")
        return next((b for b in bodies if b["replyToken"] == f"reply-{event_id}"), None)

    return wait_for(found)["messages"]


def test_line_follow_location_unfollow(client, conn, key, line_api):
    user = line_user(7)
    assert post_line(client, [line_event("follow", user, "E1")]).status_code == 200
    assert "位置情報" in reply_to(line_api, "E1")[0]["text"]
    assert line_api.requests[0].path == "/v2/bot/message/reply"

    assert post_line(client, [line_event("message", user, "E2", **location(*IN_UPPER))]).status_code == 200
    (subscriber,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    assert subscriber.recipient.address == user and subscriber.channel == "line"
    assert subscriber.language == "ja"  # LINE does not say: Japanese until the resident chooses
    assert "登録しました：京田川上流" in reply_to(line_api, "E2")[0]["text"]

    # LINE redelivers the same event: acted on once
    assert post_line(client, [line_event("message", user, "E2", **location(*IN_UPPER))]).status_code == 200
    assert post_line(client, [line_event("message", user, "E3", **location(*OUTSIDE))]).status_code == 200
    assert "対象地域の外" in reply_to(line_api, "E3")[0]["text"]
    assert len(line_api.requests) == 3  # the redelivery got no second reply

    queue_work(conn, subscriber.id)
    assert post_line(client, [line_event("unfollow", user, "E4")]).status_code == 200
    for table in ("subscriptions", "deliveries", "notification_log"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_the_greeting_offers_a_button_per_language(client, line_api):
    post_line(client, [line_event("follow", line_user(8), "G1")])
    greeting = reply_to(line_api, "G1")
    texts = [m["text"] for m in greeting]
    assert "位置情報" in texts[0] and "いちじょうほう" in texts[1] and "send your location" in texts[2]
    assert all("quickReply" not in m for m in greeting[:-1])  # buttons under the last one
    items = greeting[-1]["quickReply"]["items"]
    assert [i["action"] for i in items] == [
        {"type": "message", "label": label, "text": label}
        for label in ("日本語", "English", "やさしい にほんご")
    ]
    assert all(i["type"] == "action" for i in items)


def test_a_language_chosen_before_the_location_is_kept(client, conn, key, line_api):
    user = line_user(9)
    post_line(client, [line_event("follow", user, "L1")])
    post_line(client, [line_event("message", user, "L2", **said("English"))])  # the button
    answer = reply_to(line_api, "L2")
    assert answer == [{"type": "text", "text": answer[0]["text"]}] and "in English" in answer[0]["text"]
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0  # nothing to change yet
    post_line(client, [line_event("message", user, "L3", **location(*IN_UPPER))])
    (subscriber,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    assert subscriber.language == "en"
    assert reply_to(line_api, "L3")[0]["text"].startswith("Registered: Upper Kyoden River")


def test_typed_words_switch_the_language_and_the_answer_is_in_it(client, conn, key, line_api):
    user = line_user(10)
    post_line(client, [line_event("message", user, "T1", **location(*IN_UPPER))])
    for n, (text, language, answer) in enumerate(
        [
            ("やさしい日本語", "ja-easy", "やさしい にほんご で おくります"),
            ("英語", "en", "in English"),
            (" ｅｎｇｌｉｓｈ ", "en", "in English"),  # full-width, spaces
            ("にほんご", "ja", "日本語で送ります"),
        ],
        start=2,
    ):
        post_line(client, [line_event("message", user, f"T{n}", **said(text))])
        assert answer in reply_to(line_api, f"T{n}")[0]["text"], text
        (subscriber,) = subs.recipients_for(conn, areas=[UPPER], key=key)
        assert subscriber.language == language
    # any other text: no answer, no change
    post_line(client, [line_event("message", user, "T9", **said("こんにちは"))])
    post_line(client, [line_event("follow", user, "T10")])
    assert "quickReply" in reply_to(line_api, "T10")[-1]
    replied = {
        json.loads(r.body)["replyToken"] for r in line_api.requests if r.path == "/v2/bot/message/reply"
    }
    assert "reply-T9" not in replied
    (subscriber,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    assert subscriber.language == "ja"


def test_unfollow_forgets_a_language_choice(client, conn, line_api):
    user = line_user(11)
    post_line(client, [line_event("message", user, "U1", **said("English"))])
    assert conn.execute("SELECT count(*) FROM language_choices").fetchone()[0] == 1
    post_line(client, [line_event("unfollow", user, "U2")])
    assert conn.execute("SELECT count(*) FROM language_choices").fetchone()[0] == 0


def test_line_refuses_a_wrong_signature(client, conn):
    response = post_line(
        client, [line_event("message", line_user(), "E9", **location(*IN_UPPER))], secret="wrong"
    )
    assert response.status_code == 401
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM line_events").fetchone()[0] == 0
