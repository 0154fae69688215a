"""Audit reasons in the text catalogue's audit section: every code the engine can write
is in the catalogue (tests/kawamori/test_texts.py checks every language), the console's
API renders it, and the engine's audit entries really carry their codes."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from alerts import actions, store
from alerts.audit_texts import codes, render, say
from alerts.policy import ApprovalPolicy
from kawamori.model import Role
from tests.alerts.alert_factories import STATION, T0, add_staff, sensor, stage

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ("alerts/decision.py", "alerts/lifecycle.py", "alerts/store.py")


def codes_in_source() -> set[str]:
    """Every string literal the engine passes to ``say`` (and the proposal codes it builds)."""
    found: set[str] = set()
    for path in ENGINE:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "say":
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    found.add(first.value)
                else:  # only the proposal codes are built (decision._proposal_code)
                    assert path == "alerts/decision.py", f"{path}:{node.lineno}: say() needs a literal code"
    return found | {f"proposal_{p}" for p in ("raise", "lower", "lift", "verify")}


def test_every_code_the_engine_writes_is_in_the_catalogue():
    used = codes_in_source()
    assert used <= codes(), used - codes()


def test_unused_codes_are_not_kept():
    assert codes() <= codes_in_source()


def test_texts_render_with_terms():
    text, details = say("proposal_raise", level=4, basis="forecast", needed=1, role="operator")
    assert text == "raise to level 4 (forecast); needs 1 person(s) with role operator or above"
    assert details == {"code": "proposal_raise", "params": {"level": 4, "basis": "forecast", "needed": 1,
                                                            "role": "operator"}}  # fmt: skip
    assert render(details["code"], details["params"], "ja") == (
        "警戒レベル4への引き上げを提案（予測）。操作担当以上の1人の承認が必要です"
    )
    assert say("level_fell") == ("the level fell", {"code": "level_fell"})
    with pytest.raises(KeyError):
        say("not-a-code")


def test_a_real_lifecycle_writes_a_known_code_on_every_entry(conn, demo_db):
    policy = ApprovalPolicy()
    op = add_staff(conn, "op", Role.operator)
    store.apply(conn, station_id=STATION, conditions=[stage(2)], now=T0, policy=policy)
    store.apply(conn, station_id=STATION, conditions=[stage(4), sensor()], now=T0 + timedelta(minutes=1),
                policy=policy)  # fmt: skip
    [area] = [v for v in actions.list_alerts(conn) if v.alert.kind.value == "area"]
    actions.approve(conn, alert_id=area.id, actor=op, now=T0 + timedelta(minutes=2))
    store.apply(conn, station_id=STATION, conditions=[stage(2)], now=T0 + timedelta(minutes=3), policy=policy)
    area = actions.get_alert(conn, alert_id=area.id).view
    actions.approve(conn, alert_id=area.id, actor=op, now=T0 + timedelta(minutes=4))
    store.apply(conn, station_id=STATION, conditions=[], now=T0 + timedelta(minutes=5), policy=policy)
    # the policy lifts the level 2 staff left 6 h after the level last went up
    store.apply(conn, station_id=STATION, conditions=[], now=T0 + timedelta(minutes=2) + policy.flap_hold,
                policy=policy)  # fmt: skip
    rows = conn.execute("SELECT action, details FROM alert_audit ORDER BY id").fetchall()
    assert len(rows) >= 8
    for action, details in rows:
        assert details.get("code") in codes(), (action, details)
        render(details["code"], details.get("params"), "ja")  # every placeholder is filled
    written = {d["code"] for _, d in rows}
    expected = {"policy_applied", "proposal_raise", "approved_applied", "proposal_lower", "policy_lifted"}
    assert expected <= written
