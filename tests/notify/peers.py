"""A real local HTTP peer for the channel tests: a threading ``http.server`` on a free
port that records every request and answers with whatever the test's ``answer``
function returns. No mocks: the notifiers talk HTTP to it over a socket."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Peer:
    url: str
    requests: list[Request] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # (5 by default: a worker opening many connections at once waits on SYN retries)


@contextmanager
def http_peer(answer: Callable[[Request], Answer], *, tls: ssl.SSLContext | None = None) -> Iterator[Peer]:
    """The peer on a free port; with ``tls`` (a server context), over HTTPS."""
    peer = Peer(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            peer.requests.append(request)
            reply = answer(request)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout tests)

        do_GET = do_POST  # a GET is recorded and answered the same way (LINE's rich menu aliases)

        def handle(self) -> None:
            with contextlib.suppress(ConnectionResetError):  # a client killed mid-request (fault tests)
                super().handle()

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    peer.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
