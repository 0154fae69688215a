"""Run a scenario against the real platform in manual, deterministic time.

:func:`run_scenario` takes a fresh database (from a migrated template) and a fresh
Mosquitto on an :class:`EmbeddedStack` (kawamori.embedded, owned by the runner: in CI
it is the only stack), loads the scenario's network and drill status, registers every
board (network devices, replacement boards, ``sim-<station>`` for stations without one)
with its own broker account, and starts the real ingest worker and alert evaluator on
one :class:`~simulator.clock.ManualClock`. Then, one ``time.step`` of simulated time at
a time:

Each board first publishes its retained "online" status (its last will says offline);
once ingest has committed those, it is subscribed. Then:

1. the clock moves to the end of the step;
2. every delivery the plan (:mod:`simulator.plan`) has reaching the broker by then is
   published by its own board's MQTT connection (QoS 1, acknowledged by the broker);
3. the runner waits until ingest has committed all of them (bounded): ingest stamps
   them received at the simulated time and judges their time stamps against it;
4. the evaluator runs at the simulated ``now`` (every station, as its periodic tick
   does), then reminds staff of pending approvals;
5. the scenario's staff steps that are due and whose proposal is open are done through
   :mod:`alerts.actions` with real staff accounts (issuing happens in that transaction);
6. what changed is recorded: each station's confirmed stage (stamped with the time of
   the reading that brought it, as the station's state does) and offline flag, and each
   alert's state, level, pending level, areas and publicity. At the end the area
   issuances' audit trail (who decided what, when) and the outbox are read.

Nothing waits for simulated time to pass, so a 14-hour typhoon takes as long as its
readings take to go through the broker, ingest and the evaluator.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from alerts import actions
from alerts.errors import AlertError
from alerts.model import Assessment
from alerts.service import Evaluator
from ingest.service import IngestConfig, IngestWorker
from kawamori import contract, db
from kawamori.embedded import MosquittoBroker, PostgresServer
from kawamori.model import Actor, Role
from kawamori.mqtt import Connection, Message, MqttError, Will
from kawamori.network import apply_network
from simulator import faults
from simulator.clock import ManualClock
from simulator.plan import Plan, plan
from simulator.scenario import Replace, Scenario, StaffStep

TEMPLATE = "kawamori_sim_template"
INSTALLED_BEFORE = timedelta(days=1)  # boards in the network were installed before the scenario
COMMIT_WAIT_S = 30.0
OFFLINE = contract.Status(online=False)  # real seconds ingest may take to commit one step's deliveries


class RunnerError(RuntimeError):
    pass


# -- what a run produces -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageChange:
    """The station's confirmed stage changed. ``at`` is the time of the reading that
    changed it (its state's ``stage_since``); ``seen`` the evaluation that showed it."""

    at: datetime
    seen: datetime
    station_id: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class HealthChange:
    seen: datetime
    station_id: str
    offline: bool


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert as it stood after the evaluation at ``seen`` (recorded when any of
    these fields changed)."""

    seen: datetime
    alert_id: int
    station_id: str
    kind: str
    status: str
    state: str
    public: bool
    alert_level: int | None
    pending_level: int | None
    stale: bool
    areas: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    created_at: datetime
    alert_id: int
    station_id: str
    areas: tuple[str, ...]
    msg_type: str
    status: str
    public: bool


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry of an area issuance: ``actor`` is the staff account's username,
    ``None`` for the engine (the written policy)."""

    at: datetime
    alert_id: int
    area_id: str
    status: str
    action: str
    actor: str | None
    details: dict


@dataclass(frozen=True, slots=True)
class StaffDone:
    """What became of a staff step: ``at`` when it was done (``None``: never), the
    alert it acted on, and in words what it did or why it could not."""

    step: StaffStep
    at: datetime | None
    alert_id: int | None
    result: str


@dataclass(frozen=True, slots=True)
class Ledger:
    """Readings sent by the boards against readings stored, by ``(device, seq)``."""

    sent: int  # distinct readings the boards sent (that reached the broker before the end)
    deliveries: int  # messages published (duplicates included)
    stored: Counter[tuple[str, int]]
    missing: tuple[tuple[str, int], ...]  # sent, never stored
    extra: tuple[tuple[str, int], ...]  # stored, never sent
    dead_letters: tuple[str, ...]  # reason: detail

    @property
    def exactly_once(self) -> bool:
        return not self.missing and not self.extra and all(n == 1 for n in self.stored.values())


@dataclass(slots=True)
class Outcome:
    scenario: Scenario
    stages: list[StageChange] = field(default_factory=list)
    health: list[HealthChange] = field(default_factory=list)
    alerts: list[AlertChange] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    staff: list[StaffDone] = field(default_factory=list)
    ledger: Ledger | None = None
    steps: int = 0
    wall_s: float = 0.0

    def offset(self, when: datetime) -> timedelta:
        return when - self.scenario.time.start


# -- the embedded stack ----------------------------------------------------------------------


class EmbeddedStack:
    """A PostgreSQL cluster with a migrated template, and a fresh database and a fresh
    Mosquitto for each scenario. Everything lives in a temporary folder, removed on close."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="kawamori-sim-"))
        self.folder.chmod(0o711)  # the embedded services may run as another user
        self.postgres = PostgresServer(self.folder / "postgres", settings={"fsync": "off"})

    def start(self) -> None:
        self.postgres.start()
        url = self.postgres.create_database(TEMPLATE)
        with db.connect(url) as conn:
            db.migrate(conn)

    def close(self) -> None:
        self.postgres.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    @contextmanager
    def fresh(self) -> Iterator[tuple[str, MosquittoBroker]]:
        name = f"sim_{uuid.uuid4().hex[:12]}"
        url = self.postgres.create_database(name, template=TEMPLATE)
        broker = MosquittoBroker(self.folder / f"mosquitto-{name}")
        broker.start()
        try:
            yield url, broker
        finally:
            broker.stop()
            shutil.rmtree(broker.folder, ignore_errors=True)
            self.postgres.drop_database(name)


@contextmanager
def embedded_stack() -> Iterator[EmbeddedStack]:
    stack = EmbeddedStack()
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


# -- pieces of a run ------------------------------------------------------------------------------


class _CountingWorker(IngestWorker):
    """The real ingest worker, counting the messages it has committed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.committed = 0
        self.changed = threading.Condition()

    def commit(self, messages: list[Message], network) -> object:
        written = super().commit(messages, network)
        with self.changed:
            self.committed += len(messages)
            self.changed.notify_all()
        return written

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.committed >= count, timeout)


