"""Evacuation decisions per area (発令地区) as pure decisions: no I/O, ``now`` passed in.

What residents are told is an area's **issued level** — one ``area`` alert per
issuance, from the first level that goes public to its lift (解除) or retraction. The
stations' conditions are its **evidence**: confirmed stages (観測), forecasts (予測),
plausible readings not yet confirmed, and sensor health. The engine never changes an
issued level on its own except where the written policy (:class:`ApprovalPolicy`) says
so; everywhere else it **proposes**, and keeps one open proposal per area, updated in
place while the evidence changes and withdrawn when the evidence goes away before
anyone acted::

    evidence rises above the issued level ──► issue at once (policy: level 1–2)
                                          └──► proposal "raise" ──approve──► issued / raised
    evidence falls below it ──► lower / lift at once (policy: below level 3)
                            └──► proposal "lower" or "lift" ──approve──► lowered / lifted (AllClear)
    the gauges behind it are faulty or silent ──► proposal "verify" (evidence lost)
                                                   ──approve──► lowered / lifted;  decline ──► kept
    a plausible reading above the issued level, not yet confirmed ──► proposal "raise"

:func:`summarise` turns the conditions into :class:`Evidence`, :func:`decide` brings an
area's alert in line with it, and :func:`approve`, :func:`decline` and :func:`cancel`
are staff's decisions (raising :mod:`alerts.errors` when role, revision or state forbid
them). Drills never mix with real evidence: an Exercise station's conditions decide its
own ``area:<id>:Exercise`` issuance, which is never public.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.audit_texts import say
from alerts.errors import Conflict, NotAllowed
from alerts.lifecycle import Action, AuditEntry, Transition, _message, remind, reminder_due
from alerts.model import Alert, AlertState, Approval, Condition, Kind, MsgType, Proposal, Status
from alerts.policy import ApprovalPolicy
from kawamori.model import Actor

# why a proposal was made (the timeline's ``reason``)
OBSERVED, FORECAST, UNVERIFIED, SENSOR_FAULT, NO_DATA = (
    "observed",
    "forecast",
    "unverified",
    "sensor_fault",
    "no_data",
)


def fingerprint(area_id: str, status: Status) -> str:
    """An area's issuance: ``area:<id>``, a drill's ``area:<id>:Exercise``."""
    return f"area:{area_id}" if status is Status.actual else f"area:{area_id}:{status}"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What an area's station conditions support now.

    ``observed``/``forecast``: the highest 警戒レベル of a confirmed stage / a forecast
    at a station whose readings are sound and current; ``unconfirmed``: of a plausible
    reading not yet confirmed; ``lost``: stations whose high water no longer counts
    (``(station, sensor_fault | no_data)``); ``items``: every piece, for people."""

    observed: int = 0
    forecast: int = 0
    unconfirmed: int = 0
    lead: str | None = None  # the station behind the highest level
    lead_stage: str | None = None
    basis: str | None = None  # observed | forecast | unverified
    lost: tuple[tuple[str, str], ...] = ()
    items: tuple[dict[str, Any], ...] = ()
    levels: frozenset[int] = frozenset()  # every level sound, confirmed evidence supports
    lost_level: int = 0  # the highest level the lost evidence last gave
    # each counting forecast's level and its station's dwell: how long the evidence must
    # stay below a level it supported before that level comes down (a confirmed stage
    # has its own hysteresis in the evaluator)
    holds: tuple[tuple[int, float], ...] = ()

    @property
    def supported(self) -> int:
        """The level that sound, confirmed evidence supports."""
        return max(self.observed, self.forecast)

    def details(self) -> dict[str, Any]:
        """The evidence as stored on the alert (JSON), read by the console and messages."""
        lead = next((i for i in self.items if i["station"] == self.lead and i["basis"] == self.basis), None)
        out: dict[str, Any] = {"basis": self.basis, "evidence": list(self.items)}
        if self.lost:
            out["lost"] = [{"station": s, "reason": r} for s, r in self.lost]
        if lead is not None:  # the facts a message states (alerts.store.build_message)
            for key in ("level_m", "observed_at", "rate_m_h", "eta"):
                if lead.get(key) is not None:
                    out[key] = lead[key]
        return out


_ORDER = {OBSERVED: 0, FORECAST: 1, UNVERIFIED: 2}


