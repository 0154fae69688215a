"""The one injectable source of ``now`` for the services on the reading → alert path
(ingest's receive time, the alert evaluator), so accelerated or manual time runs the
same code as real time. The default everywhere is :class:`RealClock`; the simulator's
clocks (:mod:`simulator.clock`) implement the same protocol.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

# the city's time zone when nothing says otherwise (KAWAMORI_TIME_ZONE, Settings.zone): times
# shown to people, and times written without an offset in the files a city imports
DEFAULT_ZONE = ZoneInfo("Asia/Tokyo")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds (simulated, for simulated clocks) from an arbitrary origin; never decreases."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))


REAL = RealClock()
