"""Signed firmware bundles for gauges in the field (`kawamori device update`).

A bundle is the firmware as `kawamori device flash` would copy it (compiled ``.mpy``
modules, or sources), without ``main.py`` (the boot loader that rolls a broken update
back) and ``config.py`` (the site's secrets). Its manifest names every file with its
size and SHA-256 and is signed with the city's update key (ECDSA P-256, SHA-256; the
private key stays on the desk, the gauge holds the public key as ``update_key``).
It goes to one gauge as retained MQTT messages: ``kawamori/v1/<device>/update`` (the
64-byte signature r || s, then the manifest) and ``…/update/<file>`` (each file's bytes).
``firmware/update.py`` checks everything before it installs anything, and rolls back.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from kawamori import contract
from kawamori_app import devices


def new_key() -> tuple[bytes, str]:
    """A new update key: ``(private key PEM, public key hex for config.py)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, public_hex(key)


def public_hex(key: ec.EllipticCurvePrivateKey) -> str:
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point.hex()


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise devices.DeviceError(
            "the update key must be an ECDSA P-256 private key (kawamori device update-key)"
        )
    return key


def firmware_version() -> str:
    return str(runpy.run_path(str(devices.FIRMWARE / "settings.py"))["FIRMWARE"])


def firmware_files(*, build_dir: Path, compile_: bool, board: str) -> dict[str, bytes]:
    """The files a bundle carries: what `kawamori device flash` copies, less main.py
    and config.py."""
    copies = devices.plan_copies(Path("config.py"), build_dir=build_dir, compile_=compile_)
    if compile_:
        devices.compile_firmware(copies, board)
    return {
        copy.target.lstrip(":"): copy.source.read_bytes()
        for copy in copies
        if copy.target.lstrip(":") not in ("main.py", "config.py")
    }


def manifest(version: str, files: dict[str, bytes]) -> bytes:
    entries = [[name, len(data), hashlib.sha256(data).hexdigest()] for name, data in sorted(files.items())]
    return json.dumps({"v": 1, "fw": version, "files": entries}, separators=(",", ":")).encode()


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """The 64-byte r || s signature the gauge checks."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def topic(device_id: str, name: str | None = None) -> str:
    base = f"{contract.PREFIX}/{device_id}/update"
    return base if name is None else f"{base}/{name}"


def messages(
    device_id: str, key: ec.EllipticCurvePrivateKey, version: str, files: dict[str, bytes]
) -> list[tuple[str, bytes]]:
    """The retained messages that offer the bundle to one gauge: every file first, then
    the signed manifest (so a gauge never sees an offer whose files are not there)."""
    signed = manifest(version, files)
    out = [(topic(device_id, name), data) for name, data in sorted(files.items())]
    out.append((topic(device_id), sign(key, signed) + signed))
    return out