def _boards(scenario: Scenario, the_plan: Plan) -> dict[str, tuple[str, datetime]]:
    """Every board that sends something: its station and when it was installed."""
    start = scenario.time.start
    installed = {d.id: start - INSTALLED_BEFORE for d in scenario.network.devices}
    for fault in scenario.faults:
        if isinstance(fault, Replace):
            installed[fault.device] = start + fault.at
    boards = {}
    for station_id, station_plan in the_plan.stations.items():
        for reading in station_plan.stream.readings:
            if reading.device_id not in boards:
                boards[reading.device_id] = (
                    station_id,
                    installed.get(reading.device_id, start - INSTALLED_BEFORE),
                )
    return boards


def _load(database_url: str, scenario: Scenario, boards: dict[str, tuple[str, datetime]]) -> None:
    with db.connect(database_url) as conn:
        apply_network(conn, scenario.network)
        with conn.transaction():
            for device_id, (station_id, installed_at) in boards.items():
                conn.execute(
                    """INSERT INTO devices (id, station_id, installed_at) VALUES (%s, %s, %s)
                       ON CONFLICT (id) DO UPDATE SET station_id = EXCLUDED.station_id,
                           installed_at = EXCLUDED.installed_at""",
                    (device_id, station_id, installed_at),
                )
            conn.execute("UPDATE stations SET alert_status = %s", (scenario.status,))


def _payload(reading: faults.Reading) -> bytes:
    return contract.encode_batch(
        [
            contract.encode_reading(
                seq=reading.seq,
                time=reading.time,
                level_m=reading.level_m,
                battery_v=round(reading.battery_v, 3),
            )
        ]
    )


