"""``/api/health``: can the platform do its job right now?

It asks each dependency at once, in parallel, and answers within about 1.5 s whatever
happens (a check that has not answered by then counts as down):

- **database** — one query through the dashboard's pool;
- **broker** — a TCP connection to the broker the services use (when its address is
  known), and whether any ingest worker says it is connected;
- **ingest** — a worker heartbeat (``ingest_workers``) younger than ``INGEST_STALE_S``,
  from a worker connected to the broker: readings are being stored;
- **alerts** — the evaluator's heartbeat (``service_heartbeats``) younger than
  ``ALERTS_STALE_S``: readings are being judged.

Any of them down: HTTP 503 with ``status: "down"`` and each check's detail, so a load
balancer or a monitor sees the truth (it used to answer 200 "ok" with the broker down
or ingest dead, and to time out while PostgreSQL was down).
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

DEADLINE_S = 1.5
INGEST_STALE_S = 15.0  # three of ingest's 5-s heartbeats
ALERTS_STALE_S = 30.0  # the evaluator beats every 5 s, between evaluations

router = APIRouter(tags=["operations"])
# its own small pool: a check stuck on a dead server must not hold a request thread
_checks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


class Check(BaseModel):
    ok: bool
    detail: str = ""


class HealthReport(BaseModel):
    status: str = Field(description='"ok", or "down" (HTTP 503) when any check fails')
    database: bool
    stations: int | None = None
    devices: int | None = None
    dead_letters: int | None = None
    checks: dict[str, Check] = Field(description="database, broker, ingest, alerts")


@dataclass(frozen=True, slots=True)
class _Facts:
    stations: int
    devices: int
    dead_letters: int
    ingest_live: int  # workers with a fresh heartbeat
    ingest_connected: int  # …of which connected to the broker
    alerts_age_s: float | None  # seconds since the evaluator's last heartbeat


def _facts(pool) -> _Facts:
    with pool.connection(timeout=DEADLINE_S) as conn:
        row = conn.execute(
            """SELECT (SELECT count(*) FROM stations), (SELECT count(*) FROM devices),
                      (SELECT count(*) FROM dead_letters),
                      (SELECT count(*) FROM ingest_workers
                       WHERE last_seen > now() - make_interval(secs => %(ingest)s)),
                      (SELECT count(*) FROM ingest_workers
                       WHERE last_seen > now() - make_interval(secs => %(ingest)s) AND broker_connected),
                      (SELECT extract(epoch FROM now() - last_seen)::float8
                       FROM service_heartbeats WHERE service = 'alerts')""",
            {"ingest": INGEST_STALE_S},
        ).fetchone()
    assert row is not None
    return _Facts(*row)


def _reach(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=DEADLINE_S / 2):
        pass


def report(pool, broker_address: tuple[str, int] | None) -> tuple[int, HealthReport]:
    facts_job = _checks.submit(_facts, pool)
    broker_job = _checks.submit(_reach, broker_address) if broker_address else None
    wait([job for job in (facts_job, broker_job) if job is not None], timeout=DEADLINE_S)
    checks: dict[str, Check] = {}
    facts: _Facts | None = None
    if not facts_job.done():
        checks["database"] = Check(ok=False, detail=f"no answer within {DEADLINE_S} s")
    elif facts_job.exception() is not None:
        checks["database"] = Check(ok=False, detail=_error(facts_job.exception()))
    else:
        facts = facts_job.result()
        checks["database"] = Check(ok=True)
    broker_problem = ""
    if broker_job is not None:
        if not broker_job.done():
            broker_problem = f"no answer within {DEADLINE_S} s"
        elif broker_job.exception() is not None:
            broker_problem = f"unreachable: {_error(broker_job.exception())}"
    if facts is None:
        unknown = "unknown: the database does not answer"
        checks["broker"] = Check(ok=False, detail=broker_problem or unknown)
        checks["ingest"] = Check(ok=False, detail=unknown)
        checks["alerts"] = Check(ok=False, detail=unknown)
    else:
        if not broker_problem and facts.ingest_live and not facts.ingest_connected:
            broker_problem = "no ingest worker is connected to it"
        checks["broker"] = Check(ok=not broker_problem, detail=broker_problem)
        if facts.ingest_connected:
            checks["ingest"] = Check(ok=True, detail=f"{facts.ingest_connected} worker(s) storing readings")
        elif facts.ingest_live:
            checks["ingest"] = Check(ok=False, detail="running, but not connected to the broker")
        else:
            checks["ingest"] = Check(ok=False, detail=f"no worker heartbeat for {INGEST_STALE_S:.0f} s")
        age = facts.alerts_age_s
        if age is None:
            checks["alerts"] = Check(ok=False, detail="the evaluator has never run")
        elif age > ALERTS_STALE_S:
            checks["alerts"] = Check(ok=False, detail=f"no evaluator heartbeat for {age:.0f} s")
        else:
            checks["alerts"] = Check(ok=True)
    ok = all(check.ok for check in checks.values())
    body = HealthReport(
        status="ok" if ok else "down",
        database=checks["database"].ok,
        stations=facts.stations if facts else None,
        devices=facts.devices if facts else None,
        dead_letters=facts.dead_letters if facts else None,
        checks=checks,
    )
    return (200 if ok else 503), body


def _error(error: BaseException | None) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


@router.get(
    "/api/health",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "the platform cannot do its job"}},
)
def health(request: Request) -> JSONResponse:
    status, body = report(request.app.state.pool, request.app.state.broker_address)
    return JSONResponse(body.model_dump(), status_code=status)
