"""Fan-out: one ``alert_outbox`` row → one ``deliveries`` row per subscription that
should get it, inserted by one ``INSERT … SELECT`` in the database (matching never
pulls subscriptions into Python).

Who gets a message (:func:`audience`, pure):

==========================  ==================================================================
message                     audience
==========================  ==================================================================
Alert, Update (not ended)   subscriptions of the message's areas ∪ everyone who got (or is
                            queued to get) an earlier version of the alert
all-clear (Update, ended)   everyone who got (or is queued to get) an earlier version
Cancel (a retraction)       everyone who got (or is queued to get) an earlier version
Exercise / Test             nobody: drills are never fanned out (``public`` is false)
==========================  ==================================================================

"Got an earlier version" is read from the notification log (``outcome = 'delivered'``)
and from earlier deliveries still queued. Both are deleted with the subscription, so a
resident who unsubscribed is not messaged again, while one whose areas changed still
gets the all-clear. The worker sends only the newest queued version to a subscription
(:mod:`notify.worker` supersedes older ones).

An outbox row is fanned out in two transactions: a first wave of ``FIRST_WAVE``
deliveries is committed at once (workers start sending while the rest is inserted),
then the rest, in the transaction that marks the row done. Inserting passes over the
deliveries already in, so a worker killed in between leaves the row to the next one,
which inserts what is missing. Versions of one alert are fanned out in order (a
row waits while an earlier row of its alert is not done).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import psycopg
import structlog

from alerts.model import MsgType
from kawamori.db import ALERTS_CHANNEL

log = structlog.get_logger(__name__)

DELIVERIES_CHANNEL = "kawamori_deliveries"  # NOTIFY at commit when deliveries were queued: wakes workers
DEFAULT_DEADLINE = timedelta(hours=3)
FIRST_WAVE = 1000  # deliveries committed at once, before the rest is inserted
FANOUT_LOCK = 0x6B77_0F00  # advisory lock namespace: an outbox row being fanned out


class Audience(StrEnum):
    nobody = "nobody"
    previous = "previous"  # everyone who got an earlier version
    areas_and_previous = "areas_and_previous"


def audience(*, msg_type: MsgType, public: bool, ended: bool) -> Audience:
    if not public:
        return Audience.nobody
    if msg_type is MsgType.cancel or ended:
        return Audience.previous
    return Audience.areas_and_previous


@dataclass(frozen=True, slots=True)
class FanOut:
    outbox_id: int
    alert_id: int
    version: int
    audience: Audience
    queued: int  # deliveries inserted


_CLAIM = """
SELECT o.id, o.alert_id, o.version, o.msg_type, o.public,
       coalesce((o.payload->>'ended')::boolean, false),
       ARRAY(SELECT a->>'id' FROM jsonb_array_elements(o.payload->'areas') a)
FROM alert_outbox o
WHERE o.done_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM alert_outbox e
                  WHERE e.alert_id = o.alert_id AND e.id < o.id AND e.done_at IS NULL)
ORDER BY o.id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""

# everyone who got an earlier version, or is queued to get one
_PREVIOUS = """
SELECT l.subscription_id FROM notification_log l
WHERE l.alert_id = %(alert)s AND l.version < %(version)s AND l.outcome = 'delivered'
UNION
SELECT d.subscription_id FROM deliveries d
WHERE d.alert_id = %(alert)s AND d.version < %(version)s AND d.state = 'queued'
"""

# subscriptions of the message's areas, then those of the earlier audience outside them
# (UNION ALL of two disjoint sets: no hash of 100,000 ids to take out duplicates)
_AREAS = f"""
SELECT s.id, s.channel FROM subscriptions s WHERE s.areas && %(areas)s::text[]
UNION ALL
SELECT s.id, s.channel FROM subscriptions s
WHERE s.id IN ({_PREVIOUS}) AND NOT s.areas && %(areas)s::text[]
"""
_ONLY_PREVIOUS = f"SELECT s.id, s.channel FROM subscriptions s WHERE s.id IN ({_PREVIOUS})"

# the second wave, and a worker taking over a fan-out, pass over the rows already in by
# reading them (only one worker fans out a row at a time: see fan_out_next). No ON
# CONFLICT: its speculative insertion is costly (bench/README.md), and it would wait on
# every row a worker is sending just then
_INSERT = """
INSERT INTO deliveries (outbox_id, subscription_id, alert_id, version, channel, not_before, deadline)
SELECT %(outbox)s, t.id, %(alert)s, %(version)s, t.channel, %(now)s, %(deadline)s
FROM ({targets}) t
WHERE NOT EXISTS (SELECT 1 FROM deliveries d
                  WHERE d.alert_id = %(alert)s AND d.subscription_id = t.id AND d.version = %(version)s)
LIMIT %(limit)s
"""


