"""The delivery worker's journal: what each send's peer answered, appended by the
sending thread the moment the answer arrives, before the worker records it in the
database.

Why: a worker records finished sends in batches (one statement every few
milliseconds). A worker killed in between loses the answers it had not recorded yet,
and at least once means those deliveries are sent again. The journal is a plain file
appended with ``os.write``: the kernel keeps it when the process is killed, so the
next worker started on this machine records those answers instead of sending again.
What is left to repeat is only what the peers had received but not yet answered.

One file per worker in ``<data dir>/deliver-journal/``, locked (``flock``) while its
worker lives: a file nobody holds belongs to a dead worker, and :func:`replay_orphans`
hands its entries to the caller, newest attempt per delivery, then deletes it. An entry
holds ids and the outcome only — never an address or a message text (file mode 0600).
A machine crash (not a process kill) may lose the page cache: then it is at least once
as without a journal.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from notify.channels.base import Outcome, Result
from notify.queue import Job

log = structlog.get_logger(__name__)

LIMIT_BYTES = 16 * 1024 * 1024  # the worker pauses claiming until it can empty the file


class Journal:
    def __init__(self, folder: Path, worker: str) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', worker)}.jsonl"
        self.worker = worker
        # made under another name, locked, then renamed: no other worker's replay can
        # take the file for an orphan between its creation and its lock
        fresh = folder / f".{self.path.name}.new"
        self._fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._size = 0
        self.write({"worker": worker})  # the first line names the worker whose claims these are
        os.rename(fresh, self.path)

    def write(self, entry: dict[str, Any]) -> None:
        """One line, one ``write``: with O_APPEND, lines from many threads never interleave."""
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        os.write(self._fd, line)
        self._size += len(line)

    @property
    def full(self) -> bool:
        return self._size >= LIMIT_BYTES

    def empty(self) -> None:
        """Everything written is recorded in the database (call with nothing in flight)."""
        if self._size > 200:
            os.ftruncate(self._fd, 0)
            self._size = 0
            self.write({"worker": self.worker})

    def close(self) -> None:
        """A clean stop: everything is recorded, so the file goes."""
        self.path.unlink(missing_ok=True)
        os.close(self._fd)


def entry(job: Job, result: Result) -> dict[str, Any]:
    """A journal line: ids and the outcome, never an address."""
    return {
        "id": job.id, "outbox_id": job.outbox_id, "subscription_id": str(job.subscription_id),
        "alert_id": job.alert_id, "version": job.version, "channel": job.channel, "attempt": job.attempt,
        "deadline": job.deadline.isoformat(), "outcome": str(result.outcome), "provider": result.provider,
        "status": result.status, "retry_after": result.retry_after, "provider_id": result.provider_id,
        "detail": result.detail,
    }  # fmt: skip


def attempt(e: dict[str, Any]) -> tuple[Job, Result]:
    """The job (its ids: enough to record it) and the result of a journal line."""
    job = Job(
        id=e["id"], outbox_id=e["outbox_id"], subscription_id=uuid.UUID(e["subscription_id"]),
        alert_id=e["alert_id"], version=e["version"], channel=e["channel"], attempt=e["attempt"],
        deadline=datetime.fromisoformat(e["deadline"]),
    )  # fmt: skip
    result = Result(
        Outcome(e["outcome"]),
        e["provider"],
        status=e["status"],
        retry_after=e["retry_after"],
        provider_id=e["provider_id"],
        detail=e["detail"],
    )
    return job, result


def replay_orphans(folder: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(dead worker's name, its newest entry per delivery) for each journal no live
    worker holds; a file is deleted once the caller has taken its entries."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.jsonl")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # another worker took it meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its worker is alive (or another worker is replaying it)
            if not path.exists() or os.stat(path).st_ino != os.fstat(fd).st_ino:
                continue  # replayed and deleted by another worker before we locked it
            with os.fdopen(os.dup(fd), "rb") as lines:
                worker, newest = _read(lines)
            if worker is not None and newest:
                yield worker, list(newest.values())
            log.info("journal.replayed", entries=len(newest))
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _read(lines) -> tuple[str | None, dict[int, dict[str, Any]]]:
    worker: str | None = None
    newest: dict[int, dict[str, Any]] = {}
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # a line cut short by the kill: that send is simply sent again
        if "worker" in entry:
            worker = entry["worker"]
        elif (seen := newest.get(entry["id"])) is None or seen["attempt"] <= entry["attempt"]:
            newest[entry["id"]] = entry
    return worker, newest
