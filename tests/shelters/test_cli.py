"""``kawamori shelters …`` against a real database (settings come from the
environment the command is given, as in production)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from kawamori import db
from kawamori.cli import app
from shelters.sessions import open_session
from tests.shelters.conftest import SAMPLE_CSV, SAMPLE_GEOJSON

runner = CliRunner()


@pytest.fixture
def env(demo_db, tmp_path) -> dict[str, str]:
    return {
        "KAWAMORI_DATABASE_URL": demo_db,
        "KAWAMORI_MQTT_URL": "mqtt://127.0.0.1:1",
        "KAWAMORI_DATA_DIR": str(tmp_path),
    }


def run(env: dict[str, str], *args: str):
    return runner.invoke(app, ["shelters", *args], env=env)


def test_import_check_code_counter_and_nearest(env, demo_db):
    checked = run(env, "import", "--check", str(SAMPLE_CSV))
    assert checked.exit_code == 0 and "OK: 20 shelters" in checked.output
    first = run(env, "import", str(SAMPLE_CSV))
    assert first.exit_code == 0 and "20 added" in first.output
    again = run(env, "import", str(SAMPLE_GEOJSON))
    assert again.exit_code == 0 and "20 unchanged" in again.output

    issued = run(env, "code", "062031-0001")
    assert issued.exit_code == 0
    code = issued.stdout.strip().splitlines()[-1]
    with db.connect(demo_db) as conn:
        token, _ = open_session(conn, shelter_id="062031-0001", code=code, now=datetime.now(UTC))
        assert token

    assert run(env, "counter", "kw-door-01", "062031-0001").exit_code == 0
    nearest = run(env, "nearest", "38.77", "139.87", "--hazard", "flood", "-k", "2")
    assert nearest.exit_code == 0 and "closed" in nearest.output  # everything is still closed


def test_errors_are_clean_messages(env, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(SAMPLE_CSV.read_bytes().decode("cp932").replace("38.764000", "north", 1).encode("cp932"))
    result = run(env, "import", str(bad))
    assert result.exit_code == 2 and "line 2" in result.output and "nothing was imported" in result.output
    assert "Traceback" not in result.output
    missing = run(env, "import", str(tmp_path / "missing.csv"))
    assert missing.exit_code == 2
    unknown = run(env, "code", "nowhere")
    assert unknown.exit_code == 2 and "unknown shelter" in unknown.output
    assert run(env, "counter", "kw-door-01", "nowhere").exit_code == 2
