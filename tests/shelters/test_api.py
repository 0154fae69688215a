"""The shelter API and the staff API through a real uvicorn server."""

from __future__ import annotations

import threading
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dashboard.main import create_app
from kawamori import db
from shelters.crowding import Bands
from shelters.sessions import set_access_code
from tests.helpers import serve

SHELTER = "062031-0013"  # 藤島小学校, capacity 450


@pytest.fixture
def base(shelter_db):
    with serve(create_app(shelter_db)) as url:
        yield url


@pytest.fixture
def code(shelter_db) -> str:
    with db.connect(shelter_db) as conn:
        return set_access_code(conn, shelter_id=SHELTER)


def signed_in(base: str, code: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=20)
    response = client.post("/api/staff/session", json={"shelter_id": SHELTER, "code": code})
    assert response.status_code == 200, response.text
    return client, response.json()["csrf_token"]


def tap(kind: str = "delta", value: int | None = 1, status: str | None = None, **extra) -> dict:
    event = {"id": str(uuid.uuid4()), "type": kind, "recorded_at": datetime.now(UTC).isoformat()}
    if value is not None:
        event["value"] = value
    if status is not None:
        event["status"] = status
    return {**event, **extra}


def test_registry_as_json_and_geojson(base):
    with httpx.Client(base_url=base, timeout=10) as http:
        shelters = http.get("/api/shelters").json()
        assert len(shelters) == 24  # 4 from the demo network, 20 from the sample file
        one = next(s for s in shelters if s["id"] == SHELTER)
        assert (one["status"], one["occupancy"], one["crowding"], one["label_ja"]) == (
            "closed",
            0,
            "vacant",
            "空いています",
        )
        geo = http.get("/api/shelters.geojson")
        assert geo.headers["content-type"].startswith("application/geo+json")
        feature = next(f for f in geo.json()["features"] if f["id"] == SHELTER)
        assert feature["geometry"]["coordinates"] == [139.87, 38.77]  # RFC 7946: longitude first
        assert feature["properties"]["icon"] == "○" and feature["properties"]["colour"].startswith("#")
        assert http.get(f"/api/shelters/{SHELTER}").json()["name_en"] == "Fujishima Elementary School"
        assert http.get("/api/shelters/nowhere").status_code == 404
        assert http.get("/api/shelters/nowhere/history").status_code == 404
        assert (one["capacity_text"], one["capacity_basis"], one["temporary"]) == ("450", "stated", False)


def test_an_export_imports_again_unchanged(base, shelter_db):
    from shelters.opendata import parse_geojson
    from shelters.registry import plan

    with httpx.Client(base_url=base, timeout=10) as http:
        exported = http.get("/api/shelters.geojson").content
    parsed = parse_geojson(exported)
    with db.connect(shelter_db) as conn:
        again = plan(conn, [r for r in parsed.records if r.id.startswith("062031-")])
    assert (len(again.unchanged), len(again.changed), len(again.added)) == (20, 0, 0)


def test_nearest_explains_and_validates(base, code):
    client, csrf = signed_in(base, code)
    with closing(client):
        client.post(
            "/api/staff/events",
            json={"events": [tap("status", None, "open")]},
            headers={"X-CSRF-Token": csrf},
        )
        answer = client.get("/api/shelters/nearest", params={"lat": 38.771, "lon": 139.871, "k": 1}).json()
        assert [s["id"] for s in answer["shelters"]] == [SHELTER]
        assert answer["hazard"] == "flood" and answer["message"]["ja"].startswith("近くの避難所")
        geo = client.get("/api/shelters/nearest.geojson", params={"lat": 38.771, "lon": 139.871}).json()
        assert geo["features"][0]["id"] == SHELTER and geo["features"][0]["properties"]["rank"] == 1
        far = client.get("/api/shelters/nearest", params={"lat": 38.80, "lon": 139.95, "hazard": "landslide"})
        assert far.status_code == 200 and far.json()["shelters"] == []
        assert all(e["reasons"] for e in far.json()["excluded"])
        for bad in ({"lat": 91, "lon": 139}, {"lat": 38}, {"lat": 38, "lon": 139, "hazard": "meteor"}):
            assert client.get("/api/shelters/nearest", params=bad).status_code == 422