def summarise(conditions: Iterable[Condition], cited: Iterable[str] = ()) -> Evidence:
    """Summarise the conditions of an area's stations (all of one status). ``cited``:
    the stations whose evidence counted at the last decision — a faulty one among them
    that no longer gives any is lost evidence."""
    by_station: dict[str, dict[Kind, Condition]] = {}
    for condition in conditions:
        by_station.setdefault(condition.station_id, {})[condition.kind] = condition
    cited = frozenset(cited)
    items: list[dict[str, Any]] = []
    lost: list[tuple[str, str]] = []
    best: dict[str, int] = {OBSERVED: 0, FORECAST: 0, UNVERIFIED: 0}
    stale_level = 0
    holds: list[tuple[int, float]] = []
    for station_id in sorted(by_station):
        kinds = by_station[station_id]
        faulty, silent = Kind.sensor in kinds, Kind.offline in kinds
        counted = False
        for kind, basis in ((Kind.stage, OBSERVED), (Kind.forecast, FORECAST), (Kind.unverified, UNVERIFIED)):
            condition = kinds.get(kind)
            if condition is None or not condition.alert_level:
                continue
            # the evaluator confirms stages from sound readings only; a silent gauge's
            # last stage is no evidence now, and an unconfirmed reading must be plausible
            counts = not (silent or condition.stale)
            if kind is Kind.unverified:
                counts = counts and not faulty and bool(condition.details.get("plausible"))
            item = _item(condition, basis, counts)
            if faulty:
                item["suspect"] = True  # some recent readings failed quality control
            items.append(item)
            if counts:
                best[basis] = max(best[basis], condition.alert_level)
                counted = counted or basis != UNVERIFIED
                if kind is Kind.forecast:
                    holds.append((condition.alert_level, float(condition.details.get("hold_s") or 0.0)))
            elif kind is not Kind.unverified:
                stale_level = max(stale_level, condition.alert_level)
        offline = kinds.get(Kind.offline)
        high_and_silent = silent and (
            stale_level > 0
            or bool(offline and (offline.details.get("critical") or offline.details.get("no_data")))
        )
        if (high_and_silent or (station_id in cited and not counted)) and (faulty or silent):
            lost.append((station_id, SENSOR_FAULT if faulty else NO_DATA))
    for station_id, reason in lost:
        items.append({"station": station_id, "basis": reason, "level": None, "counts": False})
    items.sort(key=lambda i: (not i["counts"], -(i["level"] or 0), _ORDER.get(i["basis"], 3), i["station"]))
    supported = max(best[OBSERVED], best[FORECAST])
    lead = next((i for i in items if i["counts"] and i["basis"] != UNVERIFIED), None) if supported else None
    if lead is None and best[UNVERIFIED]:
        lead = next(i for i in items if i["counts"])
    if lead is None and lost:
        lead = next((i for i in items if i["station"] == lost[0][0]), None)
    return Evidence(
        observed=best[OBSERVED],
        forecast=best[FORECAST],
        unconfirmed=best[UNVERIFIED],
        lead=lead["station"] if lead else None,
        lead_stage=lead.get("stage") if lead else None,
        basis=lead["basis"] if lead else None,
        lost=tuple(lost),
        items=tuple(items),
        levels=frozenset(i["level"] for i in items if i["counts"] and i["basis"] != UNVERIFIED),
        lost_level=stale_level if lost else 0,
        holds=tuple(holds),
    )


def _item(condition: Condition, basis: str, counts: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "station": condition.station_id,
        "basis": basis,
        "level": condition.alert_level,
        "stage": condition.stage_key,
        "counts": counts,
    }
    for key in (
        "level_m",
        "observed_at",
        "rate_m_h",
        "eta",
        "hours",
        "threshold_m",
        "stage_ja",
        "stage_en",
        "reason",
        "rise_m_h",
        "points",
    ):
        if condition.details.get(key) is not None:
            item[key] = condition.details[key]
    if condition.stale:
        item["stale"] = True
    return item


# -- what the evidence asks for ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Want:
    proposal: Proposal
    level: int
    reason: str

    @property
    def key(self) -> str:
        return f"{self.proposal}:{self.level}"


def _issued(alert: Alert | None) -> int:
    if alert is None or alert.state is not AlertState.active:
        return 0
    return alert.alert_level or 0


