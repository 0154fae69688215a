"""The delivery worker: fans out the alert outbox, then claims due deliveries and sends
them through the channels' notifiers, recording every attempt.

One loop in one thread owns the database connection. It opens each claimed delivery's
address, renders it and, for the HTTP channels (Web Push, LINE, gateways), hands the
request to one sender thread that keeps every request in flight at once over kept-alive
connections (:class:`notify.channels.http.Sender`, libcurl's multi interface); e-mail is
sent from a bounded thread pool, one SMTP session per thread::

    replay journals of killed workers (once, at start)
    fan out ──► claim (FOR UPDATE SKIP LOCKED, lease) ──► supersede ──► send (HTTP
    sender / e-mail pool) ──► journal (file) ──► record (log + delivery state) ──┐
        ▲                heartbeat: extend the lease of what is in flight        │
        └────────────────────────────────────────────────────────────────────────┘

* **Claim**: due ``queued`` rows whose lease is unset or expired, for every channel
  whose sends in flight have fallen to its concurrency, in one statement (up to twice
  the concurrency); a channel found empty is asked again after ``recheck_s`` or a
  wake-up. The claim sets ``claimed_by``,
  ``lease_until`` and counts the attempt, and commits at once (no lock is held while
  sending). A worker that is killed stops extending its leases; when they run out,
  another worker claims the rows again (at least once).
* **Supersede**: a claimed row for which a newer version of the same alert is queued
  for the same subscription is not sent (state ``superseded``); Web Push's ``Topic``
  does the same on the push service.
* **Retry**: ``retry`` outcomes (timeouts, 5xx, 429) come back after a full-jitter
  exponential back-off (:func:`backoff`), never sooner than the peer's ``Retry-After``,
  until the delivery's deadline (then ``expired``). ``failed`` (other 4xx) is final at
  once; ``gone`` deletes the subscription (its deliveries and log go with it).
* **Journal**: the sending thread appends each answer to this worker's journal file
  (:mod:`notify.journal`) the moment it arrives; a worker starting on the same machine
  first records what killed workers had journaled, so their answered sends are not
  sent again (only those still unanswered when the kill came are).
* **Record**: the attempts' log rows and the deliveries' new states are written by one
  statement per batch (atomic; with the deletion of "gone" subscriptions, one
  transaction), the state only while this worker still holds the row at that attempt.
  The session commits asynchronously: a commit lost in a database crash only means a
  delivery is sent again, which at-least-once allows.
* **Wake-up**: an idle worker waits on ``LISTEN kawamori_alerts`` / ``kawamori_deliveries``
  (fan-out notifies at commit), polling every ``poll_s`` as a fallback.

Deliveries and log rows hold ids only; addresses are opened in memory just before
sending (:class:`Directory`) and never logged.
"""

from __future__ import annotations

import json
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
import structlog

from alerts.message import AlertMessage
from kawamori.db import ALERTS_CHANNEL
from kawamori.model import Hazard
from notify import pending
from notify.channels.base import Delivery, HttpNotifier, Notifier, Outcome, Recipient, Result
from notify.channels.http import Response, Sender, TransportError
from notify.errors import NotifyError
from notify.fanout import DEFAULT_DEADLINE, DELIVERIES_CHANNEL, fan_out_pending
from notify.journal import Journal, replay_orphans
from notify.render import Channel, RenderedMessage, Shelter, render, shelters_from

log = structlog.get_logger(__name__)

# subscription channel → the notifiers' provider name
PROVIDERS = {"webpush": "webpush", "line": "line", "email": "email", "gateway": "webhook"}
DEFAULT_CONCURRENCY = {"webpush": 32, "line": 16, "email": 8, "gateway": 16}


