from __future__ import annotations

import base64
import os
import stat
import uuid
from pathlib import Path

import pytest

from kawamori.settings import Environment, Settings
from notify.errors import SealError, SubscriberKeyError
from notify.sealing import KEY_FILE, SubscriberKey, ensure_key_file, generate_key, load_key, token_digest


def test_seal_opens_only_with_its_key_and_its_id():
    key = SubscriberKey(os.urandom(32))
    sid = uuid.uuid4()
    sealed = key.seal({"endpoint": "https://push.example.net/x"}, subscription_id=sid)
    assert b"push.example.net" not in sealed
    assert key.open(sealed, subscription_id=sid) == {"endpoint": "https://push.example.net/x"}
    with pytest.raises(SealError):
        key.open(sealed, subscription_id=uuid.uuid4())  # copied onto another row
    with pytest.raises(SealError):
        SubscriberKey(os.urandom(32)).open(sealed, subscription_id=sid)
    altered = bytearray(sealed)
    altered[-1] ^= 1
    with pytest.raises(SealError):
        key.open(bytes(altered), subscription_id=sid)
    assert key.seal("x", subscription_id=sid) != key.seal("x", subscription_id=sid)  # fresh nonce


def test_derived_values_are_stable_and_independent():
    master = os.urandom(32)
    a, b = SubscriberKey(master), SubscriberKey(master)
    sid = uuid.uuid4()
    assert a.digest("email", "a@example.jp") == b.digest("email", "a@example.jp")
    assert a.digest("email", "a@example.jp") != a.digest("line", "a@example.jp")
    assert a.unsubscribe_token(sid) == b.unsubscribe_token(sid)
    assert len(a.unsubscribe_token(sid)) == 32
    assert a.unsubscribe_token(sid) != SubscriberKey(os.urandom(32)).unsubscribe_token(sid)
    assert token_digest(a.unsubscribe_token(sid)) != a.unsubscribe_token(sid)
    assert repr(a) == "SubscriberKey(…)"


def test_key_must_be_32_bytes_of_base64():
    with pytest.raises(SubscriberKeyError):
        SubscriberKey(b"short")
    with pytest.raises(SubscriberKeyError):
        SubscriberKey.from_base64("not base64!!")
    assert SubscriberKey.from_base64(generate_key())


def test_settings_refuse_a_bad_key():
    with pytest.raises(ValueError, match="32 bytes"):
        Settings(_env_file=None, subscriber_key=base64.b64encode(b"x" * 16).decode())


def test_no_default_key(tmp_path: Path):
    settings = Settings(_env_file=None, data_dir=tmp_path)
    with pytest.raises(SubscriberKeyError, match="KAWAMORI_SUBSCRIBER_KEY"):
        load_key(settings)


def test_demo_key_file_is_private_and_stable(tmp_path: Path):
    path = ensure_key_file(tmp_path)
    assert path == tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    ensure_key_file(tmp_path)
    assert path.read_text() == first
    settings = Settings(_env_file=None, data_dir=tmp_path)
    sid = uuid.uuid4()
    assert load_key(settings).unsubscribe_token(sid) == SubscriberKey.from_base64(first).unsubscribe_token(
        sid
    )


def test_production_ignores_the_demo_key_file(tmp_path: Path):
    ensure_key_file(tmp_path)
    settings = Settings.model_construct(
        environment=Environment.production, data_dir=tmp_path, subscriber_key=None
    )
    with pytest.raises(SubscriberKeyError):
        load_key(settings)
