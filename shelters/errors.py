"""The shelters package's exceptions, one tree::

    ShelterError                     anything this package refuses
    ├── ImportFailed                 a registry file is unusable (or, with --strict, has a
    │                                bad row); nothing was imported (``problems``: why)
    ├── UnknownShelter               no shelter with that id
    ├── UnassignedCounter            a door counter that is not assigned to a shelter
    ├── InvalidEvent                 a count or status event is malformed (negative count,
    │                                zero delta, unknown status, time out of range …)
    ├── ConflictingEvent             an event id was reused for a different event
    └── AccessDenied                 wrong access code, expired session or bad CSRF token
        └── Throttled                too many wrong codes from one client: wait ``retry_after``

Row problems are not exceptions: the importer returns them (:class:`Problem`, an
error or a warning) and imports every good row.

Third-party errors (CSV, JSON, UnicodeDecodeError, psycopg) are translated at the
boundary into one of these; callers never need to catch anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ShelterError(Exception):
    """Base of every error raised by the shelters package."""


ERROR, WARNING = "error", "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a registry file: where (1-based line or feature number; 0 = the
    file), which column, what (a ``code`` of the text catalogue, with its ``params``) and
    how bad: an ``error`` skips the row, a ``warning`` imports it as described."""

    line: int
    column: str
    code: str
    params: dict = field(default_factory=dict, compare=False, hash=False)
    severity: str = ERROR

    @property
    def error(self) -> bool:
        return self.severity == ERROR

    def message(self, language: str = "en") -> str:
        from kawamori.texts import say

        return say(f"shelters.problems.{self.code}", language, column=self.column, **self.params)

    def render(self, language: str = "en", *, unit: str = "line") -> str:
        from kawamori.texts import say

        where = (
            say(f"shelters.report.{unit}", language, line=self.line)
            if self.line
            else say("shelters.report.file", language)
        )
        column = f"{self.column}: " if self.column else ""
        return f"{where}: {column}{self.message(language)}"

    def __str__(self) -> str:
        return self.render()


class ImportFailed(ShelterError):
    """The file cannot be read at all (or, with ``--strict``, some row is bad)."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        lines = [f"{head}{len(problems)} problem(s); nothing was imported"]
        lines += [f"  {p}" for p in problems[:20]]
        if len(problems) > 20:
            lines.append(f"  … and {len(problems) - 20} more")
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
