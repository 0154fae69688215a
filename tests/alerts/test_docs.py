"""docs/alerts.md documents every rule setting (with its default) and every kind of
condition, in Japanese and English, and keeps a place for the lifecycle section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alerts.model import Kind
from alerts.policy import ApprovalPolicy
from alerts.rules import DEFAULT, RuleSettings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text(encoding="utf-8")


def table_row(name: str) -> str | None:
    return next((line for line in DOC.splitlines() if line.startswith(f"| `{name}` |")), None)


@pytest.mark.parametrize("name", sorted(RuleSettings.model_fields))
def test_every_setting_is_documented_with_its_default_in_both_languages(name):
    row = table_row(name)
    assert row, f"setting {name} is not documented in a table row of docs/alerts.md"
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 4, f"{name}: expected | setting | default | English | 日本語 |"
    default = getattr(DEFAULT, name)
    number = re.match(r"[\d.]+", cells[1])
    assert number and float(number.group()) == pytest.approx(default), (
        f"{name}: default {default} in the docs?"
    )
    assert re.search(r"[A-Za-z]{3}", cells[2]) and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", cells[3])


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_of_condition_is_documented(kind):
    assert table_row(kind.value), f"condition kind {kind} is not in docs/alerts.md"


def test_no_documented_setting_is_unknown():
    documented = set(re.findall(r"^\| `([a-z_]+)` \| [\d.]", DOC, flags=re.MULTILINE))
    assert documented <= set(RuleSettings.model_fields) | set(ApprovalPolicy.model_fields)


def test_the_lifecycle_section_is_written():
    section = DOC.split("## Alert lifecycle and approval / 警報の流れと承認", 1)[1]
    assert "### 承認の決まり / Approval policy" in section


def test_the_station_settings_api_is_documented():
    from dashboard.routers.station_settings import router

    for route in router.routes:
        path = route.path.replace("{station_id}", "{id}")
        for method in route.methods:
            assert f"`{method} {path}`" in DOC, f"{method} {path} is not in docs/alerts.md"
    assert '"alert_status": "Exercise"' in DOC  # how staff start a drill
