"""The shelters package's exceptions, one tree::

    ShelterError                     anything this package refuses
    ├── ImportFailed                 a registry file is unusable; nothing was imported
    │                                (``problems`` lists every bad row with its line number)
    ├── UnknownShelter               no shelter with that id
    ├── UnassignedCounter            a door counter that is not assigned to a shelter
    ├── InvalidEvent                 a count or status event is malformed (negative count,
    │                                zero delta, unknown status, time out of range …)
    ├── ConflictingEvent             an event id was reused for a different event
    └── AccessDenied                 wrong access code, expired session or bad CSRF token
        └── Throttled                too many wrong codes from one client: wait ``retry_after``

Third-party errors (CSV, JSON, UnicodeDecodeError, psycopg) are translated at the
boundary into one of these; callers never need to catch anything else.
"""

from __future__ import annotations

from dataclasses import dataclass


class ShelterError(Exception):
    """Base of every error raised by the shelters package."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad row of a registry file: where (1-based line or feature number) and why."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class ImportFailed(ShelterError):
    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        head = f"{source}: " if source else ""
        lines = [f"{head}{len(problems)} problem(s); nothing was imported"]
        lines += [f"  {p}" for p in problems[:200]]
        if len(problems) > 200:
            lines.append(f"  … and {len(problems) - 200} more")
        super().__init__("\n".join(lines))


class UnknownShelter(ShelterError):
    def __init__(self, shelter_id: str) -> None:
        self.shelter_id = shelter_id
        super().__init__(f"unknown shelter: {shelter_id}")


class UnassignedCounter(ShelterError):
    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        super().__init__(f"device {device_id} is not a door counter of any shelter")


class InvalidEvent(ShelterError):
    pass


class ConflictingEvent(ShelterError):
    pass


class AccessDenied(ShelterError):
    pass


class Throttled(AccessDenied):
    """Too many wrong access codes from one client: ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many wrong codes; try again in {retry_after} seconds")
        self.retry_after = retry_after
