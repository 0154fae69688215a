"""Per-shelter access codes and staff sessions. Standard library only.

An access code is generated (never chosen by a person): 12 characters from an
alphabet without look-alikes (no 0/O, 1/I/L), shown in groups of four, e.g. ``7KQM-3XWP-HT9C`` — about
59 bits, too many to guess over HTTP. Only its scrypt hash is stored. Typing is
forgiving: case, spaces and hyphens do not matter.

A session token is random; the database keeps only its SHA-256 digest, so a leaked
table does not hand out live sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from kawamori.tokens import new_token as new_token
from kawamori.tokens import same as same
from kawamori.tokens import token_digest as token_digest

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
_N, _R, _P = 2**14, 8, 1


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch not in " -\u3000\t")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_code(code: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for storage."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(normalise(code).encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_code(code: str, stored: str | None) -> bool:
    """Whether ``code`` matches a stored hash (constant-time; ``False`` for no hash)."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            normalise(code).encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
