"""The delivery worker: fans out the alert outbox, then claims due deliveries and sends
them through the channels' notifiers, recording every attempt. It is a composition of
stages, each in its own module::

    journal.replay_orphans (once, at start: what killed workers had sent)
    fanout.FanOutLoop ──► queue.claim (lease; supersede) ──► compose (open, render)
    ──► dispatch (HTTP sender / e-mail pool) ──► journal (file) ──► retry.decide (pure)
    ──► queue.record (log + delivery state) ──┐
        ▲      queue.extend: the lease of     │
        │      what is in flight              │
        └─────────────────────────────────────┘

One loop in one thread owns the queue's database connection; sends finish on the
dispatcher's threads and come back to it to be recorded. A channel is topped up to
twice its concurrency whenever its sends in flight have fallen to it; a channel found
empty is asked again after ``recheck_s`` or a wake-up. An idle worker waits on
``LISTEN kawamori_alerts`` / ``kawamori_deliveries`` (fan-out notifies at commit),
polling every ``poll_s`` as a fallback. While its journal is full it claims nothing
until what is in flight is recorded.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import psycopg
import structlog

from kawamori.clock import DEFAULT_ZONE
from notify import pending
from notify.channels.base import Notifier, Result
from notify.compose import Composer, Directory
from notify.dispatch import PROVIDERS, Dispatcher
from notify.fanout import DEFAULT_DEADLINE, FanOutLoop, fan_out_pending
from notify.journal import Journal, attempt, replay_orphans
from notify.queue import Attempt, Job, Queue
from notify.retry import Backoff, State, decide

log = structlog.get_logger(__name__)

DEFAULT_CONCURRENCY = {"webpush": 32, "line": 16, "email": 8, "gateway": 16}


@dataclass(frozen=True)
class Policy:
    lease: timedelta = timedelta(seconds=30)
    deadline: timedelta = DEFAULT_DEADLINE
    concurrency: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CONCURRENCY))
    base_delay_s: float = 2.0  # the first retry waits up to this, doubling each attempt …
    max_delay_s: float = 300.0  # … up to this
    poll_s: float = 1.0  # idle: look for work this often, or at once when NOTIFY says there is some
    flush_s: float = 0.02  # how long finished sends may wait to be recorded together
    recheck_s: float = 0.25  # a channel with nothing due is asked again after this (or a wake-up)
    housekeeping_s: float = 60.0  # expired subscribe requests (double opt-in) are deleted this often


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Fans out and delivers until ``stop`` is set (or, with ``until_idle``, until no
    queued work is left for its channels)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        notifiers: Mapping[str, Notifier],
        directory: Directory,
        policy: Policy = Policy(),
        name: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        shelters: Callable[[psycopg.Connection], Any] | None = None,
        fan_out: bool = True,
        connect: Callable[[], psycopg.Connection] | None = None,
        journal_dir: Path | None = None,
        zone: tzinfo = DEFAULT_ZONE,
    ) -> None:
        """``zone``: the city's time zone, for the times in the messages. ``connect`` opens
        a second connection on which a thread of its own fans out (production: the loop goes
        on sending the first wave while the rest of a large fan-out is inserted); without it
        the loop fans out between claims."""
        self.name = name or worker_name()
        self.policy = policy
        self.clock = clock
        self.queue = Queue(conn, holder=self.name)
        self.composer = Composer(directory, shelters=shelters, zone=zone)
        self._journal_dir = journal_dir
        self.journal = Journal(journal_dir, self.name) if journal_dir is not None else None
        self.dispatcher = Dispatcher(
            {c: notifiers[p] for c, p in PROVIDERS.items() if p in notifiers},
            caps=policy.concurrency,
            compose=self.composer.delivery,
            journal=self.journal,
        )
        self.fan_out = fan_out
        self._fan_out_loop = (
            FanOutLoop(connect, clock=clock, deadline=policy.deadline, poll_s=policy.poll_s, worker=self.name)
            if fan_out and connect is not None
            else None
        )
        self._empty_until: dict[str, float] = {}  # channel → when to look for its work again
        self.stats = {"delivered": 0, "retry": 0, "failed": 0, "gone": 0, "expired": 0, "superseded": 0}

    @property
    def notifiers(self) -> Mapping[str, Notifier]:
        """The subscription channels this worker sends on, and their notifiers."""
        return self.dispatcher.notifiers

    # --- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, *, until_idle: bool = False) -> dict[str, int]:
        stop = stop or threading.Event()
        last_beat = time.monotonic()
        last_fanout = 0.0
        last_housekeeping = 0.0
        self._replay()
        inline_fan_out = self.fan_out and self._fan_out_loop is None
        if self._fan_out_loop is not None:
            self._fan_out_loop.start(stop)
        try:
            while not stop.is_set():
                if self._fan_out_loop is not None:
                    self._fan_out_loop.check()
                if time.monotonic() - last_housekeeping >= self.policy.housekeeping_s:
                    self._housekeeping()
                    last_housekeeping = time.monotonic()
                if inline_fan_out and time.monotonic() - last_fanout >= self.policy.poll_s:
                    if fan_out_pending(
                        self.queue.conn, now=self.clock(), deadline=self.policy.deadline, worker=self.name
                    ):
                        self._empty_until.clear()
                    last_fanout = time.monotonic()
                claimed = self._claim_all()
                if self.dispatcher:
                    self._record(self.dispatcher.finished(self.policy.flush_s))
                    if not self.dispatcher and self.journal is not None:
                        self.journal.empty()  # all of it is in the database now
                    if time.monotonic() - last_beat >= self.policy.lease.total_seconds() / 3:
                        self.queue.extend(self.dispatcher.ids(), lease_until=self.clock() + self.policy.lease)
                        last_beat = time.monotonic()
                elif not claimed:
                    if until_idle and not self.queue.pending(self.notifiers):
                        break
                    self.queue.wait(stop, self.policy.poll_s)
                    self._empty_until.clear()
                    last_fanout = 0.0
        finally:
            if self._fan_out_loop is not None:
                self._fan_out_loop.stop()
            while self.dispatcher:  # a clean stop: record what is in flight
                self._record(self.dispatcher.finished(1.0))
        return dict(self.stats)

    def _housekeeping(self) -> None:
        """Keep the confirmation e-mail's promise: a subscribe request nobody confirmed is
        gone after 48 hours even when nobody subscribes meanwhile."""
        purged = pending.purge(self.queue.conn, now=self.clock())
        if purged:
            log.info("deliver.requests_purged", count=purged)

    def close(self) -> None:
        self.dispatcher.close()
        if self.journal is not None and not self.dispatcher:
            self.journal.close()

    # --- claim ----------------------------------------------------------------------------

    def _claim_all(self) -> int:
        """Top up every channel whose sends in flight have fallen to its concurrency (to
        twice that), in one statement; a channel found empty is asked again only after a
        wake-up or ``recheck_s``."""
        if self.journal is not None and self.journal.full:
            return 0  # until what is in flight is recorded and the journal emptied
        now_m = time.monotonic()
        caps, count = self.dispatcher.caps, self.dispatcher.count
        wanted = {
            channel: 2 * caps[channel] - count[channel]
            for channel in self.notifiers
            if count[channel] <= caps[channel] and self._empty_until.get(channel, 0.0) <= now_m
        }
        if not wanted:
            return 0
        jobs = self.claim(wanted)
        got = dict.fromkeys(wanted, 0)
        for job in jobs:
            got[job.channel] += 1
        for channel, limit in wanted.items():
            if got[channel] < limit:  # nothing more is due on it now
                self._empty_until[channel] = now_m + self.policy.recheck_s
        if jobs:
            self.composer.prepare(jobs, self.queue)
        for job in jobs:
            self.dispatcher.submit(job)
        return len(jobs)

    def claim(self, wanted: Mapping[str, int]) -> list[Job]:
        """Claim up to ``wanted[channel]`` due deliveries of each channel."""
        now = self.clock()
        claim = self.queue.claim(wanted, now=now, lease_until=now + self.policy.lease)
        if claim.superseded:
            self.stats["superseded"] += claim.superseded
            log.info("deliver.superseded", count=claim.superseded)
        return claim.jobs

    # --- record ---------------------------------------------------------------------------

    def _record(self, finished: list[tuple[Job, Result]], *, holder: str | None = None) -> int:
        """Decide and record finished attempts of deliveries claimed by ``holder`` (this
        worker, or a killed one whose journal is replayed); returns how many of them
        ``holder`` still held."""
        if not finished:
            return 0
        now = self.clock()
        delays = Backoff(self.policy.base_delay_s, self.policy.max_delay_s)
        attempts = []
        for job, result in finished:
            decision = decide(
                result.outcome,
                attempt=job.attempt,
                deadline=job.deadline,
                now=now,
                retry_after=result.retry_after,
                delays=delays,
            )
            attempts.append(Attempt(job, result, decision))
            self.stats["retry" if decision.state is State.queued else str(decision.state)] += 1
            if decision.state is State.expired:
                log.warning("deliver.expired", delivery=job.id, channel=job.channel, attempts=job.attempt)
            elif decision.state is State.failed:
                log.warning(
                    "deliver.failed",
                    delivery=job.id,
                    channel=job.channel,
                    status=result.status,
                    detail=result.detail,
                )
        kept = self.queue.record(attempts, now=now, holder=holder)
        gone = sum(1 for a in attempts if a.decision.state is State.gone)
        if gone:
            log.info("deliver.subscriptions_removed", count=gone)
        if holder is None and kept < len(attempts):
            log.warning("deliver.lease_lost", count=len(attempts) - kept)
        return kept

    def _replay(self) -> None:
        """Record what workers killed on this machine had sent but not recorded."""
        if self._journal_dir is None:
            return
        for holder, entries in replay_orphans(self._journal_dir):
            kept = self._record([attempt(e) for e in entries], holder=holder)
            # the rest had been recorded already (or claimed anew after their lease ran out)
            log.info("deliver.replayed", worker=holder, attempts=len(entries), recorded=kept)