class Directory(Protocol):
    """Opens a subscription's sealed address just before sending, and makes its links."""

    def recipient(
        self, channel: str, sealed: bytes, subscription_id: uuid.UUID
    ) -> tuple[Recipient, Channel]: ...

    def unsubscribe_url(self, subscription_id: uuid.UUID) -> str: ...

    def resident_url(self) -> str | None: ...


class SealedDirectory:
    """The production :class:`Directory`: addresses sealed with the subscriber key
    (:mod:`notify.subscriptions`)."""

    def __init__(self, key, base_url: str) -> None:
        self._key = key
        self.base_url = base_url.rstrip("/")

    def recipient(self, channel: str, sealed: bytes, subscription_id: uuid.UUID) -> tuple[Recipient, Channel]:
        from notify import subscriptions

        recipient = subscriptions.recipient(channel, self._key.open(sealed, subscription_id=subscription_id))
        if channel == "gateway":
            return recipient, subscriptions.gateway_channel(recipient)
        return recipient, Channel(channel)

    def unsubscribe_url(self, subscription_id: uuid.UUID) -> str:
        from notify import subscriptions

        return subscriptions.unsubscribe_url(self.base_url, key=self._key, subscription_id=subscription_id)

    def resident_url(self) -> str | None:
        return f"{self.base_url}/r/"


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


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    outbox_id: int
    subscription_id: uuid.UUID
    alert_id: int
    version: int
    channel: str
    attempt: int
    deadline: datetime
    language: str
    sealed: bytes
    cell: tuple[float, float] | None

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.channel}, attempt {self.attempt})"


_CLAIM = """
WITH want AS (
    SELECT key AS channel, value::int AS n FROM json_each_text(%(want)s::json)
), due AS MATERIALIZED (
    SELECT d.* FROM want, LATERAL (
        SELECT id, alert_id, subscription_id, version FROM deliveries
        WHERE state = 'queued' AND channel = want.channel AND not_before <= %(now)s
          AND (lease_until IS NULL OR lease_until < %(now)s)
        ORDER BY not_before, id
        LIMIT want.n
        FOR UPDATE SKIP LOCKED
    ) d
), claim AS MATERIALIZED (  -- once per row (inlined, each CASE below would run it again)
    SELECT due.id, s.id IS NULL AS orphan, s.language, s.address_sealed, s.cell_lat, s.cell_lon,
           EXISTS (SELECT 1 FROM deliveries n
                   WHERE n.alert_id = due.alert_id AND n.subscription_id = due.subscription_id
                     AND n.version > due.version) AS superseded
    FROM due LEFT JOIN subscriptions s ON s.id = due.subscription_id
), orphans AS (  -- fanned out as its subscription was deleted: nobody to send to
    DELETE FROM deliveries o USING claim WHERE o.id = claim.id AND claim.orphan
)
UPDATE deliveries d
SET claimed_by = CASE WHEN claim.superseded THEN NULL ELSE %(me)s END,
    lease_until = CASE WHEN claim.superseded THEN NULL ELSE %(lease)s::timestamptz END,
    attempts = d.attempts + CASE WHEN claim.superseded THEN 0 ELSE 1 END,
    state = CASE WHEN claim.superseded THEN 'superseded' ELSE 'queued' END,
    done_at = CASE WHEN claim.superseded THEN %(now)s::timestamptz END
FROM claim
WHERE d.id = claim.id AND NOT claim.orphan
RETURNING d.id, d.outbox_id, d.subscription_id, d.alert_id, d.version, d.channel, d.attempts,
          d.deadline, claim.language, claim.address_sealed, claim.cell_lat, claim.cell_lon, claim.superseded
"""

