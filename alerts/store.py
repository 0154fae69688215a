"""The alert lifecycle's storage: load what :mod:`alerts.lifecycle` decides on, and
write its transitions — the alert row, the audit entries, approvals, the outbox
message and a ``NOTIFY`` — in one transaction.

:func:`apply_many` is the evaluator's entry point: one query loads (and locks) every
live alert of the batch, only changed alerts are written (batched), and nothing at
all is written when nothing changed, so the periodic tick over every station is
cheap and re-applying the same conditions is a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts import decision, lifecycle
from alerts.audit_texts import say
from alerts.errors import NotAllowed, NotFound
from alerts.lifecycle import Action, AuditEntry, Transition
from alerts.message import AlertMessage, AreaFacts, StageFacts, StationFacts, identifier, response_for
from alerts.model import STAFF_KINDS, Alert, AlertState, Approval, Condition, Kind, MsgType, Proposal, Status
from alerts.policy import ApprovalPolicy
from kawamori.db import ALERTS_CHANNEL

DEFAULT_SENDER = "kawamori"
_WRITER_LOCK = 0x6B61_616C  # serialises evaluators that would open the same alert

_MUTABLE = (
    "state",
    "alert_level",
    "stage_key",
    "pending_level",
    "pending_stage",
    "suppressed_level",
    "stale",
    "areas",
    "details",
    "version",
    "updated_at",
    "ended_at",
    "acknowledged_by",
    "acknowledged_at",
    "notified_at",
    "station_id",
    "proposal",
    "proposal_reason",
    "revision",
    "declined",
)
_FIXED = ("fingerprint", "kind", "status", "public", "opened_at", "area_id")
_COLUMNS = ("id", *_FIXED, *_MUTABLE)
_LIVE = "(a.state IN ('pending', 'active') OR a.suppressed_level IS NOT NULL OR a.declined IS NOT NULL)"
SELECT_ALERTS = f"""
    SELECT {", ".join(f"a.{c}" for c in _COLUMNS)},
           (SELECT coalesce(jsonb_agg(jsonb_build_array(p.level, p.user_id, p.approved_at, p.revision)
                                      ORDER BY p.approved_at, p.user_id), '[]')
            FROM alert_approvals p WHERE p.alert_id = a.id) AS approvals
    FROM alerts a"""


def alert_from_row(row: tuple) -> Alert:
    values = dict(zip((*_COLUMNS, "approvals"), row, strict=True))
    values["kind"] = Kind(values["kind"])
    values["status"] = Status(values["status"])
    values["state"] = AlertState(values["state"])
    values["areas"] = tuple(values["areas"])
    values["proposal"] = None if values["proposal"] is None else Proposal(values["proposal"])
    values["approvals"] = tuple(
        Approval(level=level, user_id=user, approved_at=datetime.fromisoformat(at), revision=revision)
        for level, user, at, revision in values["approvals"]
    )
    return Alert(**values)


def load_live(
    conn: psycopg.Connection, station_ids: Iterable[str], *, lock: bool = False
) -> dict[str, Alert]:
    """The live staff notices of these stations by fingerprint: open ones, and closed
    ones that still suppress their condition. ``lock``: ``FOR UPDATE`` (inside a
    transaction)."""
    rows = conn.execute(
        f"{SELECT_ALERTS} WHERE a.station_id = ANY(%b) AND a.kind <> 'area' AND {_LIVE} ORDER BY a.id"
        + (" FOR UPDATE OF a" if lock else ""),
        (list(station_ids),),
    ).fetchall()
    return {alert.fingerprint: alert for alert in map(alert_from_row, rows)}


def load_live_areas(
    conn: psycopg.Connection, area_ids: Iterable[str], *, lock: bool = False
) -> dict[str, Alert]:
    """The live issuances of these areas by fingerprint: open ones, and closed ones
    whose declined proposal still keeps it from being asked again."""
    rows = conn.execute(
        f"{SELECT_ALERTS} WHERE a.kind = 'area' AND a.area_id = ANY(%b) AND {_LIVE} ORDER BY a.id"
        + (" FOR UPDATE OF a" if lock else ""),
        (list(area_ids),),
    ).fetchall()
    return {alert.fingerprint: alert for alert in map(alert_from_row, rows)}


def _last_lifts(conn: psycopg.Connection, fingerprints: list[str], *, since: datetime) -> dict[str, datetime]:
    """When each of these issuances was last lifted, if after ``since``."""
    rows = conn.execute(
        """SELECT fingerprint, max(ended_at) FROM alerts
           WHERE kind = 'area' AND state = 'resolved' AND fingerprint = ANY(%s) AND ended_at > %s
           GROUP BY fingerprint""",
        (fingerprints, since),
    ).fetchall()
    return dict(rows)


def load_alert(conn: psycopg.Connection, alert_id: int, *, lock: bool = False) -> Alert:
    # lock first, then read: the approvals read below are then the committed ones
    if lock and conn.execute("SELECT 1 FROM alerts WHERE id = %s FOR UPDATE", (alert_id,)).fetchone() is None:
        raise NotFound(f"no alert {alert_id}")
    row = conn.execute(f"{SELECT_ALERTS} WHERE a.id = %s", (alert_id,)).fetchone()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return alert_from_row(row)


def area_members(conn: psycopg.Connection, station_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Every area that one of these stations gives evidence for, with all its stations.
    A station in no area is an area of its own (its id)."""
    ids = sorted(set(station_ids))
    rows = conn.execute(
        """WITH mine AS (SELECT DISTINCT area_id FROM alert_area_stations WHERE station_id = ANY(%(ids)s))
           SELECT m.area_id, array_agg(s.station_id ORDER BY s.station_id)
           FROM mine m JOIN alert_area_stations s USING (area_id) GROUP BY m.area_id
           UNION ALL
           SELECT id, ARRAY[id] FROM stations
           WHERE id = ANY(%(ids)s)
             AND NOT EXISTS (SELECT 1 FROM alert_area_stations x WHERE x.station_id = id)""",
        {"ids": ids},
    ).fetchall()
    return {area: tuple(members) for area, members in rows}


