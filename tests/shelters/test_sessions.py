from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kawamori import db
from shelters.errors import AccessDenied, UnknownShelter
from shelters.sessions import SESSION_LENGTH, close_session, current_session, open_session, set_access_code

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


def test_a_new_code_ends_every_session(shelter_db):
    with db.connect(shelter_db) as conn:
        code = set_access_code(conn, shelter_id=SHELTER)
        token, _ = open_session(conn, shelter_id=SHELTER, code=code, now=NOW)
        assert set_access_code(conn, shelter_id=SHELTER, code="MY-OWN-CODE-1") == "MY-OWN-CODE-1"
        with pytest.raises(AccessDenied):
            current_session(conn, token=token, now=NOW)
        with pytest.raises(AccessDenied, match="at least 8"):
            set_access_code(conn, shelter_id=SHELTER, code="short")
        with pytest.raises(UnknownShelter):
            set_access_code(conn, shelter_id="nowhere")
