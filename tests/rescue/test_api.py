"""Check-ins and rescue requests over HTTP (a real uvicorn server, a real database): the
answers to bad input, the resident's own status, staff triage with and without the
rescue permission, and no rescue data in any log."""

from __future__ import annotations

import logging
import uuid

import structlog

from tests.notify.subscribers import IN_UPPER, OUTSIDE, UPPER
from tests.rescue.conftest import CITY_PHONE, signed_in

HOUSE = "household-abc123"


def rescue_body(**fields) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "household": HOUSE,
        "people": 3,
        "needs": ["wheelchair", "elderly"],
        "point": {"lat": IN_UPPER[0], "lon": IN_UPPER[1]},
        "phone": "090-1111-2222",
        "note": "祖母が2階にいます",
        "language": "ja",
    }
    body.update(fields)
    return body


def test_the_page_reads_in_three_languages_with_the_city_phone(client):
    for lang, words in (("ja", "助けが必要"), ("en", "We need help"), ("ja-easy", "たすけて")):
        page = client.get("/r/safety", params={"lang": lang})
        assert page.status_code == 200 and words in page.text
        assert CITY_PHONE in page.text
        assert "script-src" not in page.headers["content-security-policy"]


def test_a_rescue_request_its_status_cancel_and_deletion(client):
    body = rescue_body()
    first = client.post("/api/rescue-requests", json=body)
    assert first.status_code == 201, first.text
    taken = first.json()
    assert taken["state"] == "received" and not taken["merged"]
    assert client.post("/api/rescue-requests", json=body).json() == taken  # sent twice from the queue
    repeat = client.post("/api/rescue-requests", json=rescue_body(note="水が増えています")).json()
    assert repeat["merged"] and repeat["token"] == taken["token"]
    status = client.post("/api/rescue-requests/status", json={"token": taken["token"]}).json()
    assert status["state"] == "received" and status["team_assigned"] is False
    # safe now? the check-in says to cancel first
    safe = {"id": str(uuid.uuid4()), "household": HOUSE, "status": "safe", "household_size": 3}
    conflict = client.post("/api/checkins", json=safe)
    assert conflict.status_code == 409 and conflict.json()["code"] == "open_rescue"
    assert (
        client.post("/api/rescue-requests/cancel", json={"token": taken["token"]}).json()["state"]
        == "cancelled"
    )
    assert client.post("/api/checkins", json=safe).status_code == 201
    assert client.post("/api/rescue-requests/forget", json={"token": taken["token"]}).status_code == 204
    gone = client.post("/api/rescue-requests/status", json={"token": taken["token"]})
    assert gone.status_code == 404 and gone.json()["code"] == "unknown"


def test_bad_input_gets_a_clear_answer(client):
    cases = [
        (rescue_body(phone=None), 422, "no_contact"),
        (rescue_body(point={"lat": OUTSIDE[0], "lon": OUTSIDE[1]}), 422, "outside"),
        (rescue_body(point=None), 422, "no_place"),
        (rescue_body(phone="call me"), 422, "bad_phone"),
    ]
    for body, status, code in cases:
        answer = client.post("/api/rescue-requests", json=body)
        assert answer.status_code == status and answer.json()["code"] == code, answer.text
        assert answer.json()["detail"]
    assert client.post("/api/rescue-requests", json=rescue_body(needs=["unicorn"])).status_code == 422
    assert client.post("/api/rescue-requests", json=rescue_body(household="x")).status_code == 422
    assert client.post("/api/rescue-requests", json={**rescue_body(), "extra": 1}).status_code == 422
    tapped = {"id": str(uuid.uuid4()), "household": "queued-household", "status": "safe"}
    assert client.post("/api/checkins", json={**tapped, "reported_at": 0}).status_code == 422
    assert (
        client.post("/api/checkins", json={**tapped, "reported_at": "2026-09-01T14:00:00"}).status_code == 422
    )
    assert (
        client.post("/api/checkins", json={**tapped, "reported_at": "2026-09-01T05:00:00.000Z"}).status_code
        == 201
    )
    shelter = {"id": str(uuid.uuid4()), "household": HOUSE, "status": "shelter", "shelter_id": "nowhere"}
    assert client.post("/api/checkins", json=shelter).json()["code"] == "unknown_shelter"
    assert client.post("/api/rescue-requests/status", json={"token": "nope"}).status_code == 404