def apply(
    conn: psycopg.Connection,
    *,
    station_id: str,
    conditions: Iterable[Condition],
    now: datetime,
    policy: ApprovalPolicy,
    sender: str = DEFAULT_SENDER,
) -> list[Transition]:
    """Reconcile one station's staff notices and its areas' issuances with its current
    conditions (all of them: an open notice without a condition ends). Returns the
    transitions that changed something."""
    return apply_many(conn, conditions={station_id: conditions}, now=now, policy=policy, sender=sender)


def apply_many(
    conn: psycopg.Connection,
    *,
    conditions: Mapping[str, Iterable[Condition]],
    now: datetime,
    policy: ApprovalPolicy,
    sender: str = DEFAULT_SENDER,
    areas: Mapping[str, Iterable[str]] | None = None,
) -> list[Transition]:
    """:func:`apply` for many stations in one transaction. Staff notices (unverified,
    sensor, offline) are reconciled per station; every condition is also evidence for
    the station's areas, each decided by :func:`alerts.decision.decide` from the
    conditions of all its stations. ``areas`` maps each area to decide to its stations
    (default: the areas of these stations, from the database); a station of an area
    that is not in ``conditions`` counts as having none, so the evaluator passes whole
    areas. Stations not in ``conditions`` are otherwise left alone."""
    wanted: dict[str, dict[str, Condition]] = {}
    for station_id, station_conditions in conditions.items():
        by_fingerprint = wanted.setdefault(station_id, {})
        for condition in station_conditions:
            if condition.station_id != station_id:
                raise ValueError(f"{condition.fingerprint} given for station {station_id}")
            if condition.fingerprint in by_fingerprint:
                raise ValueError(f"two conditions for {condition.fingerprint}")
            by_fingerprint[condition.fingerprint] = condition
    with conn.transaction():
        members = area_members(conn, wanted) if areas is None else areas
        groups = _area_groups(conn, wanted, members)
        # decide without locks (the common case: nothing changed, nothing written);
        # then lock what would change and decide again on the locked rows, so a staff
        # action or another evaluator that committed in between is taken into account
        transitions = _decide_all(conn, wanted, groups, members, now=now, policy=policy, lock=False)
        if not any(t.changed for t in transitions):
            return []
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITER_LOCK,))  # one evaluator writes at a time
        transitions = _decide_all(conn, wanted, groups, members, now=now, policy=policy, lock=True)
        return write(conn, transitions, now=now, sender=sender)


