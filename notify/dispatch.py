"""The in-flight dispatcher: claimed jobs go out through their channel's notifier, many
at once, and come back as (job, result) pairs in the order they finish.

For the HTTP channels (Web Push, LINE, gateways) one sender thread keeps every request
in flight over kept-alive connections (:class:`notify.channels.http.Sender`, libcurl's
multi interface), at most the channel's concurrency per channel; e-mail is sent from a
bounded thread pool, one SMTP session per thread. Each answer is written to the
worker's journal (:mod:`notify.journal`) in the thread that receives it, the moment it
arrives, so a kill from then on does not send it again.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from notify.channels.base import Delivery, HttpNotifier, Notifier, Outcome, Result
from notify.channels.http import Response, TransportError
from notify.channels.http import Sender as HttpSender
from notify.errors import NotifyError
from notify.journal import Journal, entry
from notify.queue import Job

# subscription channel → the notifiers' provider name
PROVIDERS = {"webpush": "webpush", "line": "line", "email": "email", "gateway": "webhook"}


class Dispatcher:
    """Sends jobs on the channels of ``notifiers`` (subscription channel → notifier),
    up to ``caps[channel]`` at once per channel."""

    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        *,
        caps: Mapping[str, int],
        compose: Callable[[Job], Delivery],
        journal: Journal | None = None,
    ) -> None:
        self.notifiers = dict(notifiers)
        self.caps = {c: max(1, caps.get(c, 8)) for c in self.notifiers}
        self._compose = compose
        self._journal = journal
        # HTTP channels: every request in flight on one thread; the others (e-mail) in a
        # bounded thread pool each
        self._http = {c: n for c, n in self.notifiers.items() if isinstance(n, HttpNotifier)}
        self._sender = HttpSender(limits={c: self.caps[c] for c in self._http}) if self._http else None
        self._pools = {
            c: ThreadPoolExecutor(max_workers=self.caps[c], thread_name_prefix=f"send-{c}")
            for c in self.notifiers
            if c not in self._http
        }
        self._inflight: dict[Future, Job] = {}
        self._done: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self.count = {c: 0 for c in self.notifiers}  # sends in flight per channel

    def __len__(self) -> int:
        return len(self._inflight)

    def ids(self) -> list[int]:
        """The deliveries in flight."""
        return [job.id for job in self._inflight.values()]

    def submit(self, job: Job) -> None:
        if job.channel in self._http:
            future: Future[Result] = Future()
            self._post(job, self._http[job.channel], future)
        else:
            future = self._pools[job.channel].submit(self._send, job)
        self._inflight[future] = job
        self.count[job.channel] += 1
        future.add_done_callback(self._done.put)

    def finished(self, timeout: float) -> list[tuple[Job, Result]]:
        """Sends finished so far, waiting up to ``timeout`` for the first one, with
        whatever else has finished meanwhile (to be recorded by one statement)."""
        try:
            done = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                break
        pairs = []
        for future in done:
            job = self._inflight.pop(future)
            self.count[job.channel] -= 1
            pairs.append((job, future.result()))
        return pairs

    def _send(self, job: Job) -> Result:
        """Send one delivery and wait for the answer (a thread of a pool)."""
        try:
            result = self.notifiers[job.channel].send(self._compose(job))
        except Exception as error:
            result = _unsendable(job, error)
        return self._journaled(job, result)

    def _post(self, job: Job, notifier: HttpNotifier, future: Future[Result]) -> None:
        """Start one HTTP delivery; ``future`` gets its result when the answer comes."""
        try:
            request = notifier.prepare(self._compose(job))
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

    def _journaled(self, job: Job, result: Result) -> Result:
        if self._journal is not None:  # at once, in the thread with the answer
            self._journal.write(entry(job, result))
        return result

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        if self._sender is not None:
            self._sender.close()
        for notifier in self.notifiers.values():
            if hasattr(notifier, "close"):
                notifier.close()


def _unsendable(job: Job, error: Exception) -> Result:
    """A delivery that could not be sent at all: recorded as failed, never retried, and
    never with the error's text (it may hold an address)."""
    provider = PROVIDERS[job.channel]
    if isinstance(error, NotifyError):  # e.g. the drill guard
        return Result(Outcome.failed, provider, detail=type(error).__name__)
    return Result(Outcome.failed, provider, detail=f"error: {type(error).__name__}")  # a bug or a bad row
