"""CAP documents and the Atom feed over a real server and database: only public
Actual outbox rows are served; an exercise never appears."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import feedparser
import httpx
import pytest
from psycopg.types.json import Jsonb

from alerts.message import AlertMessage, Response, identifier
from alerts.model import Kind, MsgType, Status
from dashboard.main import create_app
from kawamori import db
from tests.alerts.cap_helpers import SENDER, assert_valid_cap, infos, message, one, parse
from tests.helpers import serve

NOW = datetime.now(UTC).replace(microsecond=0)
FINGERPRINTS = itertools.count()


def insert_alert(
    conn,
    *,
    status: Status = Status.actual,
    state: str = "active",
    at: datetime = NOW,
    kind: Kind = Kind.stage,
) -> int:
    ended = None if state in {"pending", "active"} else at
    return conn.execute(
        """INSERT INTO alerts (fingerprint, station_id, kind, status, state, public, alert_level,
                               opened_at, updated_at, ended_at)
           VALUES (%s, 'kyoden-chiwara', %s, %s, %s, %s, 4, %s, %s, %s)
           RETURNING id""",
        (
            f"kyoden-chiwara:{kind}:{next(FINGERPRINTS)}",  # one open alert per fingerprint
            kind.value,
            status.value,
            state,
            status is Status.actual,
            at - timedelta(hours=1),
            at,
            ended,
        ),
    ).fetchone()[0]


def insert_message(conn, alert_id: int, version: int, *, at: datetime, **overrides) -> AlertMessage:
    """An outbox row as the lifecycle writes it (no references_sent: the API looks them up)."""
    values = {
        "alert_id": alert_id,
        "version": version,
        "sent": at,
        "msg_type": MsgType.alert if version == 1 else MsgType.update,
        "references": tuple(identifier(SENDER, alert_id, v) for v in range(1, version)),
    }
    m = message(**{**values, **overrides})
    conn.execute(
        """INSERT INTO alert_outbox (alert_id, version, msg_type, status, public, payload, created_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (
            alert_id,
            version,
            m.msg_type.value,
            m.status.value,
            m.status is Status.actual,
            Jsonb(m.model_dump(mode="json")),
            at,
        ),
    )
    return m


ALL_CLEAR = {"ended": True, "response": Response.all_clear}


@pytest.fixture
def alerts(demo_db):
    with db.connect(demo_db) as conn:
        active = insert_alert(conn)
        insert_message(conn, active, 1, at=NOW - timedelta(minutes=30))
        insert_message(conn, active, 2, at=NOW - timedelta(minutes=10), alert_level=5)
        drill = insert_alert(conn, status=Status.exercise)
        insert_message(conn, drill, 1, at=NOW - timedelta(minutes=5), status=Status.exercise)
        ended = insert_alert(conn, state="resolved", at=NOW - timedelta(hours=2))
        insert_message(conn, ended, 1, at=NOW - timedelta(hours=3))
        insert_message(conn, ended, 2, at=NOW - timedelta(hours=2), **ALL_CLEAR)
        old = insert_alert(conn, state="resolved", at=NOW - timedelta(hours=30))
        insert_message(conn, old, 1, at=NOW - timedelta(hours=31))
        insert_message(conn, old, 2, at=NOW - timedelta(hours=30), **ALL_CLEAR)
        pending = insert_alert(conn, state="pending")  # nothing public yet
    return {"active": active, "drill": drill, "ended": ended, "old": old, "pending": pending}


@pytest.fixture
def client(demo_db, alerts):
    app = create_app(demo_db, clock=lambda: NOW, cap_sender_name="鶴岡市 Tsuruoka City")
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield http


def test_one_version_and_the_latest(client, alerts):
    first = client.get(f"/api/cap/{alerts['active']}/1.xml")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/cap+xml"
    assert_valid_cap(first.content)
    assert one(parse(first.content), "msgType") == "Alert"

    latest = client.get(f"/api/cap/{alerts['active']}.xml")
    assert_valid_cap(latest.content)
    alert = parse(latest.content)
    assert one(alert, "identifier") == identifier(SENDER, alerts["active"], 2)
    assert one(alert, "msgType") == "Update"
    sent_v1 = (NOW - timedelta(minutes=30)).astimezone().isoformat()
    reference = one(alert, "references").split(",")
    assert reference[:2] == [SENDER, identifier(SENDER, alerts["active"], 1)]
    assert datetime.fromisoformat(reference[2]) == datetime.fromisoformat(sent_v1)
    info = infos(alert)["ja-JP"]
    assert one(info, "senderName") == "鶴岡市 Tsuruoka City"
    assert one(info, "severity") == "Extreme"
    assert one(info, "web") == f"{client.base_url}/?lang=ja"


