"""The ``kawamori`` command line (kawamori_app/cli.py): commands that need no running stack."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kawamori_app.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_simulate_validate_accepts_the_shipped_scenarios():
    result = runner.invoke(app, ["simulate", "validate", str(ROOT / "scenarios")])
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") >= 6


def test_simulate_validate_prints_the_timeline():
    result = runner.invoke(
        app, ["simulate", "validate", "--timeline", str(ROOT / "scenarios" / "flash-flood-small-river.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "kurose-kurose" in result.output and "01:19" in result.output


def test_simulate_validate_names_the_line_of_a_mistake_and_fails(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: broken\ntime: {start: 2025-09-20T21:00:00+09:00, duration: '06:00'}\n"
        "network: " + str(ROOT / "kawamori" / "demo" / "network.yaml") + "\n"
        "faults:\n  - {kind: spike, station: kyoden-chiwara, at: '01:00'}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["simulate", "validate", str(broken)])
    assert result.exit_code == 2
    assert "broken.yaml:5: faults[0].height_m: Field required" in result.output


def test_simulate_validate_with_nothing_to_check_fails(tmp_path):
    result = runner.invoke(app, ["simulate", "validate", str(tmp_path)])
    assert result.exit_code == 2


def test_simulate_still_takes_its_options():
    result = runner.invoke(app, ["simulate", "--help"])
    assert result.exit_code == 0
    assert "--typhoon" in result.output and "validate" in result.output
