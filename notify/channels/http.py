"""The HTTP client the notifiers send with: libcurl (pycurl), connections kept alive.

Two ways to send the same :class:`Request`:

* :meth:`Http.post` — one request, blocking (a notifier's ``send``, the CLI's test
  sends); each calling thread keeps its own curl handle and so its connections;
* :class:`Sender` — the delivery worker's: one thread drives every request in flight
  through one ``CurlMulti`` (all HTTP channels, connections shared per host) and calls
  back with each answer the moment it is read.

Why libcurl: a delivery worker spends most of its CPU inside the HTTP client, and one
``CurlMulti`` driving every request costs several times less CPU per POST than httpx or
a urllib3 pool with threads contending for the GIL (bench/README.md has the figures).
Behaviour is
the same as before: no automatic retries, no redirects, no proxy from the environment
(the workers decide what a failure means; addresses come from residents' browsers),
only http and https, one timeout; HTTP/2 where a push service offers it over TLS.
Certificates are checked against ``SSL_CERT_FILE`` when set, else certifi's bundle.

**Addresses residents gave us** (Web Push endpoints) are sent with
``public_only=True``: libcurl resolves the host and, just before it connects, each
address it is about to use is checked (``OPENSOCKETFUNCTION``) — loopback, private,
link-local, shared, reserved and multicast addresses are refused (:class:`Blocked`).
The check is on the very address connected to, so a name that resolves to a public
address when a browser subscribes and to 127.0.0.1 later (DNS rebinding) is still
refused; no proxy and no redirect can take the request elsewhere.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import queue
import select
import socket
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import certifi
import pycurl
import structlog

log = structlog.get_logger(__name__)

__all__ = [
    "Blocked",
    "Http",
    "Request",
    "Response",
    "Sender",
    "TransportError",
    "json_bytes",
    "public_address",
]


class TransportError(Exception):
    """No HTTP answer: a timeout, a refused or reset connection, a TLS failure. The text
    is libcurl's error name only, e.g. ``CURLE_OPERATION_TIMEDOUT`` (never the URL: it
    may hold a token)."""


class Blocked(TransportError):
    """A ``public_only`` request whose host resolved to an address that is not public."""

    def __init__(self) -> None:
        super().__init__("BLOCKED_NOT_A_PUBLIC_ADDRESS")


@dataclass(frozen=True, slots=True)
class Request:
    """One POST. ``public_only``: connect only to public (global unicast) addresses."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    public_only: bool = False


def public_address(text: str) -> bool:
    """Whether an IP address (as a resolver gives it) is global unicast."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _guard(blocked: list[bool]) -> Callable:
    """libcurl's OPENSOCKETFUNCTION: a socket for a public address, none otherwise."""

    def open_socket(_purpose: int, address) -> socket.socket | int:
        if address.family not in (socket.AF_INET, socket.AF_INET6) or not public_address(address.addr[0]):
            blocked.append(True)
            return pycurl.SOCKET_BAD
        return socket.socket(address.family, address.socktype, address.protocol)

    return open_socket


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names in lower case; the last of repeated headers


@dataclass(slots=True)
class _Exchange:
    done: Callable[[Response | TransportError], None]
    timeout: float
    lane: str
    header_lines: list[bytes] = field(default_factory=list)
    blocked: list[bool] = field(default_factory=list)


def _ca_file() -> str:
    return os.environ.get("SSL_CERT_FILE") or certifi.where()


def _new_handle(ca_file: str) -> pycurl.Curl:
    curl = pycurl.Curl()
    curl.setopt(pycurl.NOSIGNAL, 1)  # threads: no SIGALRM for timeouts
    curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
    curl.setopt(pycurl.FOLLOWLOCATION, 0)
    curl.setopt(pycurl.PROXY, "")  # never a proxy from the environment
    curl.setopt(pycurl.CAINFO, ca_file)
    curl.setopt(pycurl.WRITEFUNCTION, len)  # the body is not needed: "written", dropped
    return curl


def _prepare(
    curl: pycurl.Curl, request: Request, header_lines: list[bytes], timeout: float, blocked: list[bool]
) -> None:
    curl.setopt(pycurl.URL, request.url)
    if request.public_only:
        curl.setopt(pycurl.OPENSOCKETFUNCTION, _guard(blocked))
    else:
        curl.unsetopt(pycurl.OPENSOCKETFUNCTION)
    curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(timeout * 1000))
    curl.setopt(pycurl.TIMEOUT_MS, int(timeout * 1000))  # the whole exchange
    curl.setopt(pycurl.POSTFIELDS, request.body)  # (pycurl passes the length: binary is fine)
    # "Expect:" stops curl waiting for a 100 Continue before a larger body
    curl.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in request.headers.items()] + ["Expect:"])
    curl.setopt(pycurl.HEADERFUNCTION, header_lines.append)


def _response(curl: pycurl.Curl, header_lines: list[bytes]) -> Response:
    headers: dict[str, str] = {}
    for raw in header_lines:  # (status lines and the blank line have no colon after a name)
        name, sep, value = raw.decode("latin-1").partition(":")
        if sep and not name.startswith("HTTP/"):
            headers[name.strip().lower()] = value.strip()
    return Response(curl.getinfo(pycurl.RESPONSE_CODE), headers)


_CURL_ERRORS: dict[int, str] = {}  # code → libcurl's name (the first of its aliases)
for _name in sorted(n for n in dir(pycurl) if n.startswith("E_") and not n.startswith("E_MULTI_")):
    _CURL_ERRORS.setdefault(getattr(pycurl, _name), "CURL" + _name)


def _error(code: int, blocked: list[bool] | None = None) -> TransportError:
    if blocked:
        return Blocked()
    return TransportError(_CURL_ERRORS.get(code, f"CURLE {code}"))


