"""Live alert changes for the console: one ``LISTEN kawamori_alerts`` connection per
dashboard process, fanned out to every open event stream (server-sent events).

The listener starts with the first subscriber and reconnects with capped backoff;
while it is down, subscribers get nothing and the page's polling fallback carries on.
Each stream only learns *which* alert changed; the page then fetches it through the
API, with its own session and role.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from kawamori.db import ALERTS_CHANNEL

log = logging.getLogger(__name__)
QUEUE_SIZE = 256  # a stream that falls this far behind gets one "resync" instead


class AlertFeed:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.subscribers: set[asyncio.Queue[str]] = set()
        self.task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._listen())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self.subscribers.discard(queue)

    def publish(self, payload: str) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait("resync")

    async def _listen(self) -> None:
        backoff = 0.5
        while self.subscribers:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.database_url, autocommit=True, application_name="kawamori-dashboard-live"
                ) as conn:
                    await conn.execute(f"LISTEN {ALERTS_CHANNEL}")
                    self.connected.set()
                    backoff = 0.5
                    self.publish("resync")  # anything missed while (re)connecting
                    while self.subscribers:
                        async for notify in conn.notifies(timeout=30):
                            self.publish(notify.payload)
                        await conn.execute("SELECT 1")  # notices a dead connection
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is down: retry, the page polls meanwhile
                log.warning("alert feed: %s; retrying in %.1f s", type(error).__name__, backoff)
            self.connected.clear()
            if self.subscribers:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15)

    async def close(self) -> None:
        self.subscribers.clear()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
