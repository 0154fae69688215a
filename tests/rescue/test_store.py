"""Check-ins and rescue requests against a real PostgreSQL (the demo network): sealed at
rest, merged per household, admitted per source, worked by permitted staff, purged."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from kawamori import db, staff
from kawamori.model import Actor, Role
from rescue import store
from rescue.errors import BadTransition, Contradiction, InvalidReport, NotPermitted, OutsideCity, TooMany
from rescue.rules import Limits, State
from tests.notify.subscribers import IN_UPPER, NOW, OUTSIDE, UPPER, new_key

PHONE = "090-1234-5678"


@pytest.fixture
def conn(demo_db):
    with db.connect(demo_db) as connection:
        yield connection


@pytest.fixture
def key():
    return new_key()


def rescuer(conn, name="sato", *, permitted=True) -> Actor:
    account = staff.create_user(
        conn,
        username=name,
        display_name=name,
        role=Role.operator,
        password="correct horse battery staple 42",
        now=NOW,
    )
    if permitted:
        store.grant(conn, username=name, by="test", now=NOW)
    return Actor(account.id, name, name, Role.operator)


def ask(conn, key, **fields):
    values = dict(
        request_id=uuid.uuid4(),
        household="house-1",
        people=2,
        needs=["elderly"],
        point=IN_UPPER,
        address=None,
        phone=PHONE,
        line_user=None,
        note="2階にいます",
        client="192.0.2.1",
        language="ja",
        now=NOW,
    )
    values.update(fields)
    return store.request_rescue(conn, key=key, **values)


def test_a_request_is_sealed_and_only_permitted_staff_open_it(conn, key):
    taken = ask(conn, key)
    assert taken.state == "received" and not taken.merged
    raw = conn.execute("SELECT details::text, area_id, people FROM rescue_requests").fetchone()
    assert "2階" not in raw[0] and "1234" not in raw[0] and raw[1:] == (UPPER, 2)
    (item,) = store.queue(conn, key=key, actor=rescuer(conn), now=NOW)
    assert item["phone"] == "09012345678" and item["note"] == "2階にいます" and item["needs"] == ["elderly"]
    assert "line_user" not in item
    with pytest.raises(NotPermitted):
        store.queue(conn, key=key, actor=rescuer(conn, "tanaka", permitted=False), now=NOW)
    assert store.status_of(conn, token=taken.token)["state"] == "received"


def test_repeats_are_merged_and_a_resent_request_stores_nothing(conn, key):
    first_id = uuid.uuid4()
    first = ask(conn, key, request_id=first_id)
    assert ask(conn, key, request_id=first_id) == first  # the offline queue sent it twice
    # the same phone from another browser: the same household
    again = ask(conn, key, household="other-browser", people=4, needs=["wheelchair"], note="水が来た")
    assert again.merged and again.token == first.token
    (item,) = store.queue(conn, key=key, actor=rescuer(conn), now=NOW)
    assert item["people"] == 4 and item["repeats"] == 1
    assert item["needs"] == ["elderly", "wheelchair"] and "水が来た" in item["note"] and "2階" in item["note"]
    assert conn.execute("SELECT count(*) FROM rescue_requests").fetchone()[0] == 1


def test_bad_input_gets_a_reason(conn, key):
    with pytest.raises(InvalidReport) as error:
        ask(conn, key, phone=None)
    assert error.value.code == "no_contact"
    with pytest.raises(OutsideCity):
        ask(conn, key, point=OUTSIDE)
    with pytest.raises(InvalidReport) as error:
        ask(conn, key, point=None, address="  ")
    assert error.value.code == "no_place"
    assert conn.execute("SELECT count(*) FROM rescue_requests").fetchone()[0] == 0


def test_a_busy_source_is_flagged_then_refused_but_a_household_always_merges(conn, key):
    limits = Limits(free=2, flagged=4)
    taken = [ask(conn, key, household=f"h{n}", phone=f"0901234{n:04d}", limits=limits) for n in range(4)]
    assert [t.flagged for t in taken] == [False, False, True, True]  # one network address, many phones
    with pytest.raises(TooMany):
        ask(conn, key, household="h9", phone="09000009999", limits=limits)
    # a household with an open request is never locked out: it merges
    assert ask(conn, key, household="h0", phone="09012340000", limits=limits).merged


def safe(conn, key, household: str = "house-1", **fields) -> str:
    values = dict(report_id=uuid.uuid4(), household=household, status="safe", household_size=2,
                  shelter_id=None, point=None, language="ja", reported_at=NOW, now=NOW)  # fmt: skip
    values.update(fields)
    return store.check_in(conn, key=key, **values)


def test_contradictions_and_cancel(conn, key):
    taken = ask(conn, key)
    with pytest.raises(Contradiction):
        safe(conn, key)
    assert store.cancel(conn, token=taken.token, now=NOW)["state"] == "cancelled"
    assert safe(conn, key) == "recorded"


def test_check_ins_latest_wins_and_count_per_area_and_shelter(conn, key):
    report = uuid.uuid4()
    args = dict(key=key, household="house-2", household_size=3, point=IN_UPPER, language="en", now=NOW)
    assert (
        store.check_in(
            conn, report_id=report, status="shelter", shelter_id="demo-haguro-gym", reported_at=NOW, **args
        )
        == "recorded"
    )
    assert (
        store.check_in(
            conn, report_id=report, status="shelter", shelter_id="demo-haguro-gym", reported_at=NOW, **args
        )
        == "repeat"
    )
    assert (
        store.check_in(
            conn,
            report_id=uuid.uuid4(),
            status="safe",
            shelter_id=None,
            reported_at=NOW - timedelta(minutes=5),
            **args,
        )
        == "older"
    )
    with pytest.raises(InvalidReport):
        store.check_in(
            conn, report_id=uuid.uuid4(), status="shelter", shelter_id="nowhere", reported_at=NOW, **args
        )
    figures = store.counts(conn)
    (upper,) = [a for a in figures["areas"] if a["id"] == UPPER]
    assert upper["shelter_people"] == 3 and upper["households"] == 1
    assert figures["shelters"][0]["id"] == "demo-haguro-gym" and figures["shelters"][0]["checked_in"] == 3
    assert store.forget_check_in(conn, key=key, household="house-2")
    assert store.counts(conn)["shelters"] == []


def test_triage_is_audited_and_refuses_bad_steps(conn, key):
    taken = ask(conn, key)
    actor = rescuer(conn)
    (item,) = store.queue(conn, key=key, actor=actor, now=NOW)
    request_id = uuid.UUID(item["id"])
    store.transition(conn, request_id=request_id, target=State.confirmed, team=None, actor=actor, now=NOW)
    with pytest.raises(BadTransition):
        store.transition(conn, request_id=request_id, target=State.assigned, team="", actor=actor, now=NOW)
    store.transition(conn, request_id=request_id, target=State.assigned, team="消防2班", actor=actor, now=NOW)
    assert store.status_of(conn, token=taken.token) == {
        "state": "assigned",
        "team_assigned": True,
        "updated_at": NOW,
    }
    store.transition(conn, request_id=request_id, target=State.resolved, team=None, actor=actor, now=NOW)
    trail = store.audit_of(conn, request_id=request_id, actor=actor)
    assert [(a["to_state"], a["actor"]) for a in trail] == [
        ("received", "resident"),
        ("confirmed", "sato"),
        ("assigned", "sato"),
        ("resolved", "sato"),
    ]
    with pytest.raises(Exception, match="append-only"):
        conn.execute("DELETE FROM rescue_audit")


def test_retention_and_deletion_on_request(conn, key):
    open_one = ask(conn, key)
    closed = ask(conn, key, household="h2", phone="09099998888")
    store.cancel(conn, token=closed.token, now=NOW)
    safe(conn, key, household="h3", household_size=1)
    later = NOW + timedelta(days=31)
    assert store.purge(conn, now=later, retention=timedelta(days=30)) == (1, 1)
    assert store.status_of(conn, token=open_one.token)["state"] == "received"  # never forgotten while open
    store.forget(conn, token=open_one.token)
    assert conn.execute("SELECT count(*) FROM rescue_requests").fetchone()[0] == 0
