"""New credentials for a gauge in the field (`kawamori device rotate`), with rollback.

The server seals the new MQTT password (and, if it changes, the Wi-Fi network and key)
with a key derived from the password the gauge uses now, and leaves it retained on the
gauge's ``secret`` topic, which only that gauge can read: encrypt-then-MAC with SHA-256
(a counter-mode keystream and HMAC-SHA-256; MicroPython has SHA-256 but neither HMAC
nor a portable cipher). The gauge keeps the new credentials as *pending* and says so in
its status (``rot``); the operator then switches the broker to them
(`kawamori device rotate --finish`). From then on every connection tries the pending
credentials first and the old ones right after, so a gauge is never locked out: the
first success with the new ones makes them the gauge's own (``rot_ok``); a pending set
that has not worked after ``MAX_TRIES`` uplinks is dropped.

Sealed: version 1 (1 byte), nonce (16), tag (32), ciphertext of the JSON
``{"n": N, "password": …, "wifi_ssid": …, "wifi_key": …}``.
"""

import hashlib

import hw

MAX_TRIES = 48
_BLOCK = 64


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    if len(key) > _BLOCK:
        key = _sha(key)
    key = key + bytes(_BLOCK - len(key))
    inner = bytes(b ^ 0x36 for b in key)
    outer = bytes(b ^ 0x5C for b in key)
    return _sha(outer + _sha(inner + message))


def _keys(password: str):
    base = _sha(b"kawamori-secret-v1" + password.encode())
    return _sha(base + b"enc"), _sha(base + b"mac")


def _stream(key: bytes, nonce: bytes, data: bytes) -> bytes:
    out = bytearray(len(data))
    for block in range((len(data) + 31) // 32):
        pad = _sha(key + nonce + block.to_bytes(4, "big"))
        for i in range(32):
            at = block * 32 + i
            if at >= len(data):
                break
            out[at] = data[at] ^ pad[i]
    return bytes(out)


def seal(password: str, nonce: bytes, plaintext: bytes) -> bytes:
    enc, mac = _keys(password)
    body = _stream(enc, nonce, plaintext)
    return b"\x01" + nonce + hmac_sha256(mac, nonce + body) + body


def unseal(password: str, sealed: bytes):
    """The plaintext, or None when it was not sealed with ``password`` (or was changed)."""
    if len(sealed) < 49 or sealed[0] != 1:
        return None
    nonce, tag, body = sealed[1:17], sealed[17:49], sealed[49:]
    enc, mac = _keys(password)
    expected = hmac_sha256(mac, nonce + body)
    difference = 0
    for a, b in zip(expected, tag):
        difference |= a ^ b
    if difference:
        return None
    return _stream(enc, nonce, body)


def offered(password: str, sealed: bytes, applied: int):
    """The credentials in a ``secret`` message for this gauge: a dict with ``n``,
    ``password`` and maybe ``wifi_ssid``/``wifi_key``; None when it is not newer than
    ``applied``; an error text when it cannot be used."""
    plaintext = unseal(password, sealed)
    if plaintext is None:
        return "secret refused: not sealed with this gauge's password"
    try:
        document = hw.loads(plaintext)
    except (ValueError, UnicodeError):
        return "secret refused: not JSON"
    if not isinstance(document, dict):
        return "secret refused: not an object"
    n, new = document.get("n"), document.get("password")
    if isinstance(n, bool) or not isinstance(n, int) or not isinstance(new, str) or len(new) < 16:
        return "secret refused: bad n or password"
    if n <= applied:
        return None
    out = {"n": n, "password": new, "tries": 0}
    for key in ("wifi_ssid", "wifi_key"):
        if isinstance(document.get(key), str):
            out[key] = document[key]
    return out