# one statement: every attempt's log row and its delivery's new state, the latter only
# while this worker still holds the row. The rows come as one JSON array (psycopg dumps
# thirteen Python lists element by element: that cost the worker more CPU than sending)
_RECORD = """
WITH v AS (
    SELECT * FROM json_to_recordset(%(rows)s::json)
        AS v(id bigint, alert_id bigint, version int, subscription_id uuid, channel text, attempt int,
             outcome text, status int, provider_id text, detail text, state text, next timestamptz,
             done timestamptz)
), logged AS (
    INSERT INTO notification_log (delivery_id, alert_id, version, subscription_id, channel, attempt, outcome,
                                  status, provider_id, detail, at)
    SELECT id, alert_id, version, subscription_id, channel, attempt, outcome, status, provider_id, detail,
           %(at)s FROM v
    ON CONFLICT (delivery_id, attempt) DO NOTHING
)
UPDATE deliveries d
SET state = v.state, not_before = coalesce(v.next, d.not_before), done_at = v.done,
    claimed_by = NULL, lease_until = NULL
FROM v
WHERE d.id = v.id AND d.claimed_by = %(me)s AND d.attempts = v.attempt AND d.state = 'queued'
RETURNING d.id
"""


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
    ) -> None:
        """``connect`` opens a second connection on which a thread of its own fans out
        (production: the loop goes on sending the first wave while the rest of a large
        fan-out is inserted); without it the loop fans out between claims."""
        self.conn = conn
        # a commit lost in a database crash only means a delivery is sent again (at least
        # once), so this session does not wait for its commits to reach the disk
        conn.execute("SET synchronous_commit = off")
        # this session's statements each touch a few dozen queue rows by key; prepared once,
        # their generic plans guessed a large claim and hash-joined the whole deliveries and
        # subscriptions tables on every claim (8 ms of PostgreSQL per notification at
        # 100,000): nested loops over the indexes only (fan-out turns them back on for itself)
        conn.execute("SET enable_hashjoin = off")
        conn.execute("SET enable_mergejoin = off")
        # … and those guessed-large plans crossed jit_above_cost: 18 ms of JIT compilation
        # for a claim that runs in 1 ms
        conn.execute("SET jit = off")
        conn.execute(f"LISTEN {ALERTS_CHANNEL}")
        conn.execute(f"LISTEN {DELIVERIES_CHANNEL}")
        self.name = name or worker_name()
        self._journal_dir = journal_dir
        self._journal = Journal(journal_dir, self.name) if journal_dir is not None else None
        self.policy = policy
        self.directory = directory
        self.clock = clock
        self.fan_out = fan_out
        self._fan_out_loop = FanOutLoop(connect, self) if fan_out and connect is not None else None
        self._shelters = shelters
        # subscription channels this worker can send on
        self.notifiers = {c: notifiers[p] for c, p in PROVIDERS.items() if p in notifiers}
        # HTTP channels: every request in flight on one thread (libcurl's multi interface);
        # the others (e-mail) in a bounded thread pool each
        self._http = {c: n for c, n in self.notifiers.items() if isinstance(n, HttpNotifier)}
        self._sender = Sender(limits={c: self._cap(c) for c in self._http}) if self._http else None
        self._pools = {
            c: ThreadPoolExecutor(max_workers=self._cap(c), thread_name_prefix=f"send-{c}")
            for c in self.notifiers
            if c not in self._http
        }
        self._inflight: dict[Future, Job] = {}
        self._done: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self._count = {c: 0 for c in self.notifiers}
        self._empty_until: dict[str, float] = {}  # channel → when to look for its work again
        self._messages: dict[int, AlertMessage] = {}
        self._shelter_cache: dict[tuple[int, tuple[float, float] | None], tuple[Shelter, ...]] = {}
        self._rendered: dict[tuple, tuple[RenderedMessage, str]] = {}
        self._lock = threading.Lock()
        self.stats = {"delivered": 0, "retry": 0, "failed": 0, "gone": 0, "expired": 0, "superseded": 0}

    def _cap(self, channel: str) -> int:
        return max(1, self.policy.concurrency.get(channel, 8))

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
                        self.conn, now=self.clock(), deadline=self.policy.deadline, worker=self.name
                    ):
                        self._empty_until.clear()
                    last_fanout = time.monotonic()
                claimed = self._claim_all()
                if self._inflight:
                    self._record(self._finished(self.policy.flush_s))
                    if not self._inflight and self._journal is not None:
                        self._journal.empty()  # all of it is in the database now
                    if time.monotonic() - last_beat >= self.policy.lease.total_seconds() / 3:
                        self._heartbeat()
                        last_beat = time.monotonic()
                elif not claimed:
                    if until_idle and not self._queued():
                        break
                    self._sleep(stop)
                    self._empty_until.clear()
                    last_fanout = 0.0
        finally:
            if self._fan_out_loop is not None:
                self._fan_out_loop.stop()
            self._drain()
        return dict(self.stats)

    def _housekeeping(self) -> None:
        """Keep the confirmation e-mail's promise: a subscribe request nobody confirmed is
        gone after 48 hours even when nobody subscribes meanwhile."""
        purged = pending.purge(self.conn, now=self.clock())
        if purged:
            log.info("deliver.requests_purged", count=purged)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        if self._sender is not None:
            self._sender.close()
        if self._journal is not None and not self._inflight:
            self._journal.close()
        for notifier in self.notifiers.values():
            if hasattr(notifier, "close"):
                notifier.close()

    def _sleep(self, stop: threading.Event) -> None:
        """Idle: wait for a NOTIFY (a new alert message, new deliveries) or ``poll_s``."""
        deadline = time.monotonic() + self.policy.poll_s
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if any(True for _ in self.conn.notifies(timeout=min(left, 0.5), stop_after=1)):
                return

    def _finished(self, timeout: float) -> list[Future]:
        """Sends finished so far, waiting up to ``timeout`` for the first one."""
        try:
            done = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:  # with whatever else has finished meanwhile: one statement for many
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                return done

    def _drain(self) -> None:
        """On a clean stop: record what is in flight."""
        while self._inflight:
            self._record(self._finished(1.0))

    def _queued(self) -> bool:
        row = self.conn.execute(
            """SELECT EXISTS (SELECT 1 FROM deliveries WHERE state = 'queued' AND channel = ANY(%s))
                   OR EXISTS (SELECT 1 FROM alert_outbox WHERE done_at IS NULL)""",
            (list(self.notifiers),),
        ).fetchone()
        self.conn.commit()
        return bool(row and row[0])

    # --- claim ----------------------------------------------------------------------------

    def _claim_all(self) -> int:
        """Top up every channel whose sends in flight have fallen to its concurrency (to
        twice that), in one statement; a channel found empty is asked again only after a
        wake-up or ``recheck_s``."""
        if self._journal is not None and self._journal.full:
            return 0  # until what is in flight is recorded and the journal emptied
        now_m = time.monotonic()
        wanted = {
            channel: 2 * self._cap(channel) - self._count[channel]
            for channel in self.notifiers
            if self._count[channel] <= self._cap(channel) and self._empty_until.get(channel, 0.0) <= now_m
        }
        if not wanted:
            return 0
        jobs = self.claim(wanted)
        got = {channel: 0 for channel in wanted}
        for job in jobs:
            got[job.channel] += 1
        for channel, limit in wanted.items():
            if got[channel] < limit:  # nothing more is due on it now
                self._empty_until[channel] = now_m + self.policy.recheck_s
        if jobs:
            self._prepare_messages(jobs)
        for job in jobs:
            if job.channel in self._http:
                future: Future[Result] = Future()
                self._post(job, self._http[job.channel], future)
            else:
                future = self._pools[job.channel].submit(self._send, job)
            self._inflight[future] = job
            future.add_done_callback(self._done.put)
            self._count[job.channel] += 1
        return len(jobs)

    def claim(self, wanted: Mapping[str, int]) -> list[Job]:
        """Claim up to ``wanted[channel]`` due deliveries of each channel."""
        now = self.clock()
        rows = self.conn.execute(
            _CLAIM,
            {
                "want": json.dumps(wanted),
                "now": now,
                "me": self.name,
                "lease": now + self.policy.lease,
            },
        ).fetchall()
        superseded = sum(1 for r in rows if r[12])
        if superseded:
            self.stats["superseded"] += superseded
            log.info("deliver.superseded", count=superseded)
        return [
            Job(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bytes(r[9]),
                (r[10], r[11]) if r[10] is not None and r[11] is not None else None)
            for r in rows
            if not r[12]
        ]  # fmt: skip

    def _prepare_messages(self, jobs: list[Job]) -> None:
        """Load new outbox payloads, and the nearest shelters once per (message, cell)."""
        missing = sorted({j.outbox_id for j in jobs} - self._messages.keys())
        if missing:
            rows = self.conn.execute(
                "SELECT id, payload FROM alert_outbox WHERE id = ANY(%s)", (missing,)
            ).fetchall()
            for outbox_id, payload in rows:
                self._messages[outbox_id] = AlertMessage.model_validate_json(json.dumps(payload))
        new = {(j.outbox_id, j.cell) for j in jobs} - self._shelter_cache.keys()
        index = self._shelter_index() if any(cell is not None for _, cell in new) else None
        for outbox_id, cell in new:
            message = self._messages[outbox_id]
            found: tuple[Shelter, ...] = ()
            if index is not None and cell is not None and not message.ended:
                found = shelters_from(
                    index.recommend(latitude=cell[0], longitude=cell[1], hazard=Hazard.flood)
                )
            self._shelter_cache[(outbox_id, cell)] = found

    def _shelter_index(self):
        """The shelters' spatial index (rebuilt by it only when shelters change), or
        ``None``: a message without shelters beats no message."""
        if self._shelters is None:
            return None
        try:
            return self._shelters(self.conn)
        except Exception as error:
            log.warning("deliver.shelters_unavailable", error=type(error).__name__)
            return None

    # --- send -----------------------------------------------------------------------------

    def _send(self, job: Job) -> Result:
        """Send one delivery and wait for the answer (a sending thread of a pool)."""
        try:
            result = self.notifiers[job.channel].send(self._delivery(job))
        except Exception as error:
            result = _unsendable(job, error)
        return self._journaled(job, result)

    def _post(self, job: Job, notifier: HttpNotifier, future: Future[Result]) -> None:
        """Start one HTTP delivery; ``future`` gets its result when the answer comes."""
        try:
            request = notifier.prepare(self._delivery(job))
        except Exception as error:
            request = _unsendable(job, error)
        if isinstance(request, Result):  # nothing to send
            future.set_result(self._journaled(job, request))
            return

        def answered(answer: Response | TransportError) -> None:  # in the sender's thread
            try:
                if isinstance(answer, TransportError):
                    result = notifier.failure(answer)
                else:
                    result = notifier.answer(answer)
            except Exception as error:
                result = _unsendable(job, error)
            future.set_result(self._journaled(job, result))

        assert self._sender is not None
        self._sender.submit(request, answered, timeout=notifier.timeout, lane=job.channel)

    def _delivery(self, job: Job) -> Delivery:
        recipient, channel = self.directory.recipient(job.channel, job.sealed, job.subscription_id)
        return Delivery(str(job.id), self._render(job, channel), recipient)

    def _journaled(self, job: Job, result: Result) -> Result:
        if self._journal is not None:  # at once, in the thread with the answer: survives a kill from here on
            self._journal.write(_entry(job, result))
        return result

    def _render(self, job: Job, channel: Channel) -> RenderedMessage:
        """Rendered once per (message, language, channel, shelters, link length); the
        subscription's own unsubscribe link is put in afterwards."""
        url = self.directory.unsubscribe_url(job.subscription_id)
        shelters = self._shelter_cache.get((job.outbox_id, job.cell), ())
        key = (job.outbox_id, job.language, channel, shelters, len(url))
        cached = self._rendered.get(key)
        if cached is None:
            placeholder = ("kawamori-unsubscribe-" + "x" * len(url))[: len(url)]
            rendered = render(
                self._messages[job.outbox_id],
                language=job.language,
                channel=channel,
                shelters=shelters,
                resident_url=self.directory.resident_url(),
                unsubscribe_url=placeholder,
            )
            cached = self._rendered.setdefault(key, (rendered, placeholder))
        rendered, placeholder = cached
        return replace(
            rendered,
            body=rendered.body.replace(placeholder, url),
            short_text=rendered.short_text.replace(placeholder, url),
            speech_text=rendered.speech_text.replace(placeholder, url),
            unsubscribe_url=url,
        )

    # --- record ---------------------------------------------------------------------------

    def _record(self, futures: list[Future]) -> None:
        if not futures:
            return
        jobs, results = [], []
        for future in futures:
            job = self._inflight.pop(future)
            self._count[job.channel] -= 1
            jobs.append(job)
            results.append(future.result())
        kept = self._write(jobs, results, holder=self.name)
        if kept < len(jobs):
            log.warning("deliver.lease_lost", count=len(jobs) - kept)

    def _replay(self) -> None:
        """Record what workers killed on this machine had sent but not recorded."""
        if self._journal_dir is None:
            return
        for holder, entries in replay_orphans(self._journal_dir):
            pairs = [_from_entry(e) for e in entries]
            kept = self._write([j for j, _ in pairs], [r for _, r in pairs], holder=holder)
            # the rest had been recorded already (or claimed anew after their lease ran out)
            log.info("deliver.replayed", worker=holder, attempts=len(pairs), recorded=kept)

    def _write(self, jobs: list[Job], results: list[Result], *, holder: str) -> int:
        """Record attempts of deliveries claimed by ``holder`` (this worker, or a killed one
        whose journal is replayed); returns how many deliveries ``holder`` still held."""
        now = self.clock()
        decided = [self._decide(job, result, now) for job, result in zip(jobs, results, strict=True)]
        states = [state for state, _, _ in decided]
        gone = [job.subscription_id for job, state in zip(jobs, states, strict=True) if state == "gone"]
        rows = [
            {"id": j.id, "alert_id": j.alert_id, "version": j.version,
             "subscription_id": str(j.subscription_id), "channel": j.channel, "attempt": j.attempt,
             "outcome": str(r.outcome), "status": r.status,
             "provider_id": r.provider_id, "detail": r.detail, "state": state,
             "next": after.isoformat() if after else None, "done": done.isoformat() if done else None}
            for j, r, (state, after, done) in zip(jobs, results, decided, strict=True)
        ]  # fmt: skip
        params = {"rows": json.dumps(rows), "at": now, "me": holder}
        if gone:  # one transaction: the attempt is recorded and the subscription deleted together
            with self.conn.transaction():
                kept = self.conn.execute(_RECORD, params).fetchall()
                # deleting the subscription deletes its deliveries and log rows with it
                self.conn.execute("DELETE FROM subscriptions WHERE id = ANY(%s)", (gone,))
        else:
            kept = self.conn.execute(_RECORD, params).fetchall()
        for state in states:
            self.stats[state if state != "queued" else "retry"] += 1
        if gone:
            log.info("deliver.subscriptions_removed", count=len(gone))
        return len(kept)

    def _decide(
        self, job: Job, result: Result, now: datetime
    ) -> tuple[str, datetime | None, datetime | None]:
        """(new state, next attempt, done at) for one attempt's result."""
        match result.outcome:
            case Outcome.delivered:
                return "delivered", None, now
            case Outcome.gone:
                return "gone", None, now
            case Outcome.retry:
                after = backoff(
                    job.attempt,
                    now=now,
                    deadline=job.deadline,
                    retry_after=result.retry_after,
                    base_s=self.policy.base_delay_s,
                    cap_s=self.policy.max_delay_s,
                )
                if after is None:
                    log.warning("deliver.expired", delivery=job.id, channel=job.channel, attempts=job.attempt)
                    return "expired", None, now
                return "queued", after, None
            case _:
                log.warning(
                    "deliver.failed",
                    delivery=job.id,
                    channel=job.channel,
                    status=result.status,
                    detail=result.detail,
                )
                return "failed", None, now

    def _heartbeat(self) -> None:
        ids = [job.id for job in self._inflight.values()]
        if ids:
            self.conn.execute(
                """UPDATE deliveries SET lease_until = %s
                   WHERE id = ANY(%s) AND claimed_by = %s AND state = 'queued'""",
                (self.clock() + self.policy.lease, ids, self.name),
            )
            self.conn.commit()