def test_exercises_and_unknown_alerts_are_not_served(client, alerts):
    for path in (
        f"/api/cap/{alerts['drill']}.xml",
        f"/api/cap/{alerts['drill']}/1.xml",
        f"/api/cap/{alerts['pending']}.xml",
        f"/api/cap/{alerts['active']}/9.xml",
        "/api/cap/999999.xml",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/cap/abc.xml").status_code == 422


def test_feed_lists_current_alerts_and_recent_ends_only(client, alerts):
    response = client.get("/alerts.atom")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml"
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    base = str(client.base_url)
    assert feed.feed.id == f"{base}/alerts.atom"
    hrefs = [
        link.href for entry in feed.entries for link in entry.links if link.type == "application/cap+xml"
    ]
    assert hrefs == [
        f"{base}/api/cap/{alerts['active']}/2.xml",  # newest first
        f"{base}/api/cap/{alerts['ended']}/2.xml",  # the all-clear, for a day
    ]
    assert "訓練" not in response.text and "EXERCISE" not in response.text
    for href in hrefs:  # every entry leads to a valid CAP document
        document = client.get(href)
        assert document.status_code == 200
        assert_valid_cap(document.content)
        assert one(parse(document.content), "status") == "Actual"
    assert feed.entries[1].title.startswith("【解除】")


def test_conditional_requests_are_cheap(client, alerts):
    for path in ("/alerts.atom", f"/api/cap/{alerts['active']}.xml", f"/api/cap/{alerts['active']}/1.xml"):
        first = client.get(path)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert first.headers["cache-control"].startswith("public, max-age=")
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_feed_changes_when_an_alert_is_updated(client, alerts, demo_db):
    before = client.get("/alerts.atom").headers["etag"]
    with db.connect(demo_db) as conn:
        insert_message(conn, alerts["active"], 3, at=NOW - timedelta(minutes=1), **ALL_CLEAR)
        conn.execute(
            "UPDATE alerts SET state = 'resolved', ended_at = %s WHERE id = %s", (NOW, alerts["active"])
        )
    response = client.get("/alerts.atom", headers={"If-None-Match": before})
    assert response.status_code == 200 and response.headers["etag"] != before
    feed = feedparser.parse(response.content)
    assert feed.entries[0].id.endswith(f"/api/cap/{alerts['active']}/3.xml")


def test_public_url_makes_the_links(demo_db, alerts):
    app = create_app(demo_db, clock=lambda: NOW, public_url="https://bousai.example.jp/kawamori")
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        feed = feedparser.parse(http.get("/alerts.atom").content)
        document = http.get(f"/api/cap/{alerts['active']}.xml").content
    assert feed.feed.id == "https://bousai.example.jp/kawamori/alerts.atom"
    assert feed.entries[0].id == f"https://bousai.example.jp/kawamori/api/cap/{alerts['active']}/2.xml"
    assert one(infos(parse(document))["en-US"], "web") == "https://bousai.example.jp/kawamori/?lang=en"


def test_empty_feed_is_valid(database_url):
    with serve(create_app(database_url, clock=lambda: NOW)) as base, httpx.Client(base_url=base) as http:
        response = http.get("/alerts.atom")
    feed = feedparser.parse(response.content)
    assert response.status_code == 200 and not feed.bozo and feed.entries == []


def test_forecast_kind_is_served_as_cap(client, demo_db):
    with db.connect(demo_db) as conn:
        alert_id = insert_alert(conn, kind=Kind.forecast)
        insert_message(conn, alert_id, 1, at=NOW, kind=Kind.forecast, response=Response.prepare, eta=NOW)
    document = client.get(f"/api/cap/{alert_id}.xml").content
    assert_valid_cap(document)
    assert one(infos(parse(document))["en-US"], "certainty") == "Likely"