class Http:
    """POSTs over kept-alive connections, blocking; raises :class:`TransportError` and
    returns every HTTP answer, 5xx included."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._ca_file = _ca_file()
        self._local = threading.local()
        self._handles: list[pycurl.Curl] = []
        self._lock = threading.Lock()

    def _handle(self) -> pycurl.Curl:
        curl = getattr(self._local, "curl", None)
        if curl is None:
            curl = self._local.curl = _new_handle(self._ca_file)
            with self._lock:
                self._handles.append(curl)
        return curl

    def call(self, request: Request, *, method: str = "POST") -> tuple[Response, bytes]:
        """One request whose answer's body is wanted (an API such as LINE's rich menus):
        ``POST`` sends ``request.body``, ``GET`` none. The same rules as :meth:`post`."""
        curl = self._handle()
        lines: list[bytes] = []
        blocked: list[bool] = []
        body = bytearray()
        _prepare(curl, request, lines, self.timeout, blocked)
        if method == "GET":
            curl.setopt(pycurl.HTTPGET, 1)
        elif method != "POST":
            raise ValueError(f"method {method!r}: only GET and POST")
        curl.setopt(pycurl.WRITEFUNCTION, body.extend)
        try:
            curl.perform()
        except pycurl.error as error:
            raise _error(error.args[0], blocked) from None
        finally:
            curl.setopt(pycurl.WRITEFUNCTION, len)
        return _response(curl, lines), bytes(body)

    def post(self, request: Request) -> Response:
        curl = self._handle()
        lines: list[bytes] = []
        blocked: list[bool] = []
        _prepare(curl, request, lines, self.timeout, blocked)
        try:
            curl.perform()
        except pycurl.error as error:
            raise _error(error.args[0], blocked) from None
        return _response(curl, lines)

    def close(self) -> None:
        with self._lock:
            for curl in self._handles:
                curl.close()
            self._handles.clear()


class Sender:
    """Many requests in flight from one thread: ``submit(request, done, timeout=…)``
    returns at once; ``done`` is called in the sender's thread with the
    :class:`Response` or the :class:`TransportError` (it must not block: it is the
    loop). ``limits`` caps the requests in flight per ``lane`` (the worker's lanes are
    its channels); the rest wait, in order, for one of their lane to finish."""

    def __init__(self, *, limits: Mapping[str, int] | None = None, connections_per_host: int = 64) -> None:
        self._ca_file = _ca_file()
        self._limits = dict(limits or {})
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, connections_per_host)
        self._idle: list[pycurl.Curl] = []
        self._running: dict[pycurl.Curl, _Exchange] = {}
        self._lanes: dict[str, int] = defaultdict(int)  # lane → requests in flight
        self._waiting: dict[str, deque[tuple[Request, _Exchange]]] = defaultdict(deque)
        self._incoming: queue.SimpleQueue[tuple[Request, _Exchange] | None] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._loop, name="http-sender", daemon=True)
        self._thread.start()

    def submit(
        self,
        request: Request,
        done: Callable[[Response | TransportError], None],
        *,
        timeout: float,
        lane: str = "",
    ) -> None:
        self._incoming.put((request, _Exchange(done, timeout, lane)))
        self._wake()

    def close(self) -> None:
        """Stop once every request submitted has been answered (or has timed out)."""
        if self._thread.is_alive():
            self._incoming.put(None)
            self._wake()
            self._thread.join()
        for curl in self._idle:
            curl.close()
        self._multi.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # (full: the loop is awake anyway)
            os.write(self._wake_w, b"!")

    def _loop(self) -> None:
        closing = False
        while not closing or self._running or any(self._waiting.values()):
            closing = self._take() or closing
            self._start()
            while self._multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            if self._answers() or not self._incoming.empty():
                continue  # (lanes have room again, or there is more to add)
            reads, writes, errors = self._multi.fdset()
            wait = self._multi.timeout()
            wait_s = 1.0 if wait < 0 else min(wait / 1000, 1.0)
            ready, _, _ = select.select([*reads, self._wake_r], writes, errors, wait_s)
            if self._wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)

    def _take(self) -> bool:
        """Queue the requests submitted meanwhile in their lanes; True when ``close`` was asked."""
        while True:
            try:
                item = self._incoming.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            self._waiting[item[1].lane].append(item)

    def _start(self) -> None:
        """Hand libcurl what its lanes have room for."""
        for lane, waiting in self._waiting.items():
            limit = self._limits.get(lane)
            while waiting and (limit is None or self._lanes[lane] < limit):
                request, exchange = waiting.popleft()
                curl = self._idle.pop() if self._idle else _new_handle(self._ca_file)
                _prepare(curl, request, exchange.header_lines, exchange.timeout, exchange.blocked)
                self._running[curl] = exchange
                self._lanes[lane] += 1
                self._multi.add_handle(curl)

    def _answers(self) -> int:
        finished = 0
        while True:
            left, ok, failed = self._multi.info_read()
            for curl in ok:
                self._finish(curl, None)
            for curl, code, _message in failed:
                self._finish(curl, code)
            finished += len(ok) + len(failed)
            if not left:
                return finished

    def _finish(self, curl: pycurl.Curl, error_code: int | None) -> None:
        exchange = self._running.pop(curl)
        self._lanes[exchange.lane] -= 1
        answer = (
            _error(error_code, exchange.blocked)
            if error_code is not None
            else _response(curl, exchange.header_lines)
        )
        self._multi.remove_handle(curl)
        self._idle.append(curl)
        try:
            exchange.done(answer)
        except Exception:  # a callback's bug must not stop every other send
            log.exception("http.callback_failed")


def json_bytes(value: Any) -> bytes:
    """A JSON request body: UTF-8, Japanese as it is, no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