class FanOutLoop:
    """A worker's fan-out on its own connection and thread: every new outbox row is
    fanned out as soon as ``NOTIFY kawamori_alerts`` says it is there (or within
    ``poll_s``), while the worker's loop goes on claiming and sending — the first wave
    of a large fan-out goes out while the rest is still being inserted. An error here
    stops the worker (:meth:`check`), as one in the loop would."""

    def __init__(self, connect: Callable[[], psycopg.Connection], worker: Worker) -> None:
        self._connect = connect
        self._worker = worker
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fan-out", daemon=True)

    def start(self, stop: threading.Event) -> None:
        self._outer = stop
        self._thread.start()

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._outer.is_set()

    def _run(self) -> None:
        worker = self._worker
        try:
            with self._connect() as conn:
                conn.execute(f"LISTEN {ALERTS_CHANNEL}")
                while not self._stopping():
                    fan_out_pending(
                        conn, now=worker.clock(), deadline=worker.policy.deadline, worker=worker.name
                    )
                    waited = 0.0  # until a NOTIFY, poll_s, or a stop
                    while waited < worker.policy.poll_s and not self._stopping():
                        step = min(0.2, worker.policy.poll_s - waited)
                        if any(True for _ in conn.notifies(timeout=step, stop_after=1)):
                            break
                        waited += step
        except BaseException as error:  # for the loop to raise
            self._error = error


