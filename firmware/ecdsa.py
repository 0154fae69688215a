"""ECDSA P-256 signature verification with SHA-256, in plain integers: MicroPython has
SHA-256 but no public-key verification, and an update must be checked on the gauge
before it is installed. Verification only (the private key never leaves the desk where
`kawamori device update` signs). Jacobian coordinates: one modular inverse per check.

Keys are the 65-byte uncompressed point (04 || X || Y); signatures the 64-byte r || s.
"""

import hashlib

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    1,
)


def _int(data) -> int:
    return int.from_bytes(data, "big")


def _double(point):
    if point is None:
        return None
    x1, y1, z1 = point
    if y1 == 0:
        return None
    delta = z1 * z1 % P
    gamma = y1 * y1 % P
    beta = x1 * gamma % P
    alpha = 3 * (x1 - delta) * (x1 + delta) % P  # a = -3
    x3 = (alpha * alpha - 8 * beta) % P
    z3 = ((y1 + z1) * (y1 + z1) - gamma - delta) % P
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % P
    return (x3, y3, z3)


def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    if u1 == u2:
        return _double(p1) if s1 == s2 else None
    h = (u2 - u1) % P
    i = 4 * h * h % P
    j = h * i % P
    r = 2 * (s2 - s1) % P
    v = u1 * i % P
    x3 = (r * r - j - 2 * v) % P
    y3 = (r * (v - x3) - 2 * s1 * j) % P
    z3 = ((z1 + z2) * (z1 + z2) - z1z1 - z2z2) * h % P
    return (x3, y3, z3)


def _mul(k: int, point):
    out = None
    while k:
        if k & 1:
            out = _add(out, point)
        point = _double(point)
        k >>= 1
    return out


def public_point(key):
    """The point of a 65-byte uncompressed public key, or None if it is not one on P-256."""
    if len(key) != 65 or key[0] != 4:
        return None
    x = _int(key[1:33])
    y = _int(key[33:])
    if not (x < P and y < P) or (y * y - x * x * x + 3 * x - B) % P:
        return None
    return (x, y, 1)


def verify(key, message, signature) -> bool:
    """Whether ``signature`` (r || s) is ``key``'s ECDSA P-256 signature of SHA-256(message)."""
    point = public_point(key)
    if point is None or len(signature) != 64:
        return False
    r = _int(signature[:32])
    s = _int(signature[32:])
    if not (0 < r < N and 0 < s < N):
        return False
    z = _int(hashlib.sha256(message).digest())
    w = pow(s, N - 2, N)
    total = _add(_mul(z * w % N, G), _mul(r * w % N, point))
    if total is None:
        return False
    x, _, zj = total
    zinv = pow(zj, P - 2, P)
    return x * zinv * zinv % P % N == r
