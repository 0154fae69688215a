"""The firmware's TLS path against a real Mosquitto with a real certificate chain:
a valid server certificate is accepted, an expired one, one for another host and one
from another CA are refused (issue #22: the TLS path was never exercised by a test).
The firmware's own ``hw.open_stream`` and MQTT client run under CPython's ssl here;
``test_field.py`` checks that MicroPython's contexts are switched to CERT_REQUIRED."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kawamori.embedded import find_mosquitto, free_port
from simulator.firmware import firmware
from tests.helpers import wait_for

NOW = dt.datetime.now(dt.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _ca(folder: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _server(folder: Path, name: str, ca, *, host: str, after: dt.datetime) -> None:
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = [x509.DNSName(host)]
    if host == "127.0.0.1":
        alt = [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(NOW, after) - dt.timedelta(days=30))
        .not_valid_after(after)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / f"{name}.key", key)


CASES = ("valid", "expired", "wrong-host", "other-ca")


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory) -> Iterator[tuple[Path, dict[str, int]]]:
    """One Mosquitto, a TLS listener per case, anonymous clients allowed (this tests the
    transport, not the accounts)."""
    folder = tmp_path_factory.mktemp("tls")
    ca = _ca(folder, "ca")
    other = _ca(folder, "other-ca-root")
    year = NOW + dt.timedelta(days=365)
    _server(folder, "valid", ca, host="127.0.0.1", after=year)
    _server(folder, "expired", ca, host="127.0.0.1", after=NOW - dt.timedelta(days=1))
    _server(folder, "wrong-host", ca, host="mqtt.elsewhere.example", after=year)
    _server(folder, "other-ca", other, host="127.0.0.1", after=year)
    ports = {case: free_port() for case in CASES}
    lines = ["per_listener_settings true", f"user {pwd.getpwuid(os.getuid()).pw_name}", "log_dest stderr"]
    for case, port in ports.items():
        lines += [
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            f"cafile {folder / 'ca.crt'}",
            f"certfile {folder / (case + '.crt')}",
            f"keyfile {folder / (case + '.key')}",
        ]
    (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    log = (folder / "mosquitto.log").open("w")
    process = subprocess.Popen([str(find_mosquitto()), "-c", str(folder / "mosquitto.conf")], stderr=log)

    def listening() -> bool:
        for port in ports.values():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
        return True

    try:
        wait_for(listening, explain=lambda: (folder / "mosquitto.log").read_text())
        yield folder, ports
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def connect(folder: Path, port: int):
    _, hw, _ = firmware()
    import mqtt

    client = mqtt.Client("kw-tls-test")
    client.connect(hw.open_stream("127.0.0.1", port, True, str(folder / "ca.crt"), 5))
    return client


def test_a_valid_chain_connects_and_speaks_mqtt(tls_broker):
    folder, ports = tls_broker
    client = connect(folder, ports["valid"])
    try:
        client.subscribe("kawamori/v1/kw-tls-test/config")
        client.publish("kawamori/v1/kw-tls-test/status", b'{"v":1,"online":true}')
    finally:
        client.disconnect()


@pytest.mark.parametrize(
    ("case", "why"),
    [("expired", "expired"), ("wrong-host", "match"), ("other-ca", "unable to get local issuer")],
)
def test_a_bad_certificate_is_refused(tls_broker, case, why):
    folder, ports = tls_broker
    _, hw, _ = firmware()
    with pytest.raises(hw.NetError, match=why):
        connect(folder, ports[case])
