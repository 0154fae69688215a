"""``kawamori rescue …`` against a real database: the permission and the purge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from kawamori import db, staff
from kawamori.model import Role
from kawamori_app.cli import app
from rescue import store
from tests.notify.subscribers import new_key

runner = CliRunner()


def test_grant_revoke_and_purge(demo_db, tmp_path):
    env = {
        "KAWAMORI_DATABASE_URL": demo_db,
        "KAWAMORI_DATA_DIR": str(tmp_path),
        "KAWAMORI_RESCUE_RETENTION_DAYS": "7",
    }
    now = datetime.now(UTC)
    with db.connect(demo_db) as conn:
        account = staff.create_user(
            conn,
            username="suzuki",
            display_name="鈴木",
            role=Role.viewer,
            password="correct horse battery 42",
            now=now,
        )
        store.check_in(
            conn, key=new_key(), report_id=uuid.uuid4(), household="old-household", status="safe",
            household_size=1, shelter_id=None, point=None, language="ja", reported_at=now - timedelta(days=8),
            now=now - timedelta(days=8),
        )  # fmt: skip
    granted = runner.invoke(app, ["rescue", "grant", "suzuki"], env=env)
    assert granted.exit_code == 0, granted.output
    with db.connect(demo_db) as conn:
        assert store.permitted(conn, user_id=account.id)
    unknown = runner.invoke(app, ["rescue", "grant", "nobody"], env=env)
    assert unknown.exit_code == 2 and "nobody" in unknown.output
    assert runner.invoke(app, ["rescue", "revoke", "suzuki"], env=env).exit_code == 0
    with db.connect(demo_db) as conn:
        assert not store.permitted(conn, user_id=account.id)
    purged = runner.invoke(app, ["rescue", "purge"], env=env)
    assert purged.exit_code == 0 and "deleted 1 check-ins" in purged.output
