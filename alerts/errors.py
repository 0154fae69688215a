"""Errors of the alert lifecycle and the staff actions on alerts.

::

    AlertError                 anything the alert lifecycle refuses
    ├── NotFound               no alert with that id
    ├── NotAllowed             the role or the approval policy forbids it: a viewer
    │                          approving, the same person approving twice, a missing
    │                          reason, an exercise made public
    └── Conflict               the alert's state does not allow the action (already
                               ended, nothing awaiting approval, …)

Database errors are not translated: they mean the store is broken, not that a
staff member asked for something the rules forbid.
"""

from __future__ import annotations


class AlertError(Exception):
    """Base of every error the alert lifecycle raises."""


class NotFound(AlertError):
    pass


class NotAllowed(AlertError):
    pass


class Conflict(AlertError):
    pass