def _wanted(
    issued: int, evidence: Evidence, policy: ApprovalPolicy, *, open_: bool = True, holding: bool = False
) -> tuple[int | None, _Want | None]:
    """What the policy does by itself (a new issued level, or ``None``) and what is left
    to propose to staff, for an area whose issued level is ``issued`` (0: none).
    ``open_``: the area has an open issuance (a level or a proposal) that lost evidence
    must not drop unseen; without one, lost evidence opens nothing. ``holding``: the
    evidence fell below the issued level less than its hold time ago (:func:`_falling`):
    the level stays, and nothing proposes lowering it yet."""
    supported = evidence.supported
    auto: int | None = None
    free = [
        n for n in evidence.levels if n > issued and policy.proposal_needs(Proposal.raise_, n, issued) == 0
    ]
    if free:  # e.g. level 2 information goes out while level 4 waits for a person
        auto = issued = max(free)
    if supported > issued:
        return auto, _Want(Proposal.raise_, supported, evidence.basis or OBSERVED)
    if evidence.unconfirmed > issued and evidence.unconfirmed >= policy.staff_lowers_from:
        # never issued by itself: a person looks first. Only a level staff must also
        # lift: information (level 2) waits for the next reading to confirm it, or a
        # level approved on one reading is lifted by the policy at the next (flapping)
        return auto, _Want(Proposal.raise_, evidence.unconfirmed, UNVERIFIED)
    reasons = {r for _, r in evidence.lost}
    why_lost = SENSOR_FAULT if SENSOR_FAULT in reasons else NO_DATA
    # a gauge fell silent at high water: what is open is never dropped unseen. Only what
    # is open: once staff verified it away (or it ended), the silence itself proposes
    # no level again — that re-issued every level staff had just lifted on a verify
    if open_ and evidence.lost_level > issued:
        return auto, _Want(Proposal.raise_, evidence.lost_level, why_lost)
    if supported < issued and evidence.unconfirmed < issued:
        # (a level staff issued on a plausible unconfirmed reading stands while that
        # reading does: the next reading confirms it or takes it back)
        if evidence.lost:
            return auto, _Want(Proposal.verify, supported, why_lost)
        if holding:
            return auto, None
        down = Proposal.lift if supported == 0 else Proposal.lower
        if policy.proposal_needs(down, supported, issued) == 0:
            return supported, None
        return auto, _Want(down, supported, OBSERVED)
    return auto, None


def _declines(declined: str | None, want: _Want) -> bool:
    """Whether staff already said no to this proposal (a declined raise also covers
    raises to lower levels)."""
    if declined is None:
        return False
    kind, _, level = declined.partition(":")
    if kind == Proposal.raise_ and want.proposal is Proposal.raise_:
        return want.level <= int(level)
    return declined == want.key


# -- the evaluator's decision --------------------------------------------------------------------


def decide(
    alert: Alert | None,
    conditions: Iterable[Condition],
    *,
    area_id: str,
    status: Status,
    policy: ApprovalPolicy,
    now: datetime,
    last_down: datetime | None = None,
) -> Transition:
    """Bring one area's issuance in line with its stations' conditions.

    ``alert`` is the area's open alert, or a closed one whose last proposal staff
    declined (it keeps that proposal from being asked again unchanged), or ``None``.
    ``last_down``: when the area's last issuance ended, if a new one may open (a level
    issued again soon after is held longer: :attr:`ApprovalPolicy.flap_hold`)."""
    cited: list[str] = []
    if alert is not None:
        # the stations behind the level, and those whose evidence was lost: a gauge stays
        # lost (staff keep their "verify") until it reads sound again or staff decide
        cited += [i["station"] for i in alert.details.get("evidence", ()) if i.get("counts")]
        cited += [i["station"] for i in alert.details.get("lost", ())]
    evidence = summarise(conditions, cited)
    if alert is not None and not alert.open:
        auto, want = _wanted(0, evidence, policy, open_=False)
        if auto is None and want is not None and _declines(alert.declined, want):
            return Transition(alert, alert)  # staff said no to this; do not ask again
        lifted = replace(alert, declined=None, suppressed_level=None)
        if auto is None and want is None:
            return Transition(None, None, lifted=lifted)
        down = alert.ended_at if alert.state is AlertState.resolved else last_down  # lifted, not withdrawn
        opened = _open_and_step(evidence, area_id, status, policy, now, declined=alert.declined, down=down)
        return replace(opened, lifted=lifted)
    if alert is None:
        auto, want = _wanted(0, evidence, policy, open_=False)
        if auto is None and want is None:
            return Transition(None, None)
        return _open_and_step(evidence, area_id, status, policy, now, down=last_down)
    return _step(alert, evidence, policy=policy, now=now, opened=False)