def test_staff_without_the_rescue_permission_see_nothing(client, base_url):
    client.post("/api/rescue-requests", json=rescue_body())
    assert client.get("/api/rescue/queue").status_code == 401
    assert client.get("/rescue", follow_redirects=False).status_code == 303
    with signed_in(base_url, "clerk") as clerk:
        assert clerk.get("/rescue").status_code == 403
        refused = clerk.get("/api/rescue/queue")
        assert refused.status_code == 403 and "090" not in refused.text
        assert clerk.get("/api/rescue/counts").status_code == 200  # figures only


def test_triage_moves_a_request_and_the_resident_sees_it(client, base_url):
    token = client.post("/api/rescue-requests", json=rescue_body()).json()["token"]
    client.post(
        "/api/checkins",
        json={
            "id": str(uuid.uuid4()),
            "household": "other-household",
            "status": "shelter",
            "shelter_id": "demo-haguro-gym",
            "household_size": 4,
            "point": {"lat": IN_UPPER[0], "lon": IN_UPPER[1]},
        },
    )
    with signed_in(base_url, "rescuer") as rescuer:
        (item,) = rescuer.get("/api/rescue/queue").json()
        assert item["phone"] == "09011112222" and item["needs"] == ["elderly", "wheelchair"]
        assert item["area_id"] == UPPER and item["lat"] == IN_UPPER[0]
        url = f"/api/rescue/{item['id']}/state"
        no_team = rescuer.post(url, json={"state": "assigned"})
        assert no_team.status_code == 409 and no_team.json()["code"] == "no_team"
        assert rescuer.post(url, json={"state": "assigned", "team": "消防1班"}).status_code == 200
        assert rescuer.post(url, json={"state": "received"}).status_code == 409
        assert (
            rescuer.post(f"/api/rescue/{uuid.uuid4()}/state", json={"state": "confirmed"}).status_code == 404
        )
        without_csrf = rescuer.post(url, json={"state": "resolved"}, headers={"X-CSRF-Token": ""})
        assert without_csrf.status_code == 403
        trail = rescuer.get(f"/api/rescue/{item['id']}/audit").json()
        assert [(a["to_state"], a["actor"], a["team"]) for a in trail] == [
            ("received", "resident", None),
            ("assigned", "rescuer", "消防1班"),
        ]
        counts = rescuer.get("/api/rescue/counts").json()
        (upper,) = [a for a in counts["areas"] if a["id"] == UPPER]
        assert upper["open_requests"] == 1 and upper["people_waiting"] == 3 and upper["shelter_people"] == 4
        assert counts["shelters"][0]["checked_in"] == 4
    status = client.post("/api/rescue-requests/status", json={"token": token}).json()
    assert status["state"] == "assigned" and status["team_assigned"] is True
    assert "消防" not in str(status)  # the team's name stays with staff


def test_no_rescue_data_in_logs(client, base_url, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    body = rescue_body(
        address="鶴岡市秘密町1-2-3",
        note="ひみつのメモ",
        phone="080-9876-5432",
        point={"lat": 38.751234, "lon": 139.941234},
    )
    with structlog.testing.capture_logs() as events:
        token = client.post("/api/rescue-requests", json=body).json()["token"]
        client.post("/api/rescue-requests", json={**body, "id": str(uuid.uuid4())})
        client.post("/api/rescue-requests", json={**body, "phone": None, "household": "another-house"})
        client.post("/api/rescue-requests/status", json={"token": token})
        with signed_in(base_url, "rescuer") as rescuer:
            (item,) = rescuer.get("/api/rescue/queue").json()
            rescuer.post(f"/api/rescue/{item['id']}/state", json={"state": "assigned", "team": "A"})
        client.post("/api/rescue-requests/cancel", json={"token": token})
        client.post("/api/rescue-requests/forget", json={"token": token})
    out, err = capfd.readouterr()
    ours = base_url.rstrip("/")
    server = "\n".join(r.getMessage() for r in caplog.records if ours not in r.getMessage())
    logged = "\n".join([repr(events), server, out, err])
    assert any(e["event"].startswith("rescue.") for e in events), "the scan must see the log events"
    for secret in ("秘密町", "ひみつ", "9876", "5432", "38.7512", "139.9412", token, HOUSE):
        assert secret not in logged, f"rescue data in logs: {secret[:6]}…"