class _Recorder:
    def __init__(self, outcome: Outcome, conn: psycopg.Connection) -> None:
        self.outcome = outcome
        self.conn = conn
        self.stage: dict[str, str | None] = {}
        self.offline: dict[str, bool] = {}
        self.alerts: dict[int, tuple] = {}

    def record(self, now: datetime, assessments: list[Assessment]) -> None:
        for a in assessments:
            before = self.stage.get(a.station_id)
            if a.state.stage_key != before:
                at = a.state.stage_since or a.state.last_time or now
                self.outcome.stages.append(StageChange(at, now, a.station_id, before, a.state.stage_key))
                self.stage[a.station_id] = a.state.stage_key
            if a.state.offline != self.offline.get(a.station_id, False):
                self.outcome.health.append(HealthChange(now, a.station_id, a.state.offline))
                self.offline[a.station_id] = a.state.offline
        rows = self.conn.execute(
            """SELECT id, station_id, kind, status, state, public, alert_level, pending_level, stale, areas
               FROM alerts ORDER BY id"""
        ).fetchall()
        for alert_id, station_id, kind, status, state, public, level, pending, stale, areas in rows:
            key = (state, public, level, pending, stale, tuple(areas))
            if self.alerts.get(alert_id) != key:
                self.alerts[alert_id] = key
                self.outcome.alerts.append(
                    AlertChange(
                        now,
                        alert_id,
                        station_id,
                        kind,
                        status,
                        state,
                        public,
                        level,
                        pending,
                        stale,
                        tuple(areas),
                    )
                )

    def finish(self, published: list[faults.Delivery]) -> None:
        rows = self.conn.execute(
            """SELECT o.created_at, o.alert_id, a.station_id, a.areas, o.msg_type, o.status, o.public
               FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id ORDER BY o.id"""
        ).fetchall()
        self.outcome.outbox = [
            OutboxMessage(created, alert_id, station, tuple(areas), msg_type, status, public)
            for created, alert_id, station, areas, msg_type, status, public in rows
        ]
        audit = self.conn.execute(
            """SELECT e.at, e.alert_id, a.area_id, a.status, e.action, u.username, e.details
               FROM alert_audit e JOIN alerts a ON a.id = e.alert_id
               LEFT JOIN staff_users u ON u.id = e.actor_id
               WHERE a.kind = 'area' ORDER BY e.id"""
        ).fetchall()
        self.outcome.audit = [AuditRecord(*row) for row in audit]
        sent = {(d.reading.device_id, d.reading.seq) for d in published}
        stored = Counter(
            (device, seq)
            for device, seq in self.conn.execute("SELECT device_id, seq FROM readings").fetchall()
        )
        dead = self.conn.execute("SELECT reason, detail FROM dead_letters ORDER BY id").fetchall()
        self.outcome.ledger = Ledger(
            sent=len(sent),
            deliveries=len(published),
            stored=stored,
            missing=tuple(sorted(sent - stored.keys())),
            extra=tuple(sorted(stored.keys() - sent)),
            dead_letters=tuple(f"{reason}: {detail}" for reason, detail in dead),
        )


class _Staff:
    """The scenario's staff steps, done through :mod:`alerts.actions` (the console's
    service functions) with real staff accounts, in the order written."""

    def __init__(self, scenario: Scenario, conn: psycopg.Connection, policy) -> None:
        self.conn = conn
        self.policy = policy
        self.start = scenario.time.start
        self.status = scenario.status
        self.waiting = list(scenario.staff)
        self.people: dict[str, Actor] = {}
        for step in scenario.staff:
            if step.by not in self.people:
                user_id = conn.execute(
                    """INSERT INTO staff_users (username, display_name, role, password_hash)
                       VALUES (%s, %s, %s, 'simulated') RETURNING id""",
                    (step.by, step.by, step.role),
                ).fetchone()[0]
                self.people[step.by] = Actor(user_id, step.by, step.by, Role(step.role))
        self.why: dict[int, str] = {}

    def act(self, now: datetime) -> list[StaffDone]:
        done = []
        for step in list(self.waiting):
            if self.start + step.at > now:
                continue
            alert = self._open(step.area)
            why = self._mismatch(step, alert)
            if why is not None:
                self.why[id(step)] = why
                continue
            assert alert is not None
            actor = self.people[step.by]
            try:
                if step.action == "approve":
                    view = actions.approve(
                        self.conn, alert_id=alert[0], actor=actor, now=now, reason=step.reason,
                        revision=alert[4], policy=self.policy,
                    )  # fmt: skip
                elif step.action == "decline":
                    view = actions.reject(
                        self.conn, alert_id=alert[0], actor=actor, now=now, reason=step.reason,
                        revision=alert[4], policy=self.policy,
                    )  # fmt: skip
                else:
                    view = actions.cancel(
                        self.conn,
                        alert_id=alert[0],
                        actor=actor,
                        now=now,
                        reason=step.reason,
                        policy=self.policy,
                    )
            except AlertError as error:
                self.why[id(step)] = f"refused: {error}"
                continue
            a = view.alert
            result = f"{step.action}d by {step.by}: {a.state}, level {a.alert_level or '–'}"
            if a.proposal is not None:
                result += f", {a.proposal} to {a.pending_level} still awaiting"
            done.append(StaffDone(step, now, alert[0], result))
            self.waiting.remove(step)
        return done

    def never(self) -> list[StaffDone]:
        return [StaffDone(step, None, None, self.why.get(id(step), "never due")) for step in self.waiting]

    def _open(self, area: str) -> tuple | None:
        return self.conn.execute(
            """SELECT id, state, proposal, pending_level, revision FROM alerts
               WHERE kind = 'area' AND area_id = %s AND status = %s AND state IN ('pending', 'active')
               ORDER BY id DESC LIMIT 1""",
            (area, self.status),
        ).fetchone()

    @staticmethod
    def _mismatch(step: StaffStep, alert: tuple | None) -> str | None:
        if alert is None:
            return "no open issuance"
        _, _, proposal, level, _ = alert
        if step.action == "cancel":
            return None
        if proposal is None:
            return "no open proposal"
        if step.proposal is not None and proposal != step.proposal:
            return f"the open proposal is {proposal} to {level}"
        if step.level is not None and level != step.level:
            return f"the open proposal is {proposal} to {level}"
        return None