def _open_and_step(
    evidence: Evidence,
    area_id: str,
    status: Status,
    policy: ApprovalPolicy,
    now: datetime,
    declined: str | None = None,
    down: datetime | None = None,
) -> Transition:
    new = Alert(
        id=None,
        fingerprint=fingerprint(area_id, status),
        station_id=evidence.lead or "",
        kind=Kind.area,
        status=status,
        state=AlertState.pending,
        public=status is Status.actual,
        alert_level=None,
        stage_key=evidence.lead_stage,
        opened_at=now,
        updated_at=now,
        areas=(area_id,),
        area_id=area_id,
        declined=declined,
        details={} if down is None else {"came_down_at": _iso(down)},
    )
    step = _step(new, evidence, policy=policy, now=now, opened=True)
    return replace(step, before=None)


def _falling(
    alert: Alert, evidence: Evidence, issued: int, policy: ApprovalPolicy, now: datetime
) -> tuple[datetime | None, float, float]:
    """Since when the evidence has been below the issued level (``None``: it is not, or
    it is lost — that asks staff at once), the hold to remember and the hold that
    applies. A level a forecast supported comes down only once the evidence stayed
    below it for the forecasting station's dwell (its stage hysteresis, scaled to its
    cadence: a confirmed stage has that hysteresis already), so a forecast that comes
    and goes does not issue, lift and issue again; a level that came back soon after it
    came down (the river hovers around the threshold for hours) is held for the
    policy's ``flap_hold``. The hold is taken while the evidence supports the level and
    kept as it was while it is below, so no later condition moves a lowering already due."""
    hold = float(alert.details.get("hold_s") or 0.0)
    if not issued or evidence.lost or evidence.supported >= issued or evidence.unconfirmed >= issued:
        return None, hold, hold
    start = datetime.fromisoformat(since) if (since := alert.details.get("below_since")) else now
    applies = hold
    came_down, raised = alert.details.get("came_down_at"), alert.details.get("raised_at")
    if raised is None:
        return start, hold, applies
    went_up = datetime.fromisoformat(raised)
    if came_down and timedelta(0) < went_up - datetime.fromisoformat(came_down) <= policy.flap_hold:
        applies = max(hold, policy.flap_hold.total_seconds())
    if issued < policy.staff_lowers_from:
        # a level the policy lowers by itself stays at least flap_hold after it went up:
        # it would otherwise come down and go up again within one window
        applies = max(applies, (went_up + policy.flap_hold - start).total_seconds())
    return start, hold, applies


def lower_due(alert: Alert) -> datetime | None:
    """When an issued level whose evidence fell below it may come down (for a clock
    that decides only when something changes, as the replay's)."""
    due = alert.details.get("lower_at")
    return datetime.fromisoformat(due) if due else None


