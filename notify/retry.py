"""What becomes of a delivery after one attempt: pure decisions, ``now`` passed in.

==============  =============================================================  ===========
outcome         decision                                                       state
==============  =============================================================  ===========
``delivered``   done                                                           delivered
``gone``        done; the subscription is deleted                              gone
``retry``       again after :func:`backoff` (full jitter, capped, never        queued
                sooner than the peer's ``Retry-After``) …
                … unless that is past the delivery's deadline                  expired
``failed``      done: a permanent failure is never retried                     failed
==============  =============================================================  ===========
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from notify.channels.base import Outcome


class State(StrEnum):
    """A delivery's state after an attempt (``deliveries.state``)."""

    queued = "queued"  # to be tried again at ``Decision.next``
    delivered = "delivered"
    failed = "failed"
    gone = "gone"
    expired = "expired"


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 2.0  # the first retry waits up to this, doubling each attempt …
    cap_s: float = 300.0  # … up to this


@dataclass(frozen=True, slots=True)
class Decision:
    state: State
    next: datetime | None = None  # the next attempt, when ``queued``
    done: datetime | None = None  # when the delivery ended, otherwise


def backoff(
    attempt: int,
    *,
    now: datetime,
    deadline: datetime,
    retry_after: float | None = None,
    base_s: float = 2.0,
    cap_s: float = 300.0,
    rand: Callable[[], float] = random.random,
) -> datetime | None:
    """When to try again after failed attempt ``attempt`` (1, 2, …): full jitter,
    uniform in [0, min(cap, base·2^(attempt-1))], never sooner than ``retry_after``.
    ``None`` when that would be past the deadline."""
    delay = rand() * min(cap_s, base_s * 2 ** max(0, attempt - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    when = now + timedelta(seconds=delay)
    return None if when > deadline else when


def decide(
    outcome: Outcome,
    *,
    attempt: int,
    deadline: datetime,
    now: datetime,
    retry_after: float | None = None,
    delays: Backoff = Backoff(),
    rand: Callable[[], float] = random.random,
) -> Decision:
    """The delivery's next state after attempt ``attempt`` ended with ``outcome``."""
    match outcome:
        case Outcome.delivered:
            return Decision(State.delivered, done=now)
        case Outcome.gone:
            return Decision(State.gone, done=now)
        case Outcome.retry:
            after = backoff(
                attempt,
                now=now,
                deadline=deadline,
                retry_after=retry_after,
                base_s=delays.base_s,
                cap_s=delays.cap_s,
                rand=rand,
            )
            if after is None:
                return Decision(State.expired, done=now)
            return Decision(State.queued, next=after)
        case _:
            return Decision(State.failed, done=now)