@dataclass(frozen=True, slots=True)
class _Group:
    """The evidence for one area's issuance of one status."""

    area_id: str
    status: Status
    conditions: tuple[Condition, ...]

    @property
    def fingerprint(self) -> str:
        return decision.fingerprint(self.area_id, self.status)


def _area_groups(
    conn: psycopg.Connection,
    wanted: Mapping[str, Mapping[str, Condition]],
    areas: Mapping[str, Iterable[str]],
) -> list[_Group]:
    """The evidence of each area, split by its stations' status; areas whose stations
    have no conditions are left out (their live issuances are decided all the same)."""
    statuses = _statuses(conn, {s for s, by in wanted.items() if by})
    groups = []
    for area_id, stations in areas.items():
        by_status: dict[Status, list[Condition]] = {}
        for station_id in stations:
            conditions = wanted.get(station_id)
            if conditions:
                by_status.setdefault(statuses.get(station_id, Status.actual), []).extend(conditions.values())
        groups.extend(_Group(area_id, status, tuple(c)) for status, c in by_status.items())
    return groups


def _decide_all(
    conn: psycopg.Connection,
    wanted: Mapping[str, Mapping[str, Condition]],
    groups: list[_Group],
    areas: Iterable[str],
    *,
    now: datetime,
    policy: ApprovalPolicy,
    lock: bool,
) -> list[Transition]:
    notices = {s: {f: c for f, c in by.items() if c.kind in STAFF_KINDS} for s, by in wanted.items()}
    live = load_live(conn, wanted, lock=lock)
    transitions = _reconcile_all(conn, notices, live, now=now, policy=policy)
    issuances = load_live_areas(conn, areas, lock=lock)
    opening: list[tuple[int, _Group]] = []
    for group in groups:
        alert = issuances.pop(group.fingerprint, None)
        t = decision.decide(
            alert, group.conditions, area_id=group.area_id, status=group.status, policy=policy, now=now
        )
        if alert is None and t.after is not None:
            opening.append((len(transitions), group))
        transitions.append(t)
    if opening:  # a new issuance: held longer if the area's level came down not long ago
        downs = _last_lifts(conn, [g.fingerprint for _, g in opening], since=now - policy.flap_hold)
        for i, group in opening:
            if group.fingerprint in downs:
                transitions[i] = decision.decide(
                    None,
                    group.conditions,
                    area_id=group.area_id,
                    status=group.status,
                    policy=policy,
                    now=now,
                    last_down=downs[group.fingerprint],
                )
    for alert in issuances.values():  # evidence gone: decided on no conditions
        assert alert.area_id is not None
        transitions.append(
            decision.decide(alert, (), area_id=alert.area_id, status=alert.status, policy=policy, now=now)
        )
    return transitions


def _reconcile_all(
    conn: psycopg.Connection,
    wanted: Mapping[str, Mapping[str, Condition]],
    live: Mapping[str, Alert],
    *,
    now: datetime,
    policy: ApprovalPolicy,
) -> list[Transition]:
    by_station: dict[str, list[Alert]] = {}
    for alert in live.values():
        by_station.setdefault(alert.station_id, []).append(alert)
    pairs: list[tuple[Alert | None, Condition | None]] = []
    for station_id, by_fingerprint in wanted.items():
        for fingerprint, condition in by_fingerprint.items():
            pairs.append((live.get(fingerprint), condition))
        for alert in by_station.get(station_id, ()):
            if alert.fingerprint not in by_fingerprint:
                pairs.append((alert, None))
    need_status = {c.station_id for a, c in pairs if c is not None and (a is None or not a.open)}
    statuses = _statuses(conn, need_status)
    return [
        lifecycle.reconcile(
            alert,
            condition,
            status=statuses.get(condition.station_id, Status.actual) if condition else Status.actual,
            policy=policy,
            now=now,
        )
        for alert, condition in pairs
    ]