def _step(
    alert: Alert, evidence: Evidence, *, policy: ApprovalPolicy, now: datetime, opened: bool
) -> Transition:
    issued = _issued(alert)
    since, hold, applies = _falling(alert, evidence, issued, policy, now)
    holding = since is not None and (now - since).total_seconds() < applies
    auto, want = _wanted(issued, evidence, policy, open_=not opened, holding=holding)
    after = alert
    entries: list[AuditEntry] = []
    message: MsgType | None = None
    facts = {"from_level": issued or None, "basis": evidence.basis, "evidence": _facts(evidence)}
    if opened:
        entries.append(
            AuditEntry(
                Action.opened,
                None,
                AlertState.pending,
                "evidence for a level",
                details={**facts, **say("evidence_opened")[1]},
            )
        )

    if auto is not None and auto != issued:
        after, message, entry = _apply(after, auto, evidence, now, actor=None, reason=_POLICY, code="policy")
        entries.append(replace(entry, details={**facts, **entry.details}))

    if want is not None and _declines(after.declined, want):
        want = None  # staff said no to exactly this; wait for the evidence to move
    elif after.declined is not None:
        after = replace(after, declined=None)

    current = None if after.proposal is None else f"{after.proposal}:{after.pending_level}"
    # one unconfirmed reading and confirmed evidence are different questions for staff:
    # when the reading is taken back (or confirmed), the proposal is a new revision
    rebased = (
        want is not None
        and current == want.key
        and (after.proposal_reason == UNVERIFIED) != (want.reason == UNVERIFIED)
    )
    if want is None and (after.proposal is not None or after.state is AlertState.pending):
        had_proposal = after.proposal is not None
        if had_proposal:
            after = _no_proposal(after, now)
        if after.state is AlertState.pending:  # nothing was ever public: the issuance ends
            after = replace(after, state=AlertState.withdrawn, ended_at=now, notified_at=None)
            if had_proposal:
                why, details = "the evidence went away before anyone acted", say("evidence_withdrawn")[1]
            else:
                why, details = "no evidence for a level", say("no_evidence")[1]
            entries.append(AuditEntry(Action.withdrawn, alert.state, after.state, why, details=details))
        else:
            entries.append(
                AuditEntry(
                    Action.proposal_withdrawn,
                    alert.state,
                    after.state,
                    "the evidence went away before anyone acted",
                    details={**facts, **say("evidence_withdrawn")[1]},
                )
            )
    elif want is not None and (want.key != current or rebased):
        after = replace(
            after,
            proposal=want.proposal,
            pending_level=want.level,
            proposal_reason=want.reason,
            revision=after.revision + 1,
            notified_at=now,
            acknowledged_by=None,
            acknowledged_at=None,
        )
        action = Action.proposed if current is None else Action.proposal_changed
        detail = {**facts, "proposal": str(want.proposal), "level": want.level, "reason": want.reason}
        detail.update(_proposal_code(want, policy, issued))
        entries.append(
            AuditEntry(action, alert.state, after.state, _proposal_text(want, policy, issued), details=detail)
        )
    elif want is not None and want.reason != after.proposal_reason:
        after = replace(after, proposal_reason=want.reason)  # e.g. forecast → observed: same decision

    details = evidence.details()
    details.update({k: after.details[k] for k in _HISTORY if k in after.details})
    if since is None:  # while the evidence supports the level: the longest hold its forecasts asked for
        now_issued = _issued(after)
        if now_issued != issued:
            hold = 0.0  # a new level: its own evidence decides its hold
        hold = max([hold, *(h for level, h in evidence.holds if level >= now_issued)])
    if hold:
        details["hold_s"] = hold
    if (
        since is not None
        and after.state is AlertState.active
        and after.alert_level == issued
        and after.declined is None
    ):
        # kept until the level comes down (not shown once staff declined to lower it)
        details["below_since"] = _iso(since)
        details["lower_at"] = _iso(since + timedelta(seconds=applies))
    if details != after.details or (evidence.lead and evidence.lead != after.station_id):
        after = replace(after, details=details, station_id=evidence.lead or after.station_id)
    if after.stale != bool(evidence.lost):
        after = replace(after, stale=bool(evidence.lost))
    if entries or after != alert:
        after = replace(after, updated_at=now)
    remind_now = any(e.action in (Action.proposed, Action.proposal_changed) for e in entries)
    if not remind_now and after.open and reminder_due(after, policy=policy, now=now):
        reminded = remind(after, policy=policy, now=now)
        after, entries, remind_now = reminded.after, entries + list(reminded.audit), True
    return Transition(alert, after, tuple(entries), message, remind=remind_now)


_POLICY = "the written policy issues this level without approval"


def _unheld(details: dict[str, Any]) -> dict[str, Any]:
    """An issuance's details without a hold in progress (its level changed or ended)."""
    return {k: v for k, v in details.items() if k not in ("below_since", "lower_at")}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


# what an issuance remembers from step to step besides its evidence: when its level
# (or the area's last issuance) last came down, and when it last went up
_HISTORY = ("came_down_at", "raised_at")


def _facts(evidence: Evidence) -> list[dict[str, Any]]:
    return [
        {k: i[k] for k in ("station", "basis", "level", "level_m", "eta") if i.get(k) is not None}
        for i in evidence.items
        if i["counts"] or i["basis"] in (SENSOR_FAULT, NO_DATA)
    ]


