"""Growing delays after failed sign-ins, shared by staff passwords and shelter access
codes. A pure rule with ``now`` passed in; the callers count the failures.

The first ``free`` failures within the window cost nothing; after that each new try
must wait ``base`` seconds after the last failure, doubling with every further failure,
up to ``cap``. A person who mistypes a few times never notices; a guesser from one
place gets about a dozen tries an hour instead of thousands. Nothing here is a lockout:
the delay ends by itself, and a failure is only counted when a try was allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Rule:
    free: int
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=15)

    def wait(self, failures: int, last: datetime | None, *, now: datetime) -> int:
        """Seconds until the next try is allowed (0: now)."""
        if last is None or failures < self.free:
            return 0
        steps = min(failures - self.free, 20)
        delay = min(self.base * (2**steps), self.cap)
        left = (last + delay - now).total_seconds()
        return max(0, int(left + 0.999))
