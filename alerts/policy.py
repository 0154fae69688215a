"""Who must approve an alert before it reaches residents (configurable).

Defaults follow Japanese practice: evacuation information is a human decision.

* 警戒レベル 1–2 (informational) go out automatically;
* 警戒レベル 3 and above (``approval_from_level``) need one approval by an operator
  or above (``approver_role``);
* the highest level 5 (``two_person_level``) needs two approvals by two different
  people with role approver or above (``two_person_role``);
* staff-only kinds (unverified, sensor, offline) never need approval and never
  produce outbox messages;
* staff are reminded of an approval still awaited every ``remind_every``;
* **lowering or lifting** an area's issued level from ``staff_lowers_from`` (3) up is
  always a proposal to staff (one approval by the role that may approve the issued
  level); below it the written policy lowers and lifts by itself. The setting can only
  be made stricter (1–3): no configuration lets the engine lift an evacuation level;
* a proposal to **verify** lost evidence (a faulty or silent gauge) is always for staff;
* a level a forecast supported comes down only once the evidence stayed below it for
  the forecasting station's dwell, and any level only after ``flap_hold`` (6 h) when it
  came back less than that after it last came down: a river hovering at a threshold
  reverses the area's level once, not every hour. A level the policy issued by itself
  (below ``staff_lowers_from``) is not lowered by it until ``flap_hold`` after it went
  up, so it does not go up, down and up again within one window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alerts.model import PUBLIC_KINDS, Approval, Kind, Proposal
from kawamori.model import Role


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    approval_from_level: int = Field(default=3, ge=1, le=6, description="6: nothing needs approval")
    approver_role: Role = Role.operator
    two_person_level: int = Field(default=5, ge=1, le=6, description="6: no level needs two approvers")
    two_person_role: Role = Role.approver
    remind_every: timedelta = Field(default=timedelta(minutes=5), gt=timedelta(0))
    staff_lowers_from: int = Field(
        default=3, ge=1, le=3, description="lowering or lifting an issued level from this up needs staff"
    )
    flap_hold: timedelta = Field(
        default=timedelta(hours=6),
        ge=timedelta(0),
        description="a level issued again less than this after the area's level came down is held "
        "this long below before it comes down again, and a level the policy issued by itself is not "
        "lowered by it until this long after it went up (a hovering river: one reversal, not many)",
    )

    @model_validator(mode="after")
    def _roles(self) -> ApprovalPolicy:
        if self.approver_role is Role.viewer or self.two_person_role is Role.viewer:
            raise ValueError("a viewer can never approve")
        return self

    def approvals_needed(self, kind: Kind, level: int | None) -> int:
        """How many distinct people must approve an alert of this kind at this level."""
        if kind not in PUBLIC_KINDS or level is None or level < self.approval_from_level:
            return 0
        return 2 if level >= self.two_person_level else 1

    def role_needed(self, level: int | None) -> Role:
        """The least role that may approve (or reject) this level."""
        if level is not None and level >= self.two_person_level:
            return self.two_person_role
        return self.approver_role

    def approved(self, kind: Kind, level: int | None, approvals: Iterable[Approval]) -> bool:
        """Whether the approvals given so far cover this level (an approval at a level
        covers the lower ones)."""
        needed = self.approvals_needed(kind, level)
        if needed == 0:
            return True
        people = {a.user_id for a in approvals if a.level >= (level or 0)}
        return len(people) >= needed

    def still_needed(self, kind: Kind, level: int | None, approvals: Iterable[Approval]) -> int:
        needed = self.approvals_needed(kind, level)
        people = {a.user_id for a in approvals if a.level >= (level or 0)}
        return max(0, needed - len(people))

    # -- area proposals (alerts.decision) --------------------------------------------------

    def proposal_needs(self, proposal: Proposal, level: int, issued: int) -> int:
        """How many distinct people must approve an area proposal: raising to ``level``
        as for any alert of that level; lowering or lifting from an ``issued`` level
        one person from ``staff_lowers_from`` up (nobody below); verifying always one."""
        if proposal is Proposal.raise_:
            return self.approvals_needed(Kind.area, level)
        if proposal is Proposal.verify:
            return 1
        return 1 if issued >= self.staff_lowers_from else 0

    def proposal_role(self, proposal: Proposal, level: int, issued: int) -> Role:
        """The least role that may approve or decline an area proposal."""
        return self.role_needed(level if proposal is Proposal.raise_ else max(level, issued))

    def proposal_left(
        self, proposal: Proposal, level: int, issued: int, revision: int, approvals: Iterable[Approval]
    ) -> int:
        """Approvals still missing for the proposal's current ``revision``."""
        people = {a.user_id for a in approvals if a.revision == revision and a.level == level}
        return max(0, self.proposal_needs(proposal, level, issued) - len(people))


class PolicyError(ValueError):
    """A municipality's approval policy file is not valid (the message says why)."""


def configured_policy(path: Path | None) -> ApprovalPolicy:
    """The municipality's approval policy (``KAWAMORI_ALERT_POLICY``'s file), or the
    defaults when none is set."""
    return load_policy(path) if path else ApprovalPolicy()


def load_policy(path: Path) -> ApprovalPolicy:
    """The municipality's approval policy from a YAML file of ``setting: value`` lines
    (what differs from the defaults; docs/alerts.md). The evaluator and the dashboard
    read the same file (``KAWAMORI_ALERT_POLICY``), so staff and the engine agree."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise PolicyError(f"{path}: {error}") from None
    if not isinstance(document, dict):
        raise PolicyError(f"{path}: expected lines of setting: value")
    try:
        return ApprovalPolicy.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'policy'}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{path}: invalid approval policy: {problems}") from None