def _proposal_text(want: _Want, policy: ApprovalPolicy, issued: int) -> str:
    n = policy.proposal_needs(want.proposal, want.level, issued)
    who = f"{'one person' if n == 1 else f'{n} different people'} with role "
    who += str(policy.proposal_role(want.proposal, want.level, issued))
    what = {
        Proposal.raise_: f"raise to level {want.level}",
        Proposal.lower: f"lower to level {want.level}",
        Proposal.lift: "lift the issued level (all clear)",
        Proposal.verify: "the evidence for the issued level is lost: verify",
    }[want.proposal]
    return f"{what} ({want.reason}); needs {who} or above"


def _proposal_code(want: _Want, policy: ApprovalPolicy, issued: int) -> dict[str, Any]:
    """The catalogue code of a proposal (alerts.audit_texts) and its figures."""
    params: dict[str, Any] = {
        "basis": want.reason,
        "needed": policy.proposal_needs(want.proposal, want.level, issued),
        "role": str(policy.proposal_role(want.proposal, want.level, issued)),
    }
    if want.proposal is not Proposal.lift:
        params["level"] = want.level
    code = f"proposal_{'raise' if want.proposal is Proposal.raise_ else want.proposal}"
    return say(code, **params)[1]


def _no_proposal(alert: Alert, now: datetime) -> Alert:
    return replace(
        alert,
        proposal=None,
        pending_level=None,
        proposal_reason=None,
        revision=alert.revision + 1,
        notified_at=None,
    )


def _apply(
    alert: Alert,
    level: int,
    evidence: Evidence | None,
    now: datetime,
    *,
    actor: int | None,
    reason: str,
    code: str = "approved",
) -> tuple[Alert, MsgType | None, AuditEntry]:
    """Change the issued level to ``level`` (0: lift) and count the message it sends.
    ``code``: ``policy`` (the written policy) or ``approved`` (staff's approval)."""
    issued = _issued(alert)
    stage = evidence.lead_stage if evidence is not None else _stage_for(alert.details, level)
    details: dict[str, Any] = {"from_level": issued or None, "level": level or None}
    if code == "policy":
        details.update(say("policy_lifted")[1] if level == 0 else say("policy_applied", level=level)[1])
    else:
        details.update(say("approved_applied")[1])
    if level == 0:
        after = replace(
            _no_proposal(alert, now), state=AlertState.resolved, ended_at=now, details=_unheld(alert.details)
        )
        after, message = _message(after, MsgType.update)
        return after, message, AuditEntry(Action.lifted, alert.state, after.state, reason, actor, details)
    # a new level: how long the evidence stayed below the old one no longer matters
    kept = _unheld(alert.details)
    kept["raised_at" if level > issued else "came_down_at"] = _iso(now)
    changed = replace(
        alert, alert_level=level, stage_key=stage, acknowledged_by=None, acknowledged_at=None, details=kept
    )
    if alert.state is AlertState.pending:
        after, message = _message(replace(changed, state=AlertState.active), MsgType.alert)
        return after, message, AuditEntry(Action.issued, alert.state, after.state, reason, actor, details)
    after, message = _message(changed, MsgType.update)
    action = Action.raised if level > issued else Action.lowered
    return after, message, AuditEntry(action, alert.state, after.state, reason, actor, details)


def _stage_for(details: dict[str, Any], level: int) -> str | None:
    """The stage of the evidence behind ``level`` in an alert's stored evidence."""
    for item in details.get("evidence", ()):
        if item.get("counts") and item.get("level") == level and item.get("stage"):
            return item["stage"]
    return None


# -- staff decisions -----------------------------------------------------------------------------


def _require(alert: Alert, actor: Actor, revision: int | None, what: str) -> tuple[Proposal, int, int]:
    if alert.kind is not Kind.area:
        raise Conflict(f"alert {alert.id} is a staff notice; there is nothing to {what}")
    if not alert.open or alert.proposal is None or alert.pending_level is None:
        raise Conflict(f"alert {alert.id} has no open proposal to {what} (it was withdrawn or decided)")
    if revision is not None and revision != alert.revision:
        raise Conflict(
            f"the proposal changed since you saw it: now {alert.proposal} to level {alert.pending_level}"
            f" ({alert.proposal_reason}); look again and confirm"
        )
    return alert.proposal, alert.pending_level, _issued(alert)


