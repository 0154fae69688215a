"""The rescue package's exceptions::

    RescueError
     ├── InvalidReport        a report that cannot be taken as it is (422): no place, no
     │    │                   contact, an unknown shelter
     │    └── OutsideCity     a place outside the municipality
     ├── Contradiction        a report that contradicts the household's open rescue
     │                        request (409): cancel the request first
     ├── TooMany              one source sent far too many requests in an hour (429)
     ├── UnknownRequest       no request for this id or token (404)
     ├── BadTransition        a triage step that the request's state does not allow (409)
     └── NotPermitted         a staff member without the rescue permission (403)

Each carries a stable ``code`` the pages translate.
"""

from __future__ import annotations


class RescueError(Exception):
    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class InvalidReport(RescueError):
    code = "invalid"


class OutsideCity(InvalidReport):
    code = "outside"


class Contradiction(RescueError):
    code = "open_rescue"


class TooMany(RescueError):
    code = "too_many"


class UnknownRequest(RescueError):
    code = "unknown"


class BadTransition(RescueError):
    code = "bad_transition"


class NotPermitted(RescueError):
    code = "not_permitted"
