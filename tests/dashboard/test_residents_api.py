"""The resident side over HTTP (a real uvicorn server, a real database, a real SMTP
server): the page, subscribe / confirm / unsubscribe, and the privacy promises (the
LINE webhook: test_line_webhook.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
import structlog

from dashboard.main import create_app
from dashboard.resident_view import river_word
from dashboard.routers.residents import ResidentConfig
from kawamori import db
from notify import subscriptions as subs
from tests.dashboard.test_line_webhook import line_event, location, post_line, said
from tests.helpers import serve, wait_for
from tests.notify.subscribers import (
    LOWER,
    NOW,
    OUTSIDE,
    UPPER,
    flood,
    line_user,
    push_address,
    queue_work,
)
from tests.notify.test_email import parse, text

# --- plain words --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "stage", "stale", "reading", "word"),
    [
        (None, None, False, True, "normal"),
        (None, "standby", False, True, "high"),
        (2, "caution", False, True, "high"),
        (3, "evacuation-judgement", False, True, "prepare"),
        (4, "danger", False, True, "danger"),
        (5, "flooding", False, True, "flooding"),
        (4, "danger", True, True, "unknown"),  # old data is never shown as current
        (None, None, False, False, "unknown"),
    ],
)
def test_river_words(level, stage, stale, reading, word):
    assert river_word(alert_level=level, stage_key=stage, stale=stale, has_reading=reading) == word


# --- the page ---------------------------------------------------------------------------------------


def test_page_shows_the_level_and_what_to_do_without_javascript(client, conn):
    flood(conn, level=4)
    page = client.get("/r/", params={"area": UPPER, "lang": "ja"})
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    assert "警戒レベル4「避難指示」" in page.text
    assert "危険な場所にいる人は全員、すぐに避難してください。" in page.text  # the message templates' words
    assert "危険 — 避難を" in page.text and "3.30 m" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self': no inline script
    assert page.headers["referrer-policy"] == "no-referrer"
    easy = client.get("/r/", params={"area": UPPER, "lang": "ja-easy"})
    assert "レベル4（にげて ください）" in easy.text and "あぶない — にげて" in easy.text
    english = client.get("/r/", params={"area": UPPER, "lang": "en"})
    assert '<html lang="en">' in english.text and "Alert level 4: evacuate" in english.text
    assert (
        client.get("/r", params={"lang": "en"}, follow_redirects=False).headers["location"] == "/r/?lang=en"
    )


def test_an_exercise_is_never_shown_as_real(client, conn):
    flood(conn, level=5, status="Exercise")
    page = client.get("/r/", params={"area": UPPER, "lang": "en"})
    assert "Alert level 5" not in page.text
    assert "There is no alert for this area now." in page.text


def test_a_place_gives_areas_rivers_and_shelters_and_is_rounded(client, conn):
    flood(conn, level=3)
    summary = client.get(
        "/api/residents/summary", params={"lat": 38.7512, "lon": 139.9437, "lang": "en"}
    ).json()
    assert [a["id"] for a in summary["areas"]] == [UPPER]
    assert summary["alert_level"] == 3
    assert summary["rivers"][0]["station_id"] == "kyoden-chiwara"
    assert summary["rivers"][0]["word"] == "prepare" and summary["rivers"][0]["symbol"] == "▲"
    assert summary["shelters"] is not None
    page = client.get("/r/", params={"lat": 38.7512, "lon": 139.9437})
    assert "38.7512" not in page.text and "lat=38.75&amp;lon=139.94" in page.text
    outside = client.get("/api/residents/summary", params={"lat": OUTSIDE[0], "lon": OUTSIDE[1]}).json()
    assert outside["outside"] and outside["areas"] == []


def test_area_picker_and_service_worker(client):
    areas = client.get("/api/residents/areas", params={"lang": "en"}).json()
    assert {a["id"] for a in areas} == {UPPER, LOWER, "area-fujishima"}
    worker = client.get("/r/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "showNotification" in worker.text
    help_page = client.get("/r/help")
    assert help_page.status_code == 200 and "やさしい にほんご" in help_page.text


# --- subscribe / unsubscribe -------------------------------------------------------------------------


def test_push_subscription_answers_the_same_known_or_not(client, conn, key):
    push = push_address()
    body = {"channel": "webpush", "address": push, "language": "en", "areas": [UPPER]}
    first = client.post("/api/subscriptions", json=body)
    again = client.post("/api/subscriptions", json={**body, "language": "ja"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert first.json()["unsubscribe_token"]
    (subscriber,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    assert subscriber.recipient.address.endpoint == push["endpoint"] and subscriber.language == "ja"


def test_email_answers_the_same_known_confirmed_or_not_and_never_gives_the_token(client, mailbox):
    body = {"channel": "email", "address": "a@example.jp", "areas": [UPPER]}
    new = client.post("/api/subscriptions", json=body)
    known = client.post("/api/subscriptions", json=body)  # a request is waiting: no second e-mail
    confirm(client, mail_link(mailbox))
    confirmed = client.post("/api/subscriptions", json=body)
    assert new.status_code == known.status_code == confirmed.status_code == 202
    assert (
        new.content == known.content == confirmed.content == b'{"status":"accepted","unsubscribe_token":null}'
    )
    wait_for(lambda: len(mailbox.messages) == 2)
    assert [rcpt for _, rcpt, _ in mailbox.messages] == [["a@example.jp"]] * 2


def test_public_endpoint_takes_no_line_or_gateway_addresses(client):
    for channel, address in (("line", line_user()), ("gateway", "fax:+81235001234")):
        response = client.post(
            "/api/subscriptions", json={"channel": channel, "address": address, "areas": [UPPER]}
        )
        assert response.status_code == 422


def test_subscribe_is_rate_limited_per_client(client):
    body = {"channel": "email", "address": "b@example.jp", "areas": [UPPER]}
    answers = [client.post("/api/subscriptions", json=body).status_code for _ in range(6)]
    assert answers == [202] * 5 + [429]


# --- e-mail: double opt-in ---------------------------------------------------------------------------


def mail_link(mailbox, number: int = 1) -> str:
    """The confirmation link of the ``number``-th e-mail, once it has arrived."""
    wait_for(lambda: len(mailbox.messages) >= number)
    body = text(parse(mailbox.messages[number - 1][2]))
    return next(line for line in body.splitlines() if "/r/confirm?token=" in line)


def confirm(client, link: str, lang: str = "ja") -> httpx.Response:
    """What a resident does with the link: open it, press the button."""
    assert client.get(link).status_code == 200
    return client.post("/r/confirm", data={"token": link.split("token=")[1], "lang": lang})


def test_email_waits_for_the_link_in_the_confirmation_mail(client, conn, key, mailbox):
    answer = client.post(
        "/r/subscribe", data={"email": "C@example.jp", "language": "ja", "area": UPPER}, follow_redirects=True
    )
    assert "確認のメールを送りました。48時間以内" in answer.text
    assert list(subs.recipients_for(conn, areas=[UPPER], key=key)) == []  # no alert before it is confirmed
    link = mail_link(mailbox)
    mail_from, rcpt, raw = mailbox.messages[0]
    assert (mail_from, rcpt) == ("bousai@city.example.jp", ["c@example.jp"]) and raw.isascii()
    mail = parse(raw)
    assert mail["Subject"] == "【鶴岡市】メールでのお知らせ登録の確認"
    body = text(mail)
    assert "鶴岡市の川の防災情報（川守）から" in body and "地域：京田川上流（千原橋周辺）" in body
    assert "申し込んだ覚えがない場合は、このメールを無視してください。" in body and "48時間後" in body
    assert link.startswith(str(client.base_url).rstrip("/") + "/r/confirm?token=")

    page = client.get(link)  # a mail scanner following the link confirms nothing
    assert page.status_code == 200 and "登録する" in page.text and "京田川上流（千原橋周辺）" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0
    done = client.post("/r/confirm", data={"token": link.split("token=")[1], "lang": "en"})
    assert done.status_code == 200 and "登録しました。" in done.text  # in the language asked for
    (subscriber,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    assert subscriber.recipient.address == "c@example.jp" and subscriber.language == "ja"

    # a second click is harmless and says so
    again = client.get(link)
    assert again.status_code == 404 and "すでに「登録する」を押した場合は、登録は済んでいます" in again.text
    assert client.post("/r/confirm", data={"token": link.split("token=")[1]}).status_code == 404
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 1


def test_an_expired_link_fails_with_a_clear_page(client, conn, mailbox):
    client.post(
        "/api/subscriptions",
        json={"channel": "email", "address": "d@example.jp", "language": "en", "areas": [UPPER]},
    )
    link = mail_link(mailbox)
    conn.execute("UPDATE subscription_requests SET expires_at = %s", (NOW - timedelta(seconds=1),))
    page = client.get(link, params={"lang": "en"})
    assert page.status_code == 404 and "more than 48 hours old" in page.text
    done = client.post("/r/confirm", data={"token": link.split("token=")[1], "lang": "en"})
    assert done.status_code == 404 and "subscribe again" in done.text
    for table in ("subscriptions", "subscription_requests"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_a_new_request_for_a_confirmed_address_changes_nothing_until_confirmed(client, conn, key, mailbox):
    body = {"channel": "email", "address": "e@example.jp", "language": "ja", "areas": [UPPER]}
    client.post("/api/subscriptions", json=body)
    confirm(client, mail_link(mailbox))
    (before,) = subs.recipients_for(conn, areas=[UPPER, LOWER], key=key)
    client.post("/api/subscriptions", json={**body, "language": "en", "areas": [LOWER]})  # anyone could
    link = mail_link(mailbox, 2)
    assert "Lower Kyoden River" in text(parse(mailbox.messages[1][2]))
    (unchanged,) = subs.recipients_for(conn, areas=[UPPER, LOWER], key=key)
    assert unchanged == before
    assert conn.execute("SELECT areas, language FROM subscriptions").fetchone() == ([UPPER], "ja")
    assert "Done." in confirm(client, link, lang="en").text
    (after,) = subs.recipients_for(conn, areas=[UPPER, LOWER], key=key)
    assert after.id == before.id and after.language == "en"
    assert conn.execute("SELECT areas FROM subscriptions").fetchone()[0] == [LOWER]


def test_unsubscribe_by_the_link_in_every_message(client, conn, key, mailbox):
    client.post("/r/subscribe", data={"email": "c@example.jp", "language": "en", "area": UPPER})
    confirm(client, mail_link(mailbox), lang="en")
    (subscriber,) = subs.recipients_for(conn, areas=[UPPER], key=key)
    queue_work(conn, subscriber.id)
    link = subs.unsubscribe_url("http://x", key=key, subscription_id=subscriber.id)
    token = link.split("token=")[1]
    page = client.get("/r/unsubscribe", params={"token": token})  # a mail scanner following the link
    assert "Stop alerts and delete" in page.text
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 1
    done = client.post("/r/unsubscribe", data={"token": token, "lang": "en"})
    assert "Everything stored for them was deleted." in done.text
    for table in ("subscriptions", "deliveries", "notification_log"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    again = client.post("/r/unsubscribe", data={"token": token, "lang": "en"})
    assert "not found" in again.text


def test_delete_by_token_in_the_api(client, conn):
    body = {"channel": "webpush", "address": push_address(), "areas": [UPPER]}
    token = client.post("/api/subscriptions", json=body).json()["unsubscribe_token"]
    assert client.request("DELETE", "/api/subscriptions", json={"token": token}).status_code == 204
    assert (
        client.request("DELETE", "/api/subscriptions", json={"token": token}).status_code == 204
    )  # same answer
    assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0


def test_channels_that_are_not_enabled_store_nothing(demo_db, key):
    config = ResidentConfig(key=key)  # no VAPID keys, no SMTP
    with serve(create_app(demo_db, residents_config=config)) as base, httpx.Client(base_url=base) as http:
        for body in (
            {"channel": "email", "address": "a@example.jp", "areas": [UPPER]},
            {"channel": "webpush", "address": push_address(), "areas": [UPPER]},
        ):
            assert http.post("/api/subscriptions", json=body).status_code == 503  # not configured here
    with db.connect(demo_db) as conn:
        assert conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0] == 0


def test_without_a_subscriber_key_reading_works_and_subscribing_is_503(demo_db):
    with serve(create_app(demo_db, clock=lambda: NOW)) as base, httpx.Client(base_url=base) as http:
        assert http.get("/r/").status_code == 200
        body = {"channel": "email", "address": "a@example.jp", "areas": [UPPER]}
        assert http.post("/api/subscriptions", json=body).status_code == 503


# --- no personal data in logs ----------------------------------------------------------------------


def test_no_personal_data_in_logs(client, conn, key, mailbox, line_api, caplog, capfd):
    """Everything the resident side logs (structlog events, standard logging, anything
    printed) while people subscribe, confirm, unsubscribe, use LINE and messages are
    rendered: none of the addresses, tokens, endpoints, user ids or places appear."""
    from notify.render import Channel, render
    from tests.notify.factories import message

    caplog.set_level(logging.DEBUG)
    push = push_address(99)
    email = "secret.person@example.jp"
    user = line_user(4242)
    precise = (38.75437, 139.94081)
    with structlog.testing.capture_logs() as events:
        token = client.post(
            "/api/subscriptions",
            json={
                "channel": "webpush",
                "address": push,
                "areas": [UPPER],
                "point": {"lat": precise[0], "lon": precise[1]},
            },
        ).json()["unsubscribe_token"]
        client.post("/api/subscriptions", json={"channel": "email", "address": email, "areas": [UPPER]})
        confirm_link = mail_link(mailbox)
        confirm(client, confirm_link)
        client.post(
            "/api/subscriptions", json={"channel": "email", "address": "not-an-address", "areas": [UPPER]}
        )
        client.get("/r/", params={"lat": precise[0], "lon": precise[1]})
        post_line(client, [line_event("follow", user, "P1")])
        post_line(client, [line_event("message", user, "P1b", **said("English"))])
        post_line(client, [line_event("message", user, "P2", **location(*precise))])
        post_line(client, [line_event("message", user, "P3", **location(*precise))], secret="wrong")
        ids = [s.id for s in subs.recipients_for(conn, areas=[UPPER], key=key)]
        url = subs.unsubscribe_url("https://bousai.example.jp", key=key, subscription_id=ids[0])
        rendered = render(message(), language="ja", channel=Channel.line, unsubscribe_url=url)
        structlog.get_logger("test").info("rendered", message=rendered)
        client.get("/r/unsubscribe", params={"token": token})
        client.post("/r/unsubscribe", data={"token": token})
        post_line(client, [line_event("unfollow", user, "P4")])
        client.request("DELETE", "/api/subscriptions", json={"token": url.split("token=")[1]})
        # the replies to LINE go out in the background: their log lines are scanned too
        # (follow, language, location; the badly signed event and the unfollow get none)
        wait_for(lambda: len(line_api.requests) >= 3, explain=lambda: line_api.requests)
    out, err = capfd.readouterr()
    # the test's own HTTP client logs the URLs it asks for (a resident's browser would), and
    # the SMTP server (aiosmtpd, logger "mail.log") what it receives (the mail provider
    # would); everything else — the server's logs, its requests to LINE and SMTP — is scanned
    ours = str(client.base_url).rstrip("/")
    server_records = "\n".join(
        r.getMessage()
        for r in caplog.records
        if ours not in r.getMessage() and not r.name.startswith("mail.")
    )
    logged = "\n".join([repr(events), server_records, out, err])
    assert events, "the scan must see the log events"
    secrets = [
        push["endpoint"],
        push["keys"]["auth"],
        push["keys"]["p256dh"],
        email,
        user,
        token,
        url.split("token=")[1],
        confirm_link.split("token=")[1],
        "38.754",
        "139.940",
    ]
    for secret in secrets:
        assert secret not in logged, f"personal data in logs: {secret[:12]}…"