def approve(
    alert: Alert,
    actor: Actor,
    *,
    policy: ApprovalPolicy,
    now: datetime,
    revision: int | None = None,
    reason: str = "",
) -> Transition:
    """``actor`` approves the area's open proposal (of ``revision``, the one they saw).
    When the approvals it needs are complete it takes effect at once."""
    proposal, level, issued = _require(alert, actor, revision, "approve")
    role = policy.proposal_role(proposal, level, issued)
    if not actor.role.at_least(role):
        raise NotAllowed(f"approving this needs role {role} or above; {actor.username} is {actor.role}")
    if any(
        a.user_id == actor.id and a.revision == alert.revision and a.level == level for a in alert.approvals
    ):
        raise NotAllowed(f"{actor.username} has already approved this; a second person must")
    approval = Approval(level=level, user_id=actor.id, approved_at=now, revision=alert.revision)
    approvals = (*alert.approvals, approval)
    needed = policy.proposal_needs(proposal, level, issued)
    left = policy.proposal_left(proposal, level, issued, alert.revision, approvals)
    facts = {"proposal": str(proposal), "level": level, "approvals": needed - left, "needed": needed}
    entries = [
        AuditEntry(
            Action.approved, alert.state, alert.state, reason.strip(), actor.id,
            {**facts, **say("staff_approved")[1]},
        )
    ]  # fmt: skip
    after = replace(alert, approvals=approvals, updated_at=now)
    message = None
    if left == 0:
        after, message, entry = _apply(after, level, None, now, actor=actor.id, reason="approved")
        after = _no_proposal(after, now) if after.open else replace(after, revision=after.revision + 1)
        entries.append(entry)
    return Transition(alert, after, tuple(entries), message, approval=approval, remind=left > 0)


def decline(
    alert: Alert,
    actor: Actor,
    *,
    policy: ApprovalPolicy,
    now: datetime,
    reason: str,
    revision: int | None = None,
) -> Transition:
    """``actor`` says no to the open proposal (a reason is required): the issued level
    stays as it is, and the same proposal is not made again until the evidence moves.
    A first proposal declined ends the issuance with nothing public."""
    proposal, level, issued = _require(alert, actor, revision, "decline")
    role = policy.proposal_role(proposal, level, issued)
    if not actor.role.at_least(role):
        raise NotAllowed(f"declining this needs role {role} or above; {actor.username} is {actor.role}")
    why = reason.strip()
    if not why:
        raise NotAllowed("a reason is required to decline a proposal")
    key = f"{proposal}:{level}"
    after = replace(_no_proposal(alert, now), declined=key, updated_at=now)
    if alert.state is AlertState.pending:
        after = replace(after, state=AlertState.withdrawn, ended_at=now)
    facts = {"proposal": str(proposal), "level": level, **say("staff_declined")[1]}
    return Transition(
        alert, after, (AuditEntry(Action.declined, alert.state, after.state, why, actor.id, facts),)
    )


def cancel(alert: Alert, actor: Actor, *, policy: ApprovalPolicy, now: datetime, reason: str) -> Transition:
    """Retract a mistaken issuance (the role that may approve its level; a reason is
    required). If anything was public, a Cancel referencing every earlier version goes
    out; the same evidence does not propose it again until it rises above."""
    if not alert.open:
        raise Conflict(f"alert {alert.id} is {alert.state}; it cannot be cancelled")
    level = max(_issued(alert), alert.pending_level or 0)
    role = policy.role_needed(level)
    if not actor.role.at_least(role):
        raise NotAllowed(
            f"cancelling level {level} needs role {role} or above; {actor.username} is {actor.role}"
        )
    why = reason.strip()
    if not why:
        raise NotAllowed("a reason is required to cancel an alert")
    after = replace(
        _no_proposal(alert, now),
        state=AlertState.cancelled,
        ended_at=now,
        declined=f"{Proposal.raise_}:{level}",
        details=_unheld(alert.details),
    )
    message = None
    if alert.version >= 1:
        after, message = _message(after, MsgType.cancel)
    details = {"level": level, **say("staff_cancelled")[1]}
    entry = AuditEntry(Action.cancelled, alert.state, after.state, why, actor.id, details)
    return Transition(alert, after, (entry,), message, note=why)
