"""Head counts as events, never overwrites. Pure functions.

Every tap on a staff tablet and every door-counter message is one :class:`CountEvent`
with an id chosen by its sender (a UUID), so sending it twice changes nothing. A
shelter's occupancy is the *fold* of its events in time order: ``set`` replaces the
count (staff counted heads), ``delta`` adds to it. Several tablets at one shelter
therefore never lose each other's updates: each +1 is its own event.

A count never goes below zero: a −1 at 0 leaves 0 (a door counter switched on after
people came in sees more leave than enter). Setting a negative count is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from kawamori.model import ShelterStatus
from shelters.errors import InvalidEvent

MAX_DELTA = 1000
MAX_COUNT = 100_000
MAX_AGE = timedelta(days=7)
MAX_FUTURE = timedelta(minutes=10)


class Kind(StrEnum):
    delta = "delta"
    set = "set"


class Source(StrEnum):
    staff = "staff"
    door_counter = "door_counter"
    official = "official"  # a published head count (「1月1日21時時点」), loaded with its time


@dataclass(frozen=True, slots=True)
class CountEvent:
    id: uuid.UUID
    kind: Kind
    value: int
    recorded_at: datetime
    source: Source = Source.staff
    entered_by: str | None = None
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class StatusEvent:
    id: uuid.UUID
    status: ShelterStatus
    recorded_at: datetime
    entered_by: str | None = None
    origin: str | None = None
    source: str = "staff"  # or "cli" (bulk open / close by an operator)


def _event_id(value: object) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidEvent(f"event id {value!r} is not a UUID") from None


def checked_time(recorded_at: datetime, now: datetime) -> datetime:
    """The event's own time, refused when unusable: naive, more than 10 minutes ahead of
    the server, or older than 7 days. Times slightly ahead are taken as ``now``."""
    if recorded_at.tzinfo is None:
        raise InvalidEvent("recorded_at needs a time zone (e.g. 2026-09-01T10:00:00Z)")
    if recorded_at > now + MAX_FUTURE:
        raise InvalidEvent(f"recorded_at {recorded_at.isoformat()} is ahead of the server clock")
    if recorded_at < now - MAX_AGE:
        raise InvalidEvent(f"recorded_at {recorded_at.isoformat()} is more than 7 days old")
    return min(recorded_at, now)


def official_time(recorded_at: datetime, now: datetime) -> datetime:
    """The time of an official figure: any age is accepted (a snapshot of the 9th loaded
    on the 20th keeps its time); it still needs a time zone and must not be ahead."""
    if recorded_at.tzinfo is None:
        raise InvalidEvent("recorded_at needs a time zone (e.g. 2026-09-01T10:00:00+09:00)")
    if recorded_at > now + MAX_FUTURE:
        raise InvalidEvent(f"recorded_at {recorded_at.isoformat()} is ahead of the server clock")
    return min(recorded_at, now)


def official_count(
    *, shelter_id: str, count: int, recorded_at: datetime, now: datetime, entered_by: str, origin: str
) -> CountEvent:
    """An official head count (``set``), whatever its age. Its id is derived from the
    shelter and the time, so loading the same snapshot twice stores it once."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
        raise InvalidEvent(f"a head count is a whole number from 0 to {MAX_COUNT} (got {count!r})")
    at = official_time(recorded_at, now)
    return CountEvent(
        id=uuid.uuid5(_OFFICIAL, f"{shelter_id}|{at.isoformat()}"),
        kind=Kind.set,
        value=count,
        recorded_at=at,
        source=Source.official,
        entered_by=entered_by,
        origin=origin,
    )


_OFFICIAL = uuid.UUID("6f1c0f5e-4b8e-5d2a-9a57-2c0ffee17a17")


def count_event(
    *, id: object, kind: str, value: int, recorded_at: datetime, now: datetime, source: str = "staff"
) -> CountEvent:
    """A validated count event; raises :class:`InvalidEvent` with a clear message."""
    try:
        kind_ = Kind(kind)
    except ValueError:
        raise InvalidEvent(f"kind must be 'delta' or 'set', not {kind!r}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(f"value must be a whole number, not {value!r}")
    if kind_ is Kind.set and not 0 <= value <= MAX_COUNT:
        raise InvalidEvent(
            f"a head count cannot be negative (got {value})"
            if value < 0
            else f"a head count above {MAX_COUNT} is not plausible (got {value})"
        )
    if kind_ is Kind.delta and not (value != 0 and abs(value) <= MAX_DELTA):
        raise InvalidEvent(f"a change must be non-zero and at most ±{MAX_DELTA} (got {value})")
    return CountEvent(
        id=_event_id(id),
        kind=kind_,
        value=value,
        recorded_at=checked_time(recorded_at, now),
        source=Source(source),
    )


def status_event(*, id: object, status: str, recorded_at: datetime, now: datetime) -> StatusEvent:
    try:
        status_ = ShelterStatus(status)
    except ValueError:
        raise InvalidEvent(f"status must be preparing, open or closed, not {status!r}") from None
    return StatusEvent(id=_event_id(id), status=status_, recorded_at=checked_time(recorded_at, now))


def order_key(event: CountEvent) -> tuple[datetime, str]:
    return (event.recorded_at, str(event.id))


def step(count: int, kind: Kind, value: int) -> int:
    """One event applied to a count (never below zero)."""
    return value if kind is Kind.set else max(0, count + value)


def fold(events: Iterable[CountEvent], start: int = 0) -> int:
    """The count after ``events`` (in any order: they are sorted by time, then id)."""
    count = start
    for event in sorted(events, key=order_key):
        count = step(count, event.kind, event.value)
    return count


def from_last_set(events: Iterable[CountEvent]) -> list[CountEvent]:
    """The events that decide the current count: the latest ``set`` and everything after it."""
    ordered = sorted(events, key=order_key)
    for index in range(len(ordered) - 1, -1, -1):
        if ordered[index].kind is Kind.set:
            return ordered[index:]
    return ordered


def timeline(events: Iterable[CountEvent]) -> list[tuple[datetime, int]]:
    """The count after each event, in time order: the occupancy history."""
    count, points = 0, []
    for event in sorted(events, key=order_key):
        count = step(count, event.kind, event.value)
        points.append((event.recorded_at, count))
    return points


def bucketed(
    points: list[tuple[datetime, int]], *, since: datetime, until: datetime, bucket: timedelta
) -> list[dict]:
    """Occupancy per time bucket in ``[since, until)`` from a timeline: the count at
    the end of each bucket and the peak within it (aggregates only; no personal data
    exists to begin with)."""
    if bucket <= timedelta(0):
        raise ValueError("bucket must be positive")
    count = 0
    index = 0
    while index < len(points) and points[index][0] < since:
        count = points[index][1]
        index += 1
    out: list[dict] = []
    start = since
    while start < until:
        end = start + bucket
        peak = count
        while index < len(points) and points[index][0] < end:
            count = points[index][1]
            peak = max(peak, count)
            index += 1
        out.append({"start": start, "count": count, "peak": peak})
        start = end
    return out
