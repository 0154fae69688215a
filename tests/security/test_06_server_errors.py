"""Finding 6: server errors — an integer out of range in a path, NUL bytes in a path or
a JSON string answered 500; 422 bodies whose ``detail`` was not as documented; a
station could be given no stages at all. Each now gets a documented 4xx."""

from __future__ import annotations

import pytest

from tests.security.conftest import signed_in


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/cap/1/9223372036854775808.xml", None, 422),
        ("GET", "/api/cap/9223372036854775808.xml", None, 422),
        ("GET", "/api/stations/a%00b/readings", None, 400),
        ("GET", "/api/shelters/a%00b", None, 400),
        ("GET", "/api/residents/summary?area=a%00b", None, 400),
        ("POST", "/api/staff/session", {"shelter_id": "a\u0000b", "code": "1234"}, 400),
        (
            "POST",
            "/api/subscriptions",
            {"channel": "email", "address": "a@example.jp", "areas": ["a\u0000"]},
            400,
        ),
        ("DELETE", "/api/subscriptions", {"token": "\u0000"}, 400),
    ],
)
def test_bad_input_is_a_client_error_not_a_server_error(stack, method, path, body, status):
    with stack.client() as http:
        response = http.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], (str, list))


def test_an_alert_id_out_of_range_signed_in(stack):
    with signed_in(stack, "admin") as http:
        assert http.get("/api/alerts/9223372036854775808").status_code == 422
        assert http.post("/api/alerts/9223372036854775808/approve", json={}).status_code == 422


def test_a_station_cannot_be_left_without_stages(stack):
    with signed_in(stack, "admin") as http:
        response = http.put("/api/stations/kyoden-jumonji/settings", json={"stages": []})
    assert response.status_code == 422


def test_every_error_the_api_gives_is_in_its_openapi_document(stack):
    with stack.client() as http:
        document = http.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for code in ("400", "422"):
                assert code in operation["responses"], (method, path, code)
            if operation.get("security"):
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
    assert "Error" in document["components"]["schemas"]


def test_a_backslash_before_u0000_is_text_not_a_nul_byte(stack):
    """``"\\\\u0000"`` in JSON is the six characters \\u0000, which PostgreSQL stores."""
    with stack.client() as http:
        response = http.post(
            "/api/subscriptions",
            content=b'{"channel": "email", "address": "a@example.jp", "areas": ["\\\\u0000"]}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 422 and "area" in response.text  # refused as an unknown area
