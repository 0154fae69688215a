"""The subscriber key: residents' addresses are stored only sealed with it.

One 32-byte secret (``KAWAMORI_SUBSCRIBER_KEY``, base64) gives, through HKDF-SHA256,
three independent keys:

* ``seal`` — AES-256-GCM over the address JSON, with the subscription id as associated
  data (a sealed address copied onto another row does not open);
* ``digest`` — HMAC-SHA256 of the normalised address: finds an existing subscription
  for the same (channel, address) without storing the address;
* ``token`` — HMAC-SHA256 of the subscription id: the unsubscribe token every message
  carries. The database keeps only its SHA-256, and the delivery workers derive the
  token again from the id (:meth:`SubscriberKey.unsubscribe_token`);
* ``client`` — HMAC-SHA256 of a client's network address, for rate limiting.

The key is required in production. ``kawamori up`` (the embedded demo) generates one
into ``<data dir>/subscriber.key`` (mode 0600) when it is not set; there is no default
key. Losing the key makes every stored address unreadable: back it up with the
database, separately from it.

Sealed layout: ``b"\\x01" + nonce (12) + ciphertext + tag (16)``; the first byte is the
format version (room for key rotation later).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import uuid
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from notify.errors import SealError, SubscriberKeyError

KEY_FILE = "subscriber.key"
VERSION = b"\x01"
NONCE_BYTES = 12
TOKEN_CHARS = 32  # URL-safe base64 of 24 bytes: 192 bits


def generate_key() -> str:
    """A new subscriber key, base64 (for ``KAWAMORI_SUBSCRIBER_KEY``)."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"kawamori/{purpose}".encode()).derive(
        master
    )


class SubscriberKey:
    """The subscriber key and what is derived from it. ``repr`` never shows it."""

    __slots__ = ("_aead", "_client", "_digest", "_token")

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise SubscriberKeyError("the subscriber key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(_derive(master, "seal"))
        self._digest = _derive(master, "digest")
        self._token = _derive(master, "token")
        self._client = _derive(master, "client")

    @classmethod
    def from_base64(cls, text: str) -> SubscriberKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SubscriberKeyError("KAWAMORI_SUBSCRIBER_KEY is not base64") from None
        return cls(raw)

    def __repr__(self) -> str:
        return "SubscriberKey(…)"

    # --- sealing ------------------------------------------------------------------------

    def seal(self, address: Any, *, subscription_id: uuid.UUID) -> bytes:
        """``address`` (JSON-able) encrypted, bound to ``subscription_id``."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(address, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return VERSION + nonce + self._aead.encrypt(nonce, plain, subscription_id.bytes)

    def open(self, sealed: bytes, *, subscription_id: uuid.UUID) -> Any:
        """The address sealed by :meth:`seal` for this ``subscription_id``; raises
        :class:`SealError` for another key, another id or altered bytes."""
        sealed = bytes(sealed)
        if sealed[:1] != VERSION or len(sealed) < 1 + NONCE_BYTES + 16:
            raise SealError("not a sealed address of a known format")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, body, subscription_id.bytes)
        except InvalidTag:
            raise SealError("the sealed address does not open with this key and id") from None
        return json.loads(plain)

    # --- keyed hashes ---------------------------------------------------------------------

    def digest(self, channel: str, normalised: str) -> str:
        """Keyed hash of a normalised address on a channel (``address_digest``)."""
        return hmac.new(self._digest, f"{channel}\n{normalised}".encode(), hashlib.sha256).hexdigest()

    def unsubscribe_token(self, subscription_id: uuid.UUID) -> str:
        """The unsubscribe token of a subscription (the same every time)."""
        mac = hmac.new(self._token, subscription_id.bytes, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode("ascii")

    def client(self, client_address: str) -> str:
        """Keyed hash of a client's network address (rate limiting)."""
        return hmac.new(self._client, client_address.encode(), hashlib.sha256).hexdigest()[:32]


def token_digest(token: str) -> str:
    """What the database keeps of an unsubscribe token (``unsubscribe_digest``)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ensure_key_file(data_dir: Path) -> Path:
    """``<data_dir>/subscriber.key``, created with a new key (mode 0600) when missing
    (``kawamori up`` for the embedded demo)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_key() + "\n")
    return path


def load_key(settings) -> SubscriberKey:
    """The subscriber key of these settings: ``KAWAMORI_SUBSCRIBER_KEY``, else (outside
    production) the key file ``kawamori up`` wrote in the data dir. Raises
    :class:`SubscriberKeyError` when there is none: never a default key."""
    if settings.subscriber_key is not None:
        return SubscriberKey.from_base64(settings.subscriber_key.get_secret_value())
    path = settings.data_dir.resolve() / KEY_FILE
    if settings.environment != "production" and path.exists():
        return SubscriberKey.from_base64(path.read_text())
    raise SubscriberKeyError(
        "no subscriber key: set KAWAMORI_SUBSCRIBER_KEY (kawamori notify subscriber-key) "
        "or run `kawamori up`, which creates one for the embedded demo"
    )