def remind_pending(
    conn: psycopg.Connection, *, now: datetime, policy: ApprovalPolicy, sender: str = DEFAULT_SENDER
) -> list[Transition]:
    """Re-notify staff (audit + ``NOTIFY``) of every approval awaited for longer than
    ``policy.remind_every`` since the last notice."""
    with conn.transaction():
        rows = conn.execute(
            f"""{SELECT_ALERTS}
                WHERE (a.state = 'pending' OR (a.state = 'active' AND a.pending_level IS NOT NULL))
                  AND (a.notified_at IS NULL OR a.notified_at <= %s)
                ORDER BY a.id FOR UPDATE OF a SKIP LOCKED""",
            (now - policy.remind_every,),
        ).fetchall()
        transitions = [lifecycle.remind(alert_from_row(row), policy=policy, now=now) for row in rows]
        return write(conn, transitions, now=now, sender=sender)


def act(
    conn: psycopg.Connection,
    *,
    alert_id: int,
    decide: Callable[[Alert], Transition],
    now: datetime,
    sender: str = DEFAULT_SENDER,
) -> Transition:
    """Load and lock one alert, let ``decide`` (a staff action) decide, write the result."""
    with conn.transaction():
        alert = load_alert(conn, alert_id, lock=True)
        transition = decide(alert)
        written = write(conn, [transition], now=now, sender=sender)
        return written[0] if written else transition


def _statuses(conn: psycopg.Connection, station_ids: set[str]) -> dict[str, Status]:
    if not station_ids:
        return {}
    rows = conn.execute("SELECT id, alert_status FROM stations WHERE id = ANY(%s)", (list(station_ids),))
    return {station_id: Status(status) for station_id, status in rows}


