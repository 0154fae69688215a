"""Time-based one-time passwords (RFC 6238: 30-second steps, 6 digits, SHA-1, as every
authenticator app does) for staff sign-in, with pyotp. A code is accepted for the
current step and one step either side (clock drift), and never twice."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import pyotp

ISSUER = "Kawamori"
STEP_S = 30


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits


def provisioning_uri(secret: str, *, username: str, issuer: str = ISSUER) -> str:
    """The ``otpauth://`` address an authenticator app reads (as a QR code or typed)."""
    return pyotp.TOTP(secret).provisioning_uri(name=quote(username), issuer_name=issuer)


def accepted_step(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than
    ``last_step``; else ``None``."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    generator = pyotp.TOTP(secret)
    step = int(now.timestamp()) // STEP_S
    for candidate in (step, step - 1, step + 1):
        if (last_step is None or candidate > last_step) and pyotp.utils.strings_equal(
            generator.generate_otp(candidate), code
        ):
            return candidate
    return None


def code_at(secret: str, now: datetime) -> str:
    """The code an authenticator app shows at ``now`` (tests, the command line's check)."""
    return pyotp.TOTP(secret).at(now)
