"""Waiting for a dependency (the database, the broker) instead of exiting.

Every long-running service starts in any order with the others and survives their
restarts: it calls :func:`until_ready` for what it needs at start-up, which retries with
capped backoff until the dependency answers or the service is asked to stop. The first
failure is reported loudly, later ones quietly, and the recovery once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


class StopWaiting(Exception):
    """The service was asked to stop while it was waiting for a dependency."""


def until_ready(
    attempt: Callable[[], T],
    *,
    what: str,
    errors: tuple[type[BaseException], ...],
    stopping: threading.Event | None = None,
    first_delay_s: float = 0.5,
    max_delay_s: float = 5.0,
) -> T:
    """Call ``attempt`` until it returns without one of ``errors``; wait between tries
    (``first_delay_s`` doubling up to ``max_delay_s``). Raises :class:`StopWaiting` if
    ``stopping`` is set meanwhile."""
    stopping = stopping or threading.Event()
    delay = first_delay_s
    failures = 0
    started = time.monotonic()
    while True:
        if stopping.is_set():
            raise StopWaiting(what)
        try:
            result = attempt()
        except errors as error:
            failures += 1
            report = log.warning if failures == 1 else log.info
            report("waiting.unavailable", dependency=what, error=str(error).strip()[:200], retry_in_s=delay)
            if stopping.wait(delay):
                raise StopWaiting(what) from None
            delay = min(delay * 2, max_delay_s)
            continue
        if failures:
            log.warning("waiting.available", dependency=what, waited_s=round(time.monotonic() - started, 1))
        return result
