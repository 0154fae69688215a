from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from alerts.model import Approval, Kind
from alerts.policy import ApprovalPolicy
from kawamori.model import Role
from tests.alerts.alert_factories import T0

POLICY = ApprovalPolicy()


@pytest.mark.parametrize(
    ("kind", "level", "needed", "role"),
    [
        (Kind.stage, None, 0, Role.operator),
        (Kind.stage, 1, 0, Role.operator),
        (Kind.stage, 2, 0, Role.operator),
        (Kind.stage, 3, 1, Role.operator),
        (Kind.forecast, 4, 1, Role.operator),
        (Kind.stage, 5, 2, Role.approver),
        (Kind.sensor, 5, 0, Role.approver),  # staff-only kinds never need approval
        (Kind.offline, None, 0, Role.operator),
        (Kind.unverified, 5, 0, Role.approver),
    ],
)
def test_defaults(kind, level, needed, role):
    assert POLICY.approvals_needed(kind, level) == needed
    assert POLICY.role_needed(level) is role
    assert POLICY.remind_every == timedelta(minutes=5)


def approval(level, user):
    return Approval(level=level, user_id=user, approved_at=T0)


def test_approvals_are_counted_by_distinct_people_and_cover_lower_levels():
    assert not POLICY.approved(Kind.stage, 5, [approval(5, 1), approval(5, 1)])
    assert POLICY.approved(Kind.stage, 5, [approval(5, 1), approval(5, 2)])
    assert not POLICY.approved(Kind.stage, 5, [approval(4, 1), approval(5, 2)])
    assert POLICY.approved(Kind.stage, 4, [approval(5, 2)])  # approving 5 covers 4
    assert not POLICY.approved(Kind.stage, 4, [approval(3, 2)])
    assert POLICY.still_needed(Kind.stage, 5, [approval(5, 7)]) == 1


def test_configurable():
    everything_automatic = ApprovalPolicy(approval_from_level=6, two_person_level=6)
    assert everything_automatic.approvals_needed(Kind.stage, 5) == 0
    strict = ApprovalPolicy(approval_from_level=2, two_person_level=4, two_person_role=Role.admin)
    assert strict.approvals_needed(Kind.stage, 2) == 1
    assert strict.approvals_needed(Kind.stage, 4) == 2
    assert strict.role_needed(4) is Role.admin
    assert ApprovalPolicy.model_validate({"remind_every": "PT2M"}).remind_every == timedelta(minutes=2)


@pytest.mark.parametrize(
    "bad",
    [{"approver_role": "viewer"}, {"approval_from_level": 0}, {"remind_every": "PT0S"}, {"unknown": 1}],
)
def test_refuses_nonsense(bad):
    with pytest.raises(ValidationError):
        ApprovalPolicy.model_validate(bad)


def test_every_setting_and_state_is_documented():
    from pathlib import Path

    from alerts.model import AlertState

    doc = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text("utf-8")
    for name in ApprovalPolicy.model_fields:
        assert f"`{name}`" in doc, f"{name} is not in docs/alerts.md"
    for state in AlertState:
        assert f"`{state}`" in doc
    for role in Role:
        assert f"`{role}`" in doc


def test_a_policy_file_is_read_and_explained_when_wrong(tmp_path):
    from alerts.policy import PolicyError, load_policy

    good = tmp_path / "policy.yaml"
    good.write_text("two_person_level: 4\nstaff_lowers_from: 2\n", encoding="utf-8")
    assert load_policy(good) == ApprovalPolicy(two_person_level=4, staff_lowers_from=2)
    bad = tmp_path / "bad.yaml"
    for text, why in [
        ("staff_lowers_from: 4\n", "staff_lowers_from"),  # lowering ≥ 3 is always staff's
        ("approver_role: viewer\n", "viewer"),
        ("- a list\n", "setting: value"),
        ("approval_from_level: [\n", "bad.yaml"),
    ]:
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(PolicyError, match=why):
            load_policy(bad)
    with pytest.raises(PolicyError, match=r"missing\.yaml"):
        load_policy(tmp_path / "missing.yaml")
