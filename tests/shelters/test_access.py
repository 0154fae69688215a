from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shelters import access


def test_codes_are_generated_readable_and_hashed():
    code = access.new_code()
    assert len(code) == 14 and code.count("-") == 2
    assert not set(access.normalise(code)) - set(access.ALPHABET)
    stored = access.hash_code(code)
    assert stored.startswith("scrypt$") and access.normalise(code) not in stored and code not in stored
    assert access.verify_code(code, stored)
    assert access.verify_code(code.lower().replace("-", " "), stored)  # forgiving typing
    assert not access.verify_code(access.new_code(), stored)
    assert access.hash_code(code) != stored  # salted


def test_unusable_hashes_never_verify():
    for stored in (None, "", "plain", "md5$1$2$3$4$5", "scrypt$x$8$1$AAAA$AAAA"):
        assert not access.verify_code("ABCD-EFGH-JKMN", stored)


@settings(max_examples=10, deadline=None)
@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_only_the_same_code_verifies(a, b):
    stored = access.hash_code(a)
    assert access.verify_code(b, stored) == (access.normalise(a) == access.normalise(b))


def test_tokens_are_stored_as_digests():
    token = access.new_token()
    assert len(token) >= 40 and access.token_digest(token) != token
    assert access.same("a", "a") and not access.same("a", "b")