def fan_out_next(
    conn: psycopg.Connection,
    *,
    now: datetime,
    deadline: timedelta = DEFAULT_DEADLINE,
    worker: str = "",
    first_wave: int | None = FIRST_WAVE,
) -> FanOut | None:
    """Fan out the oldest outbox row not yet done (``None`` when there is none): a first
    wave of ``first_wave`` deliveries, committed, then the rest with the row marked done."""
    locked = None
    try:
        with conn.transaction(), conn.cursor() as cur:
            _whole_table_joins(cur)
            row = cur.execute(_CLAIM).fetchone()
            if row is None:
                return None
            outbox_id, alert_id, version, msg_type, public, ended, areas = row
            # held until both waves are in (a session lock outlives the first transaction):
            # between them the row is unlocked but not done, and another worker would fan it
            # out a second time
            if not cur.execute("SELECT pg_try_advisory_lock(%s, %s)", _lock_key(outbox_id)).fetchone()[0]:
                return None  # another worker is between its two waves of this row
            locked = outbox_id
            who = audience(msg_type=MsgType(msg_type), public=public, ended=ended)
            params = {
                "outbox": outbox_id,
                "alert": alert_id,
                "version": version,
                "areas": list(areas),
                "now": now,
                "deadline": now + deadline,
            }
            targets = _ONLY_PREVIOUS if who is Audience.previous else _AREAS
            queued = 0
            if who is not Audience.nobody and first_wave:
                queued = _insert(cur, targets, params, limit=first_wave)
            else:
                queued = _finish(cur, who, targets, params, worker=worker)
        if who is not Audience.nobody and first_wave:
            if queued >= first_wave:
                _restate(conn)
            with conn.transaction(), conn.cursor() as cur:
                _whole_table_joins(cur)
                still = cur.execute(
                    "SELECT 1 FROM alert_outbox WHERE id = %s AND done_at IS NULL FOR UPDATE", (outbox_id,)
                ).fetchone()
                if still:  # (or it was finished meanwhile, by a worker that took it over)
                    queued += _finish(cur, who, targets, params, worker=worker)
            if queued > first_wave:
                _restate(conn)
    finally:
        if locked is not None:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", _lock_key(locked))
    result = FanOut(outbox_id, alert_id, version, who, queued)
    if who is Audience.nobody:
        log.info("fanout.drill_not_sent", outbox=outbox_id, alert=alert_id, version=version)
    else:
        log.info(
            "fanout.queued", outbox=outbox_id, alert=alert_id, version=version, audience=who, queued=queued
        )
    return result


def _lock_key(outbox_id: int) -> tuple[int, int]:
    return FANOUT_LOCK, outbox_id % 2**31


def _whole_table_joins(cur: psycopg.Cursor) -> None:
    """Matching joins whole tables: allow hash and merge joins for this transaction (the
    delivery worker's session turns them off for its keyed queue statements)."""
    cur.execute("SET LOCAL enable_hashjoin = on")
    cur.execute("SET LOCAL enable_mergejoin = on")


def _restate(conn: psycopg.Connection) -> None:
    """Bring the planner's idea of ``deliveries`` up to date after a large insert.

    Statistics taken while the queue held little or nothing make the queue's partial
    index look empty, and the workers' record statement, prepared once, then reads every
    queued entry of it to find a few rows instead of finding them by id (figures in
    bench/README.md, "Planner settings of the delivery queue"). ANALYZE replans the
    statements everywhere; a small sample is enough to know the size."""
    with conn.transaction():
        conn.execute("SET LOCAL default_statistics_target = 10")
        conn.execute("ANALYZE deliveries")


def _insert(cur: psycopg.Cursor, targets: str, params: dict, *, limit: int | None) -> int:
    cur.execute(_INSERT.format(targets=targets), {**params, "limit": limit})
    inserted = max(cur.rowcount, 0)
    if inserted:  # wakes idle workers at commit
        cur.execute("SELECT pg_notify(%s, %s)", (DELIVERIES_CHANNEL, str(params["outbox"])))
    return inserted


def _finish(cur: psycopg.Cursor, who: Audience, targets: str, params: dict, *, worker: str) -> int:
    """Insert every delivery still missing and mark the row done."""
    queued = 0 if who is Audience.nobody else _insert(cur, targets, params, limit=None)
    cur.execute(
        "UPDATE alert_outbox SET done_at = %s, claimed_by = %s WHERE id = %s",
        (params["now"], worker or None, params["outbox"]),
    )
    return queued


def fan_out_pending(
    conn: psycopg.Connection, *, now: datetime, deadline: timedelta = DEFAULT_DEADLINE, worker: str = ""
) -> list[FanOut]:
    """Fan out every outbox row not yet done, oldest first."""
    done = []
    while (one := fan_out_next(conn, now=now, deadline=deadline, worker=worker)) is not None:
        done.append(one)
    return done


class FanOutLoop:
    """A delivery worker's fan-out on its own connection and thread: every new outbox
    row is fanned out as soon as ``NOTIFY kawamori_alerts`` says it is there (or within
    ``poll_s``), while the worker's loop goes on claiming and sending — the first wave of
    a large fan-out goes out while the rest is still being inserted. An error here stops
    the worker (:meth:`check`), as one in its loop would."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        *,
        clock: Callable[[], datetime],
        deadline: timedelta = DEFAULT_DEADLINE,
        poll_s: float = 1.0,
        worker: str = "",
    ) -> None:
        self._connect = connect
        self._clock = clock
        self._deadline = deadline
        self._poll_s = poll_s
        self._worker = worker
        self._stop = threading.Event()
        self._outer = threading.Event()
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
        try:
            with self._connect() as conn:
                conn.execute(f"LISTEN {ALERTS_CHANNEL}")
                while not self._stopping():
                    fan_out_pending(conn, now=self._clock(), deadline=self._deadline, worker=self._worker)
                    waited = 0.0  # until a NOTIFY, poll_s, or a stop
                    while waited < self._poll_s and not self._stopping():
                        step = min(0.2, self._poll_s - waited)
                        if any(True for _ in conn.notifies(timeout=step, stop_after=1)):
                            break
                        waited += step
        except BaseException as error:  # for the worker's loop to raise
            self._error = error
