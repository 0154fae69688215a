"""Production transport security, whatever the reverse proxy says (issue 20, finding 4).

In production the dashboard is only ever reached through the TLS proxy, so:

- every request is treated as ``https`` (cookies get ``Secure``, absolute links are
  https) even if the proxy forgot ``X-Forwarded-Proto`` or is not trusted;
- the session cookies (staff and shelter staff) are sent as ``__Host-<name>``: the
  browser then only accepts them with ``Secure``, ``Path=/`` and no ``Domain``, so a
  neighbouring sub-domain cannot plant or overwrite one; incoming, only the
  ``__Host-`` copy counts (a plain one is dropped);
- every other cookie gets ``Secure``.

A pure ASGI layer: the routes set and read their cookies under their plain names.
"""

from __future__ import annotations

from collections.abc import Iterable

HOST_PREFIX = "__Host-"


class ProductionTransport:
    def __init__(self, app, *, host_cookies: Iterable[str]) -> None:
        self.app = app
        self.host_cookies = frozenset(host_cookies)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        scope["scheme"] = "https" if scope["type"] == "http" else "wss"
        scope["headers"] = [
            (name, self._incoming(value) if name == b"cookie" else value) for name, value in scope["headers"]
        ]

        async def send_secure(message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [
                    (name, self._outgoing(value) if name == b"set-cookie" else value)
                    for name, value in message["headers"]
                ]
            await send(message)

        await self.app(scope, receive, send_secure)

    def _incoming(self, header: bytes) -> bytes:
        kept = []
        for part in header.decode("latin-1").split(";"):
            name, _, value = part.strip().partition("=")
            if name in self.host_cookies:
                continue  # not __Host-: may come from a sub-domain
            if name.startswith(HOST_PREFIX) and name[len(HOST_PREFIX) :] in self.host_cookies:
                name = name[len(HOST_PREFIX) :]
            if name:
                kept.append(f"{name}={value}")
        return "; ".join(kept).encode("latin-1")

    def _outgoing(self, header: bytes) -> bytes:
        text = header.decode("latin-1")
        name, _, rest = text.partition("=")
        attributes = [a.strip().lower() for a in rest.split(";")[1:]]
        if name in self.host_cookies:
            text = HOST_PREFIX + text
        if "secure" not in attributes:
            text += "; Secure"
        return text.encode("latin-1")
