"""The dashboard's security settings and the middleware every answer passes through:
a limit on request bodies and the security headers (ASVS V14).

* **NUL bytes** (PostgreSQL text cannot hold one) in the path, the query or the body
  (raw, ``\\u0000`` in JSON, ``%00`` in a form) are answered 400.
* **Body limit**: a request whose ``Content-Length`` exceeds :attr:`SecurityConfig.max_body_bytes`
  is answered 413 before anything reads it; a chunked body is counted as it arrives
  and cut off at the limit (LINE signatures, JSON and forms alike).
* **Headers** on every answer that has not set its own: ``X-Content-Type-Options``,
  ``Referrer-Policy``, ``X-Frame-Options`` / ``frame-ancestors``, a restrictive
  ``Content-Security-Policy`` for API answers, ``Strict-Transport-Security`` over
  https (and always in production, where TLS ends at the proxy), and
  ``Cross-Origin-Opener-Policy``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kawamori.model import Role

MAX_BODY_BYTES = 1_048_576  # 1 MiB: the largest real body (a LINE batch, a counter batch) is far smaller
HSTS = "max-age=31536000; includeSubDomains"
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    production: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    require_totp_from: Role | None = None  # approvers and admins need a second factor
    first_admin_file: Path | None = None  # removed once the first admin chose a password

    @classmethod
    def from_settings(cls, settings) -> SecurityConfig:
        production = str(settings.environment) == "production"
        return cls(
            production=production,
            max_body_bytes=settings.max_body_bytes,
            require_totp_from=Role.approver if settings.staff_require_totp else None,
            first_admin_file=settings.data_dir.resolve() / "first-admin-password.txt",
        )


class Refused(HTTPException):
    """A request refused while its body is read. An HTTPException, so that FastAPI's
    body parsing passes it on (any other exception there becomes its own 400 "There was
    an error parsing the body") and the route answers with this status and reason."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status_code=status, detail=detail)
        self.status = status


# a NUL byte: raw, escaped in JSON (an odd number of backslashes before u0000), or in a form
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
FORM = b"application/x-www-form-urlencoded"


def _nul_in(window: bytes, *, form: bool) -> bool:
    return b"\x00" in window or (b"%00" in window if form else JSON_NUL.search(window) is not None)


class SecurityMiddleware:
    """Pure ASGI (no buffering of streamed answers such as server-sent events)."""

    def __init__(self, app: ASGIApp, *, config: SecurityConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _has_nul(scope):
            await _error(scope, send, 400, "a NUL byte in the address")
            return
        limit = self.config.max_body_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            if length.isdigit():
                await _error(scope, send, 413, f"the request body is larger than {limit} bytes")
            else:
                await _error(scope, send, 400, "bad Content-Length")
            return
        https = scope.get("scheme") == "https" or self.config.production
        api = scope["path"].startswith(("/api/", "/line/", "/openapi.json"))
        form = dict(scope["headers"]).get(b"content-type", b"").startswith(FORM)
        seen = 0
        tail = b""
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    raise Refused(413, f"the request body is larger than {limit} bytes")
                window = tail + chunk  # (an escape split between two chunks is still seen)
                if _nul_in(window, form=form):
                    raise Refused(400, "a NUL byte in the request body")
                tail = window[-64:]
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                for name, value in _headers(https=https, api=api):
                    if name not in names:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except Refused as refused:
            if not started:
                await _error(scope, send, refused.status, refused.detail)


def _headers(*, https: bool, api: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), payment=()"),
    ]
    headers.append((b"content-security-policy", (API_CSP if api else PAGE_CSP).encode()))
    if https:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


def _has_nul(scope: Scope) -> bool:
    """A NUL byte (raw or %00) in the path or the query: PostgreSQL text cannot hold one."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    query = scope.get("query_string", b"")
    return any(b"\x00" in part or b"%00" in part for part in (raw, query))


async def _error(scope: Scope, send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *_headers(https=scope.get("scheme") == "https", api=True),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