def test_staff_session_cookie_and_csrf(base, code):
    with httpx.Client(base_url=base, timeout=10) as anonymous:
        assert anonymous.get("/api/staff/session").status_code == 401
        wrong = anonymous.post("/api/staff/session", json={"shelter_id": SHELTER, "code": "AAAA-BBBB-CCCC"})
        assert wrong.status_code == 401
        assert anonymous.post("/api/staff/events", json={"events": [tap()]}).status_code == 401
    client, csrf = signed_in(base, code)
    with closing(client):
        raw = client.post("/api/staff/session", json={"shelter_id": SHELTER, "code": code}).headers[
            "set-cookie"
        ]
        assert "HttpOnly" in raw and "SameSite=strict" in raw and code not in raw
        csrf = client.get("/api/staff/session").json()["csrf_token"]
        assert client.post("/api/staff/events", json={"events": [tap()]}).status_code == 403
        bad = client.post("/api/staff/events", json={"events": [tap()]}, headers={"X-CSRF-Token": "forged"})
        assert bad.status_code == 403
        ok = client.post("/api/staff/events", json={"events": [tap()]}, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200 and ok.json()["shelter"]["occupancy"] == 1
        assert client.delete("/api/staff/session").status_code == 403
        assert client.delete("/api/staff/session", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert client.get("/api/staff/session").status_code == 401


def test_bad_events_are_refused_whole_with_the_index(base, code):
    client, csrf = signed_in(base, code)
    headers = {"X-CSRF-Token": csrf}
    with closing(client):
        good = tap()
        for event, words in (
            (tap("set", -3), "cannot be negative"),
            (tap("delta", 0), "non-zero"),
            (tap("set", None), "needs a value"),
            (tap("status", None, "full"), "preparing, open or closed"),
            (tap(recorded_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat()), "ahead"),
        ):
            response = client.post("/api/staff/events", json={"events": [good, event]}, headers=headers)
            assert response.status_code == 422
            assert response.json()["detail"]["index"] == 1 and words in response.json()["detail"]["message"]
        assert client.get("/api/staff/session").json()["shelter"]["occupancy"] == 0  # nothing half-applied
        reused = dict(good, value=5)
        client.post("/api/staff/events", json={"events": [good]}, headers=headers)
        conflict = client.post("/api/staff/events", json={"events": [tap(), reused]}, headers=headers)
        assert conflict.status_code == 409
        assert client.get("/api/staff/session").json()["shelter"]["occupancy"] == 1
        assert client.post("/api/staff/events", json={"events": []}, headers=headers).status_code == 422


def test_over_capacity_is_allowed_and_flagged_full(base, code):
    client, csrf = signed_in(base, code)
    with closing(client):
        answer = client.post(
            "/api/staff/events", json={"events": [tap("set", 500)]}, headers={"X-CSRF-Token": csrf}
        ).json()
        shelter = answer["shelter"]
        assert (shelter["occupancy"], shelter["crowding"], shelter["over_capacity"]) == (500, "full", True)
        assert answer["bands"] == [30, 60, 80]


def test_concurrent_tablets_never_lose_an_update(base, code):
    tablets, taps_each = 6, 15
    deltas = [(+1 if n % 3 else -1) for n in range(tablets * taps_each)]
    clients = [signed_in(base, code) for _ in range(tablets)]
    first, csrf = clients[0]
    first.post("/api/staff/events", json={"events": [tap("set", 100)]}, headers={"X-CSRF-Token": csrf})
    failures: list[str] = []
    start = threading.Barrier(tablets)

    def run(index: int) -> None:
        client, token = clients[index]
        mine = deltas[index::tablets]
        start.wait()
        for value in mine:
            event = tap("delta", value)
            for _ in range(2):  # every tap is sent twice, as after a lost answer
                response = client.post(
                    "/api/staff/events", json={"events": [event]}, headers={"X-CSRF-Token": token}
                )
                if response.status_code != 200:
                    failures.append(response.text)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(tablets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures
    final = first.get("/api/staff/session").json()["shelter"]["occupancy"]
    assert final == 100 + sum(deltas)
    for client, _ in clients:
        client.close()


def test_history_endpoint(base, code):
    client, csrf = signed_in(base, code)
    with closing(client):
        posted = client.post(
            "/api/staff/events", json={"events": [tap("set", 12)]}, headers={"X-CSRF-Token": csrf}
        )
        assert posted.status_code == 200, posted.text
        report = client.get(f"/api/shelters/{SHELTER}/history", params={"hours": 2, "bucket_s": 3600}).json()
        assert [b["count"] for b in report["occupancy"]] == [0, 12], report
        assert (
            client.get(f"/api/shelters/{SHELTER}/history", params={"hours": 744, "bucket_s": 60}).status_code
            == 422
        )


def test_custom_bands_reach_the_api(shelter_db):
    with (
        serve(create_app(shelter_db, shelter_bands=Bands(5, 10, 20))) as url,
        httpx.Client(base_url=url) as http,
    ):
        assert http.get(f"/api/shelters/{SHELTER}").json()["crowding"] == "vacant"
        with db.connect(shelter_db) as conn:
            conn.execute("UPDATE shelters SET occupancy = 100 WHERE id = %s", (SHELTER,))
        assert http.get(f"/api/shelters/{SHELTER}").json()["crowding"] == "full"


def test_staff_page_is_served_without_third_party_code(base):
    with httpx.Client(base_url=base, timeout=10) as http:
        page = http.get("/staff")
        assert page.status_code == 200 and 'id="plus"' in page.text
        assert "http://" not in page.text and "https://" not in page.text
        script = http.get("/shelters/static/staff.js")
        assert script.status_code == 200 and "crypto.randomUUID()" in script.text
        assert http.get("/shelters/static/staff.css").status_code == 200


def test_one_browser_counts_for_two_shelters_each_event_where_it_belongs(base, shelter_db, code):
    other = "062031-0001"
    with db.connect(shelter_db) as conn:
        other_code = set_access_code(conn, shelter_id=other)
    client, csrf = signed_in(base, code)
    with closing(client):
        both = client.post("/api/staff/session", json={"shelter_id": other, "code": other_code}).json()
        assert [s["id"] for s in both["shelters"]] == [SHELTER, other] and both["csrf_token"] == csrf
        headers = {"X-CSRF-Token": csrf}
        ambiguous = client.post("/api/staff/events", json={"events": [tap()]}, headers=headers)
        assert ambiguous.status_code == 422  # which shelter? with two, it must be said
        batch = {"shelter_id": other, "events": [tap(), tap(), tap(shelter_id=SHELTER)]}
        done = client.post("/api/staff/events", json=batch, headers=headers).json()
        occupancy = {s["id"]: s["occupancy"] for s in done["shelters"]}
        assert occupancy == {SHELTER: 1, other: 2} and done["shelter"]["id"] == other
        foreign = client.post(
            "/api/staff/events", json={"shelter_id": "062031-0002", "events": [tap()]}, headers=headers
        )
        assert foreign.status_code == 403
        # a new code for one shelter signs nobody out; --revoke signs out of that shelter only
        with db.connect(shelter_db) as conn:
            set_access_code(conn, shelter_id=other)
        assert len(client.get("/api/staff/session").json()["shelters"]) == 2
        with db.connect(shelter_db) as conn:
            set_access_code(conn, shelter_id=other, revoke=True)
        assert [s["id"] for s in client.get("/api/staff/session").json()["shelters"]] == [SHELTER]


def test_a_staff_account_counts_for_its_assigned_shelters(base, shelter_db):
    from kawamori import staff
    from kawamori.model import Role
    from shelters.sessions import assign

    now = datetime.now(UTC)
    with db.connect(shelter_db) as conn:
        for name, role in (("lead", Role.operator), ("watcher", Role.viewer)):
            staff.create_user(
                conn, username=name, display_name=name, role=role, password="kawasemi-riverbank-42", now=now
            )
            assign(conn, username=name, shelter_ids=[SHELTER, "062031-0002"])
        token, session = staff.sign_in(
            conn, username="lead", password="kawasemi-riverbank-42", client="t", now=now
        )
        watcher, _ = staff.sign_in(
            conn, username="watcher", password="kawasemi-riverbank-42", client="t", now=now
        )
    with httpx.Client(base_url=base, timeout=10, cookies={"kawamori_session": token}) as lead:
        mine = lead.get("/api/staff/session").json()
        assert [s["id"] for s in mine["shelters"]] == ["062031-0002", SHELTER] and mine["account"][
            "username"
        ] == "lead"
        headers = {"X-CSRF-Token": session.csrf_token}
        ok = lead.post(
            "/api/staff/events", json={"shelter_id": SHELTER, "events": [tap("set", 30)]}, headers=headers
        )
        assert ok.status_code == 200
        assert (
            lead.post("/api/staff/events", json={"shelter_id": SHELTER, "events": [tap()]}).status_code == 403
        )
    with db.connect(shelter_db) as conn:
        assert conn.execute("SELECT entered_by FROM shelter_count_events").fetchall() == [("lead",)]
    with httpx.Client(base_url=base, timeout=10, cookies={"kawamori_session": watcher}) as viewer:
        assert viewer.get("/api/staff/session").status_code == 401  # a viewer sees, never counts