def write(
    conn: psycopg.Connection, transitions: Iterable[Transition], *, now: datetime, sender: str
) -> list[Transition]:
    """Write the transitions that change something (inside the caller's transaction,
    or one of its own); returns them with the ids of new alerts filled in."""
    changed = [t for t in transitions if t.changed]
    if not changed:
        return []
    for t in changed:
        if t.after is not None and t.after.public and t.after.status is not Status.actual:
            raise NotAllowed(f"{t.after.fingerprint}: an {t.after.status} alert can never be public")
    with conn.transaction(), conn.cursor() as cur:
        lifted = [t.lifted for t in changed if t.lifted is not None]
        if lifted:
            cur.executemany(
                "UPDATE alerts SET suppressed_level = NULL, declined = NULL WHERE id = %s",
                [(a.id,) for a in lifted],
            )
        updates = [t.after for t in changed if t.after is not None and t.after.id is not None]
        if updates:
            cur.executemany(
                f"UPDATE alerts SET {', '.join(f'{c} = %s' for c in _MUTABLE)} WHERE id = %s",
                [(*_values(a, _MUTABLE), a.id) for a in updates],
            )
        new = [i for i, t in enumerate(changed) if t.after is not None and t.after.id is None]
        if new:
            # a staff notice covers its station's areas; an issuance names its own area
            areas = _station_areas(cur, {changed[i].after.station_id for i in new})  # type: ignore[union-attr]
            inserted = [
                a if a.kind is Kind.area else replace(a, areas=areas.get(a.station_id, ()))
                for a in (changed[i].after for i in new)
                if a is not None
            ]
            columns = (*_FIXED, *_MUTABLE)
            cur.executemany(
                f"INSERT INTO alerts ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
                "RETURNING id",
                [_values(a, columns) for a in inserted],
                returning=True,
            )
            for i, alert in zip(new, inserted, strict=True):
                alert_id = cur.fetchone()[0]  # type: ignore[index]
                cur.nextset()
                changed[i] = replace(changed[i], after=replace(alert, id=alert_id))
        audit: list[tuple[Any, ...]] = []
        approvals: list[tuple[Any, ...]] = []
        for t in changed:
            if t.lifted is not None:
                reason, details = say("condition_gone") if t.after is None else say("condition_rose")
                entry = AuditEntry(Action.unsuppressed, None, t.lifted.state, reason, details=details)
                audit.append(_audit_row(t.lifted.id, entry, now))
            if t.after is not None:
                audit.extend(_audit_row(t.after.id, entry, now) for entry in t.audit)
                if t.approval is not None:
                    a = t.approval
                    approvals.append((t.after.id, a.level, a.user_id, a.approved_at, a.revision))
        if approvals:
            cur.executemany(
                """INSERT INTO alert_approvals (alert_id, level, user_id, approved_at, revision)
                   VALUES (%s, %s, %s, %s, %s)""",
                approvals,
            )
        if audit:
            cur.executemany(
                """INSERT INTO alert_audit
                       (alert_id, at, actor_id, action, from_state, to_state, reason, details)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                audit,
            )
        messages = [t for t in changed if t.message is not None and t.after is not None]
        if messages:
            _write_outbox(cur, messages, now=now, sender=sender)
        ids = sorted(
            {t.after.id for t in changed if t.after is not None} | {t.lifted.id for t in changed if t.lifted}
        )
        cur.executemany("SELECT pg_notify(%s, %s)", [(ALERTS_CHANNEL, str(i)) for i in ids])
    return changed


def _values(alert: Alert, columns: Iterable[str]) -> tuple[Any, ...]:
    out = []
    for column in columns:
        value = getattr(alert, column)
        if column == "details":
            value = Jsonb(value)
        elif column == "proposal" and value is not None:
            value = str(value)
        elif column == "areas":
            value = list(value)
        out.append(value)
    return tuple(out)


def _audit_row(alert_id: int | None, entry: AuditEntry, now: datetime) -> tuple[Any, ...]:
    return (
        alert_id,
        now,
        entry.actor_id,
        str(entry.action),
        None if entry.from_state is None else str(entry.from_state),
        str(entry.to_state),
        entry.reason,
        Jsonb(entry.details),
    )


def _station_areas(cur: psycopg.Cursor, station_ids: set[str]) -> dict[str, tuple[str, ...]]:
    rows = cur.execute(
        """SELECT station_id, array_agg(area_id ORDER BY area_id) FROM alert_area_stations
           WHERE station_id = ANY(%s) GROUP BY station_id""",
        (list(station_ids),),
    ).fetchall()
    return {station_id: tuple(areas) for station_id, areas in rows}


def _write_outbox(cur: psycopg.Cursor, transitions: list[Transition], *, now: datetime, sender: str) -> None:
    alerts = [t.after for t in transitions if t.after is not None]
    stations = {
        row[0]: row
        for row in cur.execute(
            """SELECT id, name_ja, name_en, river_ja, river_en, latitude, longitude, stages
               FROM stations WHERE id = ANY(%s)""",
            (sorted({a.station_id for a in alerts}),),
        ).fetchall()
    }
    areas = {
        row[0]: AreaFacts(id=row[0], name_ja=row[1], name_en=row[2], geometry=row[3])
        for row in cur.execute(
            "SELECT id, name_ja, name_en, geometry FROM alert_areas WHERE id = ANY(%s)",
            (sorted({area for a in alerts for area in a.areas}),),
        ).fetchall()
    }
    ids = sorted({a.id for a in alerts if a.id is not None})
    earlier: dict[int, list[tuple[str, datetime]]] = {}
    for alert_id, ident, sent in cur.execute(
        """SELECT alert_id, payload->>'identifier', payload->>'sent' FROM alert_outbox
           WHERE alert_id = ANY(%s) ORDER BY alert_id, version""",
        (ids,),
    ).fetchall():
        earlier.setdefault(alert_id, []).append((ident, datetime.fromisoformat(sent)))
    ending = sorted({a.station_id for t in transitions if (a := t.after) is not None and _ends(a, t.message)})
    latest = {
        station_id: (time, level_m)
        for station_id, time, level_m in cur.execute(
            """SELECT DISTINCT ON (station_id) station_id, time, level_m FROM readings
               WHERE station_id = ANY(%s) AND time <= %s AND quality = 0
               ORDER BY station_id, time DESC""",
            (ending, now),
        ).fetchall()
    }
    rows = []
    for t in transitions:
        alert = t.after
        assert alert is not None and t.message is not None
        message = build_message(
            alert,
            t.message,
            station=stations[alert.station_id],
            areas=areas,
            sender=sender,
            now=now,
            note=t.note,
            earlier=earlier.get(alert.id, ()),  # type: ignore[arg-type]
            reading=latest.get(alert.station_id),
        )
        rows.append(
            (
                alert.id,
                alert.version,
                str(t.message),
                str(alert.status),
                alert.public,
                Jsonb(json.loads(message.model_dump_json())),
                now,
            )
        )
    cur.executemany(
        """INSERT INTO alert_outbox (alert_id, version, msg_type, status, public, payload, created_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        rows,
    )


def _ends(alert: Alert, msg_type: MsgType | None) -> bool:
    return msg_type is MsgType.cancel or alert.state is AlertState.resolved


def build_message(
    alert: Alert,
    msg_type: MsgType,
    *,
    station: tuple,
    areas: Mapping[str, AreaFacts],
    sender: str,
    now: datetime,
    note: str = "",
    earlier: Sequence[tuple[str, datetime]] | None = None,
    reading: tuple[datetime, float] | None = None,
) -> AlertMessage:
    """The outbox payload of ``alert``'s current version. ``station`` is a row of
    (id, name_ja, name_en, river_ja, river_en, latitude, longitude, stages).

    ``earlier``: (identifier, sent) of every version already sent, oldest first — an
    Update or Cancel references exactly these, with their sent times (CAP's
    "sender,identifier,sent"); ``None``: they are derived from ``sender`` without times.
    ``reading``: the station's latest sound reading (time, level) at ``now``. A message
    that ends an issuance (all-clear, Cancel) states only what is true when it is sent:
    that reading, no stage reached, no rate of rise and no ETA (``alert_level`` names
    the level it lifts or retracts)."""
    assert alert.id is not None
    station_id, name_ja, name_en, river_ja, river_en, latitude, longitude, stages = station
    stage = next((s for s in stages if s.get("key") == alert.stage_key), None)
    cancelled = msg_type is MsgType.cancel
    ended = _ends(alert, msg_type)
    details = alert.details
    kind = alert.kind
    level = alert.alert_level
    if kind is Kind.area:
        # an issuance is worded after the evidence it rests on (予測 / 観測); an issued
        # level is an instruction, whatever its basis
        kind = Kind.forecast if details.get("basis") == "forecast" and not ended else Kind.stage
    if ended:
        stage = None  # alert_level stays: the level this message lifts or retracts
        details = {} if reading is None else {"observed_at": reading[0], "level_m": reading[1]}
    if earlier is None:
        references = tuple(identifier(sender, alert.id, v) for v in range(1, alert.version))
        references_sent: tuple[datetime, ...] = ()
    else:
        references = tuple(ident for ident, _ in earlier)
        references_sent = tuple(sent for _, sent in earlier)
    return AlertMessage(
        identifier=identifier(sender, alert.id, alert.version),
        sender=sender,
        sent=now,
        status=alert.status,
        msg_type=msg_type,
        references=references,
        references_sent=references_sent,
        alert_id=alert.id,
        version=alert.version,
        kind=kind,
        station=StationFacts(
            id=station_id,
            name_ja=name_ja,
            name_en=name_en,
            river_ja=river_ja,
            river_en=river_en,
            latitude=latitude,
            longitude=longitude,
        ),
        alert_level=level,
        stage=None
        if stage is None
        else StageFacts(
            key=stage["key"], name_ja=stage["name_ja"], name_en=stage["name_en"], level_m=stage["level_m"]
        ),
        response=response_for(
            Kind.stage if alert.kind is Kind.area else kind,
            level,
            ended=ended,
            cancelled=cancelled,
        ),
        ended=ended,
        level_m=_number(details.get("level_m")),
        observed_at=details.get("observed_at") or details.get("time"),
        rate_m_h=_number(details.get("rate_m_h")),
        eta=details.get("eta"),
        areas=tuple(areas[a] for a in alert.areas if a in areas),
        note=note,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