def _unsendable(job: Job, error: Exception) -> Result:
    """A delivery that could not be sent at all: recorded as failed, never retried, and
    never with the error's text (it may hold an address)."""
    provider = PROVIDERS[job.channel]
    if isinstance(error, NotifyError):  # e.g. the drill guard
        return Result(Outcome.failed, provider, detail=type(error).__name__)
    return Result(Outcome.failed, provider, detail=f"error: {type(error).__name__}")  # a bug or a bad row


def _entry(job: Job, result: Result) -> dict[str, Any]:
    """A journal line: ids and the outcome, never an address."""
    return {
        "id": job.id, "outbox_id": job.outbox_id, "subscription_id": str(job.subscription_id),
        "alert_id": job.alert_id, "version": job.version, "channel": job.channel, "attempt": job.attempt,
        "deadline": job.deadline.isoformat(), "outcome": str(result.outcome), "provider": result.provider,
        "status": result.status, "retry_after": result.retry_after, "provider_id": result.provider_id,
        "detail": result.detail,
    }  # fmt: skip


def _from_entry(e: dict[str, Any]) -> tuple[Job, Result]:
    job = Job(
        e["id"], e["outbox_id"], uuid.UUID(e["subscription_id"]), e["alert_id"], e["version"], e["channel"],
        e["attempt"], datetime.fromisoformat(e["deadline"]), "", b"", None,
    )  # fmt: skip
    result = Result(
        Outcome(e["outcome"]), e["provider"], e["status"], e["retry_after"], e["provider_id"], e["detail"]
    )
    return job, result
