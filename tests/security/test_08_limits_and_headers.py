"""Finding 8: no request body limit (a 60 MB body was read before the LINE signature
was checked), no security headers on /, /staff, the APIs and /docs, Swagger UI loaded
from a CDN without integrity on the staff origin, no HSTS."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from dashboard.security import MAX_BODY_BYTES, SecurityConfig
from tests.helpers import serve
from tests.security.conftest import make_app

SIXTY_MB = 60 * 1024 * 1024


def test_a_60_mb_body_is_refused_before_it_is_read(stack):
    with stack.client() as http:
        started = time.monotonic()
        declared = http.post(
            "/line/webhook",
            content=b"{" + b" " * (SIXTY_MB - 2) + b"}",
            headers={"X-Line-Signature": "bm90IGEgc2lnbmF0dXJl", "Content-Type": "application/json"},
        )
        assert declared.status_code == 413, declared.text
        assert time.monotonic() - started < 10

        def chunks():  # no Content-Length: counted as it arrives
            for _ in range(SIXTY_MB // 65536):
                yield b" " * 65536

        streamed = http.post("/line/webhook", content=chunks(), headers={"X-Line-Signature": "x"})
        assert streamed.status_code == 413
        assert "larger than" in streamed.json()["detail"]
    assert MAX_BODY_BYTES <= 1_048_576


@pytest.mark.parametrize("path", ["/", "/staff", "/staff/login", "/r/", "/alerts", "/api/stations", "/docs"])
def test_every_page_and_api_answer_has_security_headers(stack, path):
    with stack.client() as http:
        response = http.get(path)
    assert response.status_code in (200, 303), (path, response.status_code)
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "unsafe-eval" not in headers["content-security-policy"]
    assert headers["referrer-policy"] in ("same-origin", "no-referrer")
    assert "strict-transport-security" not in headers  # plain http in development


def test_production_sends_hsts(demo_db, key, line_api, mailbox):
    app = make_app(
        demo_db, key=key, line_api=line_api, mailbox=mailbox, security=SecurityConfig(production=True)
    )
    with serve(app) as url:
        response = httpx.get(f"{url}/api/health")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_swagger_ui_is_served_from_here(stack):
    with stack.client() as http:
        page = http.get("/docs")
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/") for s in sources), sources  # no CDN, no other origin
        assert "<script>" not in page.text  # no inline script: the CSP allows none
        for source in sources:
            asset = http.get(source)
            assert asset.status_code == 200 and len(asset.content) > 100, source
        assert "http" not in page.headers["content-security-policy"]  # this origin only


def test_swagger_ui_works_in_a_browser_under_its_csp(stack):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        refused = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{stack.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Kawamori")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        browser.close()
    assert not refused, refused
