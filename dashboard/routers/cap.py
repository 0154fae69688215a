"""Public alerts as OASIS CAP 1.2 documents and an Atom feed (the pull channel for
aggregators). Only ``public`` outbox rows with status ``Actual`` are served here:
exercises and tests never reach these URLs. See ``docs/cap.md``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

import psycopg
from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from alerts.cap import ATOM_MEDIA_TYPE, CAP_MEDIA_TYPE, render_atom, render_cap
from alerts.message import AlertMessage
from alerts.model import MsgType
from dashboard.deps import BigintId, Conn, Now, get_base_url

router = APIRouter(tags=["CAP alerts"])

FEED_WINDOW = timedelta(hours=24)  # ended and cancelled alerts stay this long in the feed
RENDERING = "cap-1"  # part of every ETag: bump when the rendering changes
NO_CHANGE = datetime(2000, 1, 1, tzinfo=UTC)  # an empty feed that has never had an entry


@dataclass(frozen=True, slots=True)
class Published:
    """One public outbox row."""

    outbox_id: int
    alert_state: str
    created_at: datetime
    message: AlertMessage


# --------------------------------------------------------------------------- reads


def public_message(
    conn: psycopg.Connection, *, alert_id: int, version: int | None = None
) -> Published | None:
    """A public Actual message of an alert: the given version, or the latest."""
    row = conn.execute(
        """SELECT o.id, a.state, o.created_at, o.payload
           FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id
           WHERE o.alert_id = %(alert)s AND o.public AND o.status = 'Actual'
             AND (%(version)s::integer IS NULL OR o.version = %(version)s::integer)
           ORDER BY o.version DESC LIMIT 1""",
        {"alert": alert_id, "version": version},
    ).fetchone()
    return None if row is None else _complete(conn, [_published(row)])[0]


def current_messages(
    conn: psycopg.Connection, *, now: datetime, window: timedelta = FEED_WINDOW
) -> list[Published]:
    """The feed: the latest public Actual message of each active alert, and the
    all-clears and cancellations sent within ``window``."""
    cutoff = now - window
    rows = conn.execute(
        """SELECT DISTINCT ON (o.alert_id) o.id, a.state, o.created_at, o.payload
           FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id
           WHERE o.public AND o.status = 'Actual'
             AND (a.state IN ('pending', 'active') OR a.updated_at >= %(cutoff)s)
           ORDER BY o.alert_id, o.version DESC""",
        {"cutoff": cutoff},
    ).fetchall()
    current = []
    for published in map(_published, rows):
        m = published.message
        if m.ended or m.msg_type is MsgType.cancel or published.alert_state not in {"pending", "active"}:
            if published.created_at >= cutoff:  # the end of an alert, for a day
                current.append(published)
        else:
            current.append(published)
    return _complete(conn, current)


def last_public_change(conn: psycopg.Connection) -> datetime | None:
    return conn.execute(
        "SELECT max(created_at) FROM alert_outbox WHERE public AND status = 'Actual'"
    ).fetchone()[0]


def _published(row: tuple) -> Published:
    outbox_id, state, created_at, payload = row
    return Published(outbox_id, state, created_at, AlertMessage.model_validate(payload))


def _complete(conn: psycopg.Connection, items: list[Published]) -> list[Published]:
    """Fill in the sent times of referenced messages (CAP names them by
    "sender,identifier,sent") where the payload does not carry them."""
    missing = [p for p in items if p.message.references and not p.message.references_sent]
    if not missing:
        return items
    sent = {
        identifier: datetime.fromisoformat(when)
        for identifier, when in conn.execute(
            """SELECT payload->>'identifier', payload->>'sent' FROM alert_outbox
               WHERE alert_id = ANY(%s)""",
            ([p.message.alert_id for p in missing],),
        ).fetchall()
    }
    done = []
    for p in items:
        m = p.message
        if m.references and not m.references_sent:
            known = [ref for ref in m.references if ref in sent]  # a reference never sent is dropped
            m = m.model_copy(
                update={"references": tuple(known), "references_sent": tuple(sent[r] for r in known)}
            )
            p = Published(p.outbox_id, p.alert_state, p.created_at, m)
        done.append(p)
    return done


# -------------------------------------------------------------------------- routes


@router.get(
    "/api/cap/{alert_id}/{version}.xml",
    summary="One version of a public alert as CAP 1.2",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}}, 304: {"description": "Not modified"}},
)
def cap_version(
    alert_id: BigintId, version: Annotated[int, Path(ge=0, le=2**31 - 1)], request: Request, conn: Conn
) -> Response:
    published = public_message(conn, alert_id=alert_id, version=version)
    if published is None:
        raise HTTPException(404, f"no public CAP message {alert_id}/{version}")
    return _cap_response(request, published, max_age=3600)  # a version never changes


@router.get(
    "/api/cap/{alert_id}.xml",
    summary="The latest version of a public alert as CAP 1.2",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}}, 304: {"description": "Not modified"}},
)
def cap_latest(alert_id: BigintId, request: Request, conn: Conn) -> Response:
    published = public_message(conn, alert_id=alert_id)
    if published is None:
        raise HTTPException(404, f"no public CAP message for alert {alert_id}")
    return _cap_response(request, published, max_age=60)


@router.get(
    "/alerts.atom",
    summary="Atom feed of current public alerts, each linking to its CAP document",
    response_class=Response,
    responses={200: {"content": {ATOM_MEDIA_TYPE: {}}}, 304: {"description": "Not modified"}},
)
def alerts_feed(request: Request, conn: Conn, now: Now) -> Response:
    items = current_messages(conn, now=now)
    base = get_base_url(request)
    updated = max((p.created_at for p in items), default=None) or last_public_change(conn) or NO_CHANGE
    etag = _etag(
        base, request.app.state.cap_sender_name, updated.isoformat(), *(str(p.outbox_id) for p in items)
    )
    headers = _cache_headers(etag, updated, max_age=60)
    if _not_modified(request, etag, updated):
        return Response(status_code=304, headers=headers)
    body = render_atom(
        [p.message for p in items],
        feed_id=f"{base}/alerts.atom",
        title=f"{request.app.state.cap_sender_name} 河川の警戒情報 / River alerts",
        updated=updated,
        self_url=f"{base}/alerts.atom",
        cap_url=lambda m: f"{base}/api/cap/{m.alert_id}/{m.version}.xml",
        author=request.app.state.cap_sender_name,
        tz=request.app.state.zone,
    )
    return Response(body, media_type=ATOM_MEDIA_TYPE, headers=headers)


def _cap_response(request: Request, published: Published, *, max_age: int) -> Response:
    base = get_base_url(request)
    etag = _etag(base, request.app.state.cap_sender_name, str(published.outbox_id))
    headers = _cache_headers(etag, published.created_at, max_age=max_age)
    if _not_modified(request, etag, published.created_at):
        return Response(status_code=304, headers=headers)
    body = render_cap(
        published.message,
        sender_name=request.app.state.cap_sender_name,
        web=f"{base}/",
        tz=request.app.state.zone,
    )
    return Response(body, media_type=CAP_MEDIA_TYPE, headers=headers)


def _etag(*parts: str) -> str:
    digest = hashlib.sha256("\n".join((RENDERING, *parts)).encode()).hexdigest()[:20]
    return f'"{digest}"'


def _cache_headers(etag: str, modified: datetime, *, max_age: int) -> dict[str, str]:
    return {
        "ETag": etag,
        "Last-Modified": format_datetime(modified.astimezone(UTC), usegmt=True),
        "Cache-Control": f"public, max-age={max_age}",
    }


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only without it."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False
