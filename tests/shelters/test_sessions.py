from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kawamori import db
from shelters.errors import AccessDenied, UnknownShelter
from shelters.sessions import (
    SESSION_LENGTH,
    account_shelters,
    assign,
    close_session,
    current_session,
    open_session,
    revoke_sessions,
    set_access_code,
)

SHELTER = "062031-0001"
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def test_codes_open_sessions_and_only_hashes_are_stored(shelter_db):
    with db.connect(shelter_db) as conn:
        code = set_access_code(conn, shelter_id=SHELTER)
        stored = conn.execute("SELECT access_code_hash FROM shelters WHERE id = %s", (SHELTER,)).fetchone()[0]
        assert code not in stored and stored.startswith("scrypt$")
        token, session = open_session(conn, shelter_id=SHELTER, code=code, now=NOW)
        assert session.shelter_id == SHELTER and session.expires_at == NOW + SESSION_LENGTH
        assert conn.execute(
            "SELECT count(*) FROM shelter_sessions WHERE token_digest = %s", (token,)
        ).fetchone() == (0,)
        assert current_session(conn, token=token, now=NOW + timedelta(hours=1)) == session
        with pytest.raises(AccessDenied, match="ended"):
            current_session(conn, token=token, now=NOW + SESSION_LENGTH)
        close_session(conn, token=token)
        with pytest.raises(AccessDenied):
            current_session(conn, token=token, now=NOW)


def test_wrong_codes_and_shelters_get_the_same_answer(shelter_db):
    with db.connect(shelter_db) as conn:
        code = set_access_code(conn, shelter_id=SHELTER)
        with pytest.raises(AccessDenied, match="wrong shelter or access code"):
            open_session(conn, shelter_id=SHELTER, code="WRONG-CODE-0000", now=NOW)
        with pytest.raises(AccessDenied, match="wrong shelter or access code"):
            open_session(conn, shelter_id="nowhere", code=code, now=NOW)
        with pytest.raises(AccessDenied, match="wrong shelter or access code"):
            open_session(conn, shelter_id="062031-0002", code=code, now=NOW)  # no code set there
        with pytest.raises(AccessDenied):
            current_session(conn, token=None, now=NOW)


def test_a_new_code_keeps_tablets_counting_unless_revoked(shelter_db):
    with db.connect(shelter_db) as conn:
        code = set_access_code(conn, shelter_id=SHELTER)
        token, _ = open_session(conn, shelter_id=SHELTER, code=code, now=NOW)
        assert set_access_code(conn, shelter_id=SHELTER, code="MY-OWN-CODE-1") == "MY-OWN-CODE-1"
        assert current_session(conn, token=token, now=NOW).shelters == (SHELTER,)  # still counting
        with pytest.raises(AccessDenied):
            open_session(conn, shelter_id=SHELTER, code=code, now=NOW)  # the old code no longer signs in
        set_access_code(conn, shelter_id=SHELTER, revoke=True)
        with pytest.raises(AccessDenied):
            current_session(conn, token=token, now=NOW)
        with pytest.raises(AccessDenied, match="at least 8"):
            set_access_code(conn, shelter_id=SHELTER, code="short")
        with pytest.raises(UnknownShelter):
            set_access_code(conn, shelter_id="nowhere")


def test_one_browser_counts_for_several_shelters(shelter_db):
    other = "062031-0002"
    with db.connect(shelter_db) as conn:
        first, second = set_access_code(conn, shelter_id=SHELTER), set_access_code(conn, shelter_id=other)
        token, session = open_session(conn, shelter_id=SHELTER, code=first, now=NOW)
        same_token, both = open_session(conn, shelter_id=other, code=second, now=NOW, token=token)
        assert same_token == token and both.shelters == (SHELTER, other)
        assert both.csrf_token == session.csrf_token
        revoke_sessions(conn, shelter_id=other)  # a revoked code signs out of that shelter only
        assert current_session(conn, token=token, now=NOW).shelters == (SHELTER,)
        close_session(conn, token=token, shelter_id=SHELTER)
        with pytest.raises(AccessDenied):
            current_session(conn, token=token, now=NOW)


def test_staff_accounts_count_for_their_assigned_shelters(shelter_db):
    from kawamori.model import Actor, Role

    with db.connect(shelter_db) as conn:
        user = conn.execute(
            """INSERT INTO staff_users (username, display_name, role, password_hash)
               VALUES ('sato', '佐藤', 'operator', 'x') RETURNING id"""
        ).fetchone()[0]
        assert assign(conn, username="sato", shelter_ids=[SHELTER, "062031-0002"]) == [SHELTER, "062031-0002"]
        lead = Actor(user, "sato", "佐藤", Role.operator)
        assert account_shelters(conn, lead) == (SHELTER, "062031-0002")
        assert account_shelters(conn, Actor(user, "sato", "佐藤", Role.viewer)) == ()  # viewers never count
        assert assign(conn, username="sato", shelter_ids=[SHELTER], remove=True) == ["062031-0002"]
        with pytest.raises(UnknownShelter):
            assign(conn, username="sato", shelter_ids=["nowhere"])
        with pytest.raises(AccessDenied):
            assign(conn, username="nobody", shelter_ids=[SHELTER])
