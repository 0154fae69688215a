"""Pure decisions about check-ins and rescue requests (no I/O, ``now`` passed in):
which triage steps are allowed, how a request from a busy source is admitted, what a
phone number is, whether a place is inside the city, and what retention removes."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rescue.errors import BadTransition, InvalidReport, OutsideCity
from shelters.geocheck import Extent  # the city's box, as the shelter import checks places


class State(StrEnum):
    received = "received"
    confirmed = "confirmed"
    assigned = "assigned"
    resolved = "resolved"
    cancelled = "cancelled"

    @property
    def open(self) -> bool:
        return self in OPEN


OPEN = frozenset({State.received, State.confirmed, State.assigned})

# staff's steps: forward through the queue, back one step when a team is released, or
# cancelled (a duplicate, a hoax); a closed request is reopened as received
STAFF_STEPS: dict[State, frozenset[State]] = {
    State.received: frozenset({State.confirmed, State.assigned, State.resolved, State.cancelled}),
    State.confirmed: frozenset({State.assigned, State.resolved, State.cancelled, State.received}),
    State.assigned: frozenset({State.resolved, State.cancelled, State.confirmed}),
    State.resolved: frozenset({State.received}),
    State.cancelled: frozenset({State.received}),
}

NEEDS = ("elderly", "wheelchair", "medical", "infant", "pregnant", "pet", "disability", "language")


def step(current: State, target: State, *, team: str | None) -> str | None:
    """The team a request has after staff move it from ``current`` to ``target``; raises
    :class:`BadTransition` for a step that is not allowed (or ``assigned`` without a team)."""
    if target not in STAFF_STEPS[current]:
        raise BadTransition(f"a {current} request cannot be marked {target}")
    if target is State.assigned:
        team = (team or "").strip()
        if not team:
            raise BadTransition("name the team the request is assigned to", code="no_team")
        return team[:64]
    return None


class Admission(StrEnum):
    accept = "accept"
    flag = "flag"  # taken, and marked for staff: many requests from one source
    refuse = "refuse"


@dataclass(frozen=True, slots=True)
class Limits:
    """Per source (a phone, a LINE user, an address, a network address) and hour. A
    repeat from the same household never counts: it is merged into its open request."""

    free: int = 3
    flagged: int = 30
    window: timedelta = timedelta(hours=1)


def admit(recent: int, *, limits: Limits = Limits()) -> Admission:
    """How a new request is taken when its busiest source sent ``recent`` new requests
    within the window. Above ``free`` a request is still stored, only flagged for staff
    (a shared phone or an evacuation centre's network may really send many); only far
    above it is refused, with the phone numbers to call."""
    if recent < limits.free:
        return Admission.accept
    if recent < limits.flagged:
        return Admission.flag
    return Admission.refuse


def normalise_phone(text: str | None) -> str | None:
    """A phone number as digits (full-width and hyphens allowed; ``+81`` kept as
    ``+81``), or ``None`` when empty; :class:`InvalidReport` when it is not a number."""
    if text is None:
        return None
    plain = unicodedata.normalize("NFKC", text).strip()
    if not plain:
        return None
    digits = re.sub(r"[\s\-().‐−ー]", "", plain)
    if not re.fullmatch(r"\+?\d{6,15}", digits):
        raise InvalidReport("the phone number has to be 6 to 15 digits", code="bad_phone")
    return digits


def normalise_address(text: str | None) -> str | None:
    if text is None:
        return None
    plain = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()
    return plain or None


def check_place(
    point: tuple[float, float] | None, address: str | None, *, extent: Extent | None
) -> tuple[float, float] | None:
    """A rescue request needs a place: a point inside the city, or an address."""
    if point is None and not address:
        raise InvalidReport("give a place: a tap on the map, your location or an address", code="no_place")
    if point is not None and extent is not None and not extent.covers(*point):
        raise OutsideCity("this place is outside the city; call 119 (fire and rescue) directly")
    return point


def check_contact(phone: str | None, line_user: str | None) -> None:
    if not phone and not line_user:
        raise InvalidReport(
            "give a phone number so rescuers can call you back; if you cannot, call 119",
            code="no_contact",
        )


def purge_before(now: datetime, *, retention: timedelta) -> datetime:
    """Closed requests and check-ins older than this are deleted."""
    return now - retention
