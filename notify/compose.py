"""What a claimed job becomes before it is sent: its address opened in memory, its
message rendered, with the shelters nearest to the subscriber.

A large alert sends one message to many people, so the :class:`Composer` keeps three
caches: the outbox rows' messages, the nearest shelters once per (message, cell), and
the rendering once per (message, language, channel, shelters, link length) — each
subscription's own unsubscribe link is put into a placeholder of the same length
afterwards. Addresses are opened only here, just before sending (:class:`Directory`),
and never logged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import tzinfo
from typing import Any, Protocol

import psycopg
import structlog

from alerts.message import AlertMessage
from kawamori.clock import DEFAULT_ZONE
from kawamori.model import Hazard
from notify.channels.base import Delivery, Recipient
from notify.queue import Job, Queue
from notify.render import Channel, RenderedMessage, Shelter, render, shelters_from

log = structlog.get_logger(__name__)

Cell = tuple[float, float] | None


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


class Composer:
    """Turns jobs into deliveries. :meth:`prepare` runs on the queue's thread (it reads
    the database); :meth:`delivery` may run on any sending thread afterwards."""

    def __init__(
        self,
        directory: Directory,
        *,
        shelters: Callable[[psycopg.Connection], Any] | None = None,
        zone: tzinfo = DEFAULT_ZONE,
    ) -> None:
        self.directory = directory
        self.zone = zone  # the city's: the times in the messages
        self._shelters = shelters
        self._messages: dict[int, AlertMessage] = {}
        self._nearest: dict[tuple[int, Cell], tuple[Shelter, ...]] = {}
        self._rendered: dict[tuple, tuple[RenderedMessage, str]] = {}

    def prepare(self, jobs: Iterable[Job], queue: Queue) -> None:
        """Load new messages from the queue, and the nearest shelters once per
        (message, cell)."""
        jobs = list(jobs)
        missing = sorted({j.outbox_id for j in jobs} - self._messages.keys())
        if missing:
            self._messages.update(queue.messages(missing))
        new = {(j.outbox_id, j.cell) for j in jobs} - self._nearest.keys()
        index = self._shelter_index(queue.conn) if any(cell is not None for _, cell in new) else None
        for outbox_id, cell in new:
            found: tuple[Shelter, ...] = ()
            if index is not None and cell is not None and not self._messages[outbox_id].ended:
                found = shelters_from(
                    index.recommend(latitude=cell[0], longitude=cell[1], hazard=Hazard.flood)
                )
            self._nearest[(outbox_id, cell)] = found

    def _shelter_index(self, conn: psycopg.Connection):
        """The shelters' spatial index (rebuilt by it only when shelters change), or
        ``None``: a message without shelters beats no message."""
        if self._shelters is None:
            return None
        try:
            return self._shelters(conn)
        except Exception as error:
            log.warning("deliver.shelters_unavailable", error=type(error).__name__)
            return None

    def delivery(self, job: Job) -> Delivery:
        """The job's recipient and rendered message (after :meth:`prepare`)."""
        recipient, channel = self.directory.recipient(job.channel, job.sealed, job.subscription_id)
        return Delivery(str(job.id), self._render(job, channel), recipient)

    def _render(self, job: Job, channel: Channel) -> RenderedMessage:
        url = self.directory.unsubscribe_url(job.subscription_id)
        shelters = self._nearest.get((job.outbox_id, job.cell), ())
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
                tz=self.zone,
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