# -- the run ------------------------------------------------------------------------------------------


def run_scenario(
    scenario: Scenario,
    stack: EmbeddedStack,
    *,
    on_step: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Run ``scenario`` on a fresh database and broker of ``stack``; see the module docstring."""
    started = time.perf_counter()
    the_plan = plan(scenario)
    boards = _boards(scenario, the_plan)
    outcome = Outcome(scenario)
    step = scenario.time.step
    steps = int(scenario.time.duration / step)
    clock = ManualClock(scenario.time.start)
    deliveries = the_plan.deliveries()
    with stack.fresh() as (database_url, broker):
        _load(database_url, scenario, boards)
        for device_id in boards:
            broker.accounts.ensure(device_id)
        broker.allow_services("kawamori-sim-ingest")  # reloads the broker
        worker = _CountingWorker(
            IngestConfig(
                database_url=database_url,
                mqtt_url=broker.url("kawamori-ingest"),
                client_id="kawamori-sim-ingest",
                max_wait_s=0.002,
            ),
            clock=clock,
        )
        ingest = threading.Thread(target=worker.run, name="sim-ingest", daemon=True)
        ingest.start()
        publishers: dict[str, Connection] = {}
        try:
            if not worker.mqtt.connected.wait(30):
                raise RunnerError("ingest did not connect to the broker")
            online = contract.encode_status(contract.Status(online=True, firmware="simulator"))
            for device_id in boards:
                publisher = Connection(
                    broker.url(device_id),
                    device_id,
                    persistent=False,
                    will=Will(contract.topic(device_id, "status"), contract.encode_status(OFFLINE)),
                )
                publisher.start(wait_s=10)
                publisher.publish(contract.topic(device_id, "status"), online, retain=True, wait_s=10)
                publishers[device_id] = publisher
            # like a board, each says it is online (retained); once ingest has committed
            # those, it is subscribed and no reading can be lost to an early publish
            sent = len(boards)
            if not worker.wait_for(sent, COMMIT_WAIT_S):
                raise RunnerError("ingest did not receive the boards' status messages")
            with db.connect(database_url, application_name="kawamori-sim-alerts") as conn:
                evaluator = Evaluator(conn)
                recorder = _Recorder(outcome, conn)
                staff = _Staff(scenario, conn, evaluator.policy)
                index = 0
                for k in range(1, steps + 1):
                    clock.advance(step.total_seconds())
                    now = clock.now()
                    while index < len(deliveries) and deliveries[index].at <= now:
                        reading = deliveries[index].reading
                        try:
                            publishers[reading.device_id].publish(
                                contract.topic(reading.device_id, "reading"), _payload(reading), wait_s=10
                            )
                        except MqttError as error:
                            raise RunnerError(f"{reading.device_id} could not publish: {error}") from None
                        sent += 1
                        index += 1
                    if not worker.wait_for(sent, COMMIT_WAIT_S):
                        raise RunnerError(
                            f"ingest committed {worker.committed} of {sent} messages"
                            f" within {COMMIT_WAIT_S:g} s"
                        )
                    recorder.record(now, evaluator.evaluate(now=now))
                    acted = staff.act(now)
                    if acted:  # what they changed shows at this step, before the next tick
                        outcome.staff.extend(acted)
                        recorder.record(now, [])
                    evaluator.remind(now=now)
                    outcome.steps = k
                    if on_step is not None:
                        on_step(k, steps)
                outcome.staff.extend(staff.never())
                recorder.finish(list(deliveries[:index]))
        finally:
            for publisher in publishers.values():
                publisher.stop()
            worker.stop()
            ingest.join(15)
    outcome.wall_s = time.perf_counter() - started
    return outcome


def run_file(path: Path | str, stack: EmbeddedStack, **options) -> Outcome:
    from simulator.scenario import load_scenario

    return run_scenario(load_scenario(path), stack, **options)
