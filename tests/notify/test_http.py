"""The notifiers' HTTP client against real local servers: the blocking ``Http.post``
and the worker's ``Sender`` (many requests in flight on one thread), over HTTP and
HTTPS with certificates made here."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kawamori.embedded import free_port
from notify.channels.http import Blocked, Http, Request, Response, Sender, TransportError, public_address
from tests.notify.peers import Answer, http_peer

BINARY = bytes(range(256)) * 8  # NUL bytes and all: a Web Push body is binary


def post(url: str, body: bytes = b"{}", **headers: str) -> Request:
    return Request(url, body, {"Content-Type": "application/octet-stream", **headers})


def send_all(
    sender: Sender, requests: list[Request], timeout: float = 5.0
) -> list[Response | TransportError]:
    answers: list[Response | TransportError | None] = [None] * len(requests)
    done = threading.Semaphore(0)

    def callback(i: int):
        def answered(answer: Response | TransportError) -> None:
            answers[i] = answer
            done.release()

        return answered

    for i, request in enumerate(requests):
        sender.submit(request, callback(i), timeout=timeout)
    for _ in requests:
        assert done.acquire(timeout=30)
    return answers  # type: ignore[return-value]


def test_post_sends_the_body_and_headers_as_they_are_and_reads_the_answer():
    with http_peer(lambda r: Answer(201, {"Retry-After": "7", "X-Line-Request-Id": "abc"})) as peer:
        http = Http(timeout=5)
        response = http.post(post(f"{peer.url}/push/1", BINARY, Topic="alert-12", TTL="3600"))
        http.close()
    assert response.status == 201
    assert response.headers["retry-after"] == "7" and response.headers["x-line-request-id"] == "abc"
    [request] = peer.requests
    assert request.path == "/push/1" and request.body == BINARY
    assert request.headers["topic"] == "alert-12" and request.headers["ttl"] == "3600"
    assert "expect" not in request.headers  # no waiting for 100 Continue


def test_the_sender_keeps_many_requests_in_flight_on_one_thread():
    def slow(request):
        time.sleep(0.2)
        return Answer(200 if request.path.endswith("0") else 503)

    with http_peer(slow) as peer:
        sender = Sender()
        started = time.monotonic()
        answers = send_all(sender, [post(f"{peer.url}/gateway/{i}", BINARY) for i in range(60)])
        elapsed = time.monotonic() - started
        sender.close()
    # 60 × 0.2 s one after the other would take 12 s
    assert elapsed < 6, elapsed
    assert [a.status for a in answers] == [200 if i % 10 == 0 else 503 for i in range(60)]
    assert all(r.body == BINARY for r in peer.requests)


def test_a_lane_never_has_more_than_its_limit_in_flight_and_keeps_its_order():
    lock = threading.Lock()
    now = {"line": 0, "push": 0}
    most = {"line": 0, "push": 0}

    def counted(request):
        lane = request.path.split("/")[1]
        with lock:
            now[lane] += 1
            most[lane] = max(most[lane], now[lane])
        time.sleep(0.1)
        with lock:
            now[lane] -= 1
        return Answer(200)

    with http_peer(counted) as peer:
        sender = Sender(limits={"line": 2})
        done = threading.Semaphore(0)
        for i in range(8):
            for lane in ("line", "push"):
                sender.submit(post(f"{peer.url}/{lane}/{i}"), lambda a: done.release(), timeout=5, lane=lane)
        for _ in range(16):
            assert done.acquire(timeout=30)
        sender.close()
    assert most == {"line": 2, "push": 8}  # the push lane has no limit
    line_paths = [r.path for r in peer.requests if r.path.startswith("/line")]
    # sent in the order submitted; the peer records arrivals, and on a loaded machine one
    # request may reach its handler after the next one was sent (its slot freed first)
    assert {"/line/0", "/line/1"} <= set(line_paths[:3]), line_paths
    assert {"/line/6", "/line/7"} <= set(line_paths[-3:]), line_paths


def test_no_answer_is_a_transport_error_named_by_libcurl():
    with http_peer(lambda r: (time.sleep(1.0), Answer(200))[1]) as peer:
        sender = Sender()
        timed_out, refused, scheme = send_all(
            sender,
            [
                post(f"{peer.url}/slow"),
                post(f"http://127.0.0.1:{free_port()}/closed"),
                post("file:///etc/passwd"),  # only http and https, whatever a subscription says
            ],
            timeout=0.2,
        )
        sender.close()
    assert isinstance(timed_out, TransportError) and str(timed_out) == "CURLE_OPERATION_TIMEDOUT"
    assert isinstance(refused, TransportError) and str(refused) == "CURLE_COULDNT_CONNECT"
    assert isinstance(scheme, TransportError) and str(scheme) == "CURLE_UNSUPPORTED_PROTOCOL"
    with pytest.raises(TransportError, match="CURLE_COULDNT_CONNECT"):
        Http(timeout=0.5).post(post(f"http://127.0.0.1:{free_port()}/closed"))


def test_redirects_are_answers_and_no_proxy_from_the_environment_is_used(monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    with http_peer(lambda r: Answer(302, {"Location": "http://127.0.0.1:9/elsewhere"})) as peer:
        response = Http(timeout=2).post(post(f"{peer.url}/v2/bot/message/push"))
    assert response.status == 302 and len(peer.requests) == 1


def test_close_waits_for_the_requests_in_flight():
    answered = []
    with http_peer(lambda r: (time.sleep(0.3), Answer(201))[1]) as peer:
        sender = Sender()
        for i in range(5):
            sender.submit(post(f"{peer.url}/push/{i}"), answered.append, timeout=5)
        sender.close()
    assert [a.status for a in answered] == [201] * 5


# --- HTTPS ----------------------------------------------------------------------------------


def _certificates(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA (its certificate in a PEM file) and a server context for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kawamori test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


def test_https_checks_the_certificate_against_ssl_cert_file(tmp_path, monkeypatch):
    ca_file, context = _certificates(tmp_path)
    with http_peer(lambda r: Answer(201), tls=context) as peer:
        assert peer.url.startswith("https://")
        # certifi's bundle does not know this CA
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with pytest.raises(TransportError, match="CURLE_PEER_FAILED_VERIFICATION"):
            Http(timeout=5).post(post(f"{peer.url}/push/1"))
        untrusting = Sender()
        [refused] = send_all(untrusting, [post(f"{peer.url}/push/2")])
        untrusting.close()
        assert isinstance(refused, TransportError)
        # a municipality's own CA (a gateway on the town's network)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        assert Http(timeout=5).post(post(f"{peer.url}/push/3", BINARY)).status == 201
        trusting = Sender()
        [accepted] = send_all(trusting, [post(f"{peer.url}/push/4", BINARY)])
        trusting.close()
    assert isinstance(accepted, Response) and accepted.status == 201
    assert [r.path for r in peer.requests] == ["/push/3", "/push/4"]
    assert all(r.body == BINARY for r in peer.requests)


def test_public_only_requests_never_connect_to_a_private_address():
    with http_peer(lambda request: Answer(201)) as peer:
        port = peer.url.rsplit(":", 1)[1]
        for url in (f"{peer.url}/push", f"http://localhost:{port}/push"):
            with pytest.raises(Blocked):
                Http(timeout=2).post(Request(url, b"x", {}, public_only=True))
        answers = []
        sender = Sender()
        sender.submit(Request(f"{peer.url}/push", b"x", {}, public_only=True), answers.append, timeout=2)
        sender.submit(Request(f"{peer.url}/push", b"x", {}), answers.append, timeout=2)  # staff's own
        sender.close()
        assert not peer.requests[:-1] and len(peer.requests) == 1
    assert sorted(type(a).__name__ for a in answers) == ["Blocked", "Response"]


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2001:4860:4860::8888", True), ("127.0.0.1", False), ("10.0.0.1", False),
     ("::1", False), ("::ffff:127.0.0.1", False), ("fe80::1%eth0", False), ("100.64.0.1", False),
     ("224.0.0.1", False), ("0.0.0.0", False)],
)  # fmt: skip
def test_public_addresses(address, public):
    assert public_address(address) is public
