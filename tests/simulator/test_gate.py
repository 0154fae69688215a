"""The CI gate: ``kawamori simulate check scenarios/`` runs every shipped scenario
against the real ingest and alert engine (its own embedded PostgreSQL and Mosquitto)
and exits non-zero on any mismatch. ``./kw test`` (and so ``.ci/run``) runs it here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GATE_TIMEOUT_S = 600  # all seven scenarios take well under two minutes on two cores


def check(*paths: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kawamori_app", "simulate", "check", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=GATE_TIMEOUT_S,
        env={**os.environ, "COLUMNS": "160"},
    )


def test_every_shipped_scenario_behaves_as_staff_expect():
    result = check(ROOT / "scenarios")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All 7 scenario(s) behave as expected." in output, output
    assert "✗" not in output


def test_a_mismatch_fails_the_gate_with_a_readable_diff(tmp_path):
    document = yaml.safe_load((ROOT / "scenarios" / "flash-flood-small-river.yaml").read_text())
    document["time"]["duration"] = "02:00"
    document["expectations"] = [
        {
            "kind": "enters_stage",
            "station": "kurose-kurose",
            "stage": "danger",
            "between": ["00:10", "00:20"],
        },
        {"kind": "alert", "area": "area-kurose", "level": 4, "state": "pending_approval", "by": "01:30"},
    ]
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    result = check(path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "✗" in output and "✓" in output
    assert "00:10–00:20" in output  # expected beside produced
    assert "1 of 1 scenario(s) failed: flash-flood-small-river" in output
