"""The delivery queue in PostgreSQL: claim due deliveries under a lease, extend the
lease of those in flight, record attempts. Every statement touches a few dozen rows by
key and commits at once; rows come back as :class:`Job` (named, through psycopg's row
factories), never as positional tuples.

* **Claim** (:meth:`Queue.claim`): due ``queued`` rows whose lease is unset or expired,
  up to a number per channel, in one statement (``FOR UPDATE SKIP LOCKED``). It sets
  ``claimed_by`` and ``lease_until`` and counts the attempt. A row for which a newer
  version of the same alert is queued for the same subscription becomes ``superseded``
  instead (Web Push's ``Topic`` does the same on the push service); a row fanned out
  just as its subscription was deleted is deleted (nobody to send to).
* **Heartbeat** (:meth:`Queue.extend`): a live worker extends the leases of what it has
  in flight; a killed one stops, and when its leases run out another worker claims the
  rows again (at least once).
* **Record** (:meth:`Queue.record`): the attempts' log rows and the deliveries' new
  states in one statement (with the deletion of "gone" subscriptions, one transaction),
  the state only while the worker still holds the row at that attempt.

The session commits asynchronously: a commit lost in a database crash only means a
delivery is sent again, which at-least-once allows.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import kwargs_row

from alerts.message import AlertMessage
from kawamori.db import ALERTS_CHANNEL
from notify.channels.base import Result
from notify.fanout import DELIVERIES_CHANNEL
from notify.retry import Decision, State

# The delivery session's settings, all of them: why each is there and what was measured
# without it is in bench/README.md ("Planner settings of the delivery queue").
SESSION = (
    # a commit lost in a crash only means a delivery is sent again (at least once)
    "SET synchronous_commit = off",
    # the queue's statements touch a few dozen rows by key, but the claim's prepared
    # generic plan guesses a large share of the queue: nested loops over the indexes
    # only (fan-out turns hash and merge joins back on for its own transactions) …
    "SET enable_hashjoin = off",
    "SET enable_mergejoin = off",
    # … and no JIT compilation for plans whose guessed cost is far above their real one
    "SET jit = off",
)


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed delivery: the attempt being made, and what sending it needs."""

    id: int
    outbox_id: int
    subscription_id: uuid.UUID
    alert_id: int
    version: int
    channel: str
    attempt: int
    deadline: datetime
    language: str = ""
    sealed: bytes = b""
    cell: tuple[float, float] | None = None  # the subscriber's rounded location, for shelters

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.channel}, attempt {self.attempt})"


@dataclass(frozen=True, slots=True)
class Claim:
    jobs: list[Job]
    superseded: int  # rows not to be sent: a newer version is queued for the subscription


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
RETURNING d.id, d.outbox_id, d.subscription_id, d.alert_id, d.version, d.channel, d.attempts AS attempt,
          d.deadline, claim.language, claim.address_sealed AS sealed, claim.cell_lat, claim.cell_lon,
          claim.superseded
"""

# one statement: every attempt's log row and its delivery's new state, the latter only
# while the holder still holds the row at that attempt. The rows come as one JSON array
# (thirteen Python lists would be dumped element by element)
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


def _claimed(
    *, superseded: bool, sealed: bytes | None, cell_lat: float | None, cell_lon: float | None, **job: Any
) -> tuple[bool, Job]:
    """A row of the claim: whether it was superseded, and the job."""
    cell = (cell_lat, cell_lon) if cell_lat is not None and cell_lon is not None else None
    return superseded, Job(**job, sealed=bytes(sealed or b""), cell=cell)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One finished attempt, to be recorded."""

    job: Job
    result: Result
    decision: Decision

    def row(self) -> dict[str, Any]:
        job, result, decision = self.job, self.result, self.decision
        return {
            "id": job.id, "alert_id": job.alert_id, "version": job.version,
            "subscription_id": str(job.subscription_id), "channel": job.channel, "attempt": job.attempt,
            "outcome": str(result.outcome), "status": result.status, "provider_id": result.provider_id,
            "detail": result.detail, "state": str(decision.state),
            "next": decision.next.isoformat() if decision.next else None,
            "done": decision.done.isoformat() if decision.done else None,
        }  # fmt: skip


class Queue:
    """The delivery queue on one session (owned by one thread)."""

    def __init__(self, conn: psycopg.Connection, *, holder: str) -> None:
        self.conn = conn
        self.holder = holder
        for setting in SESSION:
            conn.execute(setting)
        conn.execute(f"LISTEN {ALERTS_CHANNEL}")
        conn.execute(f"LISTEN {DELIVERIES_CHANNEL}")

    def claim(self, wanted: Mapping[str, int], *, now: datetime, lease_until: datetime) -> Claim:
        """Claim up to ``wanted[channel]`` due deliveries of each channel."""
        params = {"want": json.dumps(wanted), "now": now, "me": self.holder, "lease": lease_until}
        with self.conn.cursor(row_factory=kwargs_row(_claimed)) as cur:
            rows = cur.execute(_CLAIM, params).fetchall()
        return Claim([job for superseded, job in rows if not superseded], sum(s for s, _ in rows))

    def extend(self, ids: Sequence[int], *, lease_until: datetime) -> None:
        """Extend the lease of deliveries this worker has in flight."""
        self.conn.execute(
            """UPDATE deliveries SET lease_until = %s
               WHERE id = ANY(%s) AND claimed_by = %s AND state = 'queued'""",
            (lease_until, list(ids), self.holder),
        )
        self.conn.commit()

    def record(self, attempts: Sequence[Attempt], *, now: datetime, holder: str | None = None) -> int:
        """Record attempts of deliveries claimed by ``holder`` (this worker, or a killed
        one whose journal is replayed); returns how many of them ``holder`` still held."""
        params = {
            "rows": json.dumps([a.row() for a in attempts]),
            "at": now,
            "me": holder or self.holder,
        }
        gone = [a.job.subscription_id for a in attempts if a.decision.state is State.gone]
        if not gone:
            return len(self.conn.execute(_RECORD, params).fetchall())
        with self.conn.transaction():  # the attempt recorded and the subscription deleted together
            kept = self.conn.execute(_RECORD, params).fetchall()
            # deleting the subscription deletes its deliveries and log rows with it
            self.conn.execute("DELETE FROM subscriptions WHERE id = ANY(%s)", (gone,))
        return len(kept)

    def pending(self, channels: Iterable[str]) -> bool:
        """Whether anything is left to do: deliveries queued on ``channels``, or outbox
        rows not fanned out yet."""
        (pending,) = self.conn.execute(
            """SELECT EXISTS (SELECT 1 FROM deliveries WHERE state = 'queued' AND channel = ANY(%s))
                   OR EXISTS (SELECT 1 FROM alert_outbox WHERE done_at IS NULL)""",
            (list(channels),),
        ).fetchone()
        self.conn.commit()
        return pending

    def messages(self, outbox_ids: Sequence[int]) -> dict[int, AlertMessage]:
        """The outbox rows' messages."""
        rows = self.conn.execute(
            "SELECT id, payload FROM alert_outbox WHERE id = ANY(%s)", (list(outbox_ids),)
        ).fetchall()
        return {
            outbox_id: AlertMessage.model_validate_json(json.dumps(payload)) for outbox_id, payload in rows
        }

    def wait(self, stop: threading.Event, seconds: float) -> None:
        """Idle: wait for a NOTIFY (a new alert message, new deliveries), ``seconds`` or
        ``stop``."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if any(True for _ in self.conn.notifies(timeout=min(left, 0.5), stop_after=1)):
                return
