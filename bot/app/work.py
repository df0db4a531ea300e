"""Work done after a Slack acknowledgement, on a bounded pool of threads.

Slack wants an answer within 3 seconds; anything that talks to a broker or to Slack
runs here instead. The pool counts what is in flight so that the console, the tests
and a graceful shutdown can wait until the bot has finished answering.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot.chat import ChatError
from bot.db import writable

log = logging.getLogger(__name__)


class WorkPool:
    """`lanes` are extra thread budgets for bulk work: the Slack posts of an alert
    storm or of a burst of escalation steps run on their own few threads, so that
    slash commands typed meanwhile are not queued behind them, and so that bulk
    work cannot crowd the webhook's request threads out of the interpreter."""

    def __init__(self, workers: int = 8, lanes: dict[str, int] | None = None) -> None:
        self._lanes = {"default": ThreadPoolExecutor(max_workers=workers, thread_name_prefix="work")}
        for lane, threads in (lanes or {}).items():
            self._lanes[lane] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"work-{lane}")
        self._idle = threading.Condition()
        self._in_flight = 0
        self._queues: dict[str, deque[Callable[[], None]]] = {}
        self._closed = False
        self._dropped = 0

    def submit(
        self, fn: Callable[[], None], *, on_error: Callable[[str], None] | None = None, key: str | None = None,
        lane: str = "default",
    ) -> None:
        """Run fn later. If it raises, the error is logged with a reference that
        on_error receives, so a person can be told something went wrong without a trace.
        Work with the same `key` (say, one incident) runs one at a time, in order:
        a thread's parent message must exist before its replies; a job joining a
        key's queue runs in the lane of the job that started it."""
        pool = self._lanes[lane]
        with self._idle:
            if self._closed:
                # Stopping: what a job still running wants done next is left; an incident
                # not yet announced is announced by the next start's sweep.
                self._dropped += 1
                return
            self._in_flight += 1
            job = self._guarded(fn, on_error)
            if key is None:
                pool.submit(job)
                return
            queue = self._queues.get(key)
            if queue is not None:  # a drainer is already working through this key
                queue.append(job)
                return
            self._queues[key] = deque([job])
        pool.submit(self._drain, key)

    def _drain(self, key: str) -> None:
        while True:
            with self._idle:
                queue = self._queues[key]
                if not queue:
                    del self._queues[key]
                    return
                job = queue.popleft()
            job()

    def _guarded(self, fn: Callable[[], None], on_error: Callable[[str], None] | None) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:
                ref = uuid.uuid4().hex[:8]
                if isinstance(exc, ChatError):
                    # The chat said no, after its own retries: its error code says why,
                    # and a traceback through the HTTP client would bury it.
                    log.warning("background work stopped (ref %s): the chat answered %s", ref, exc.code)
                elif why := writable.refused(exc):  # a disk full or read-only: said once in /readyz too
                    log.warning("background work stopped (ref %s): the database cannot take writes (%s)", ref, why)
                else:
                    log.exception("background work failed (ref %s)", ref)
                if on_error is not None:
                    try:
                        on_error(ref)
                    except Exception:
                        log.exception("could not report failure ref %s", ref)
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

        return run

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def shutdown(self, wait: bool = True, timeout: float = 20.0) -> None:
        """``wait``: let queued work (and what it queues in turn) finish first, for at
        most ``timeout`` seconds; what is left then is not started."""
        if wait and not self.wait_idle(timeout):
            log.warning("stopping with background work still queued after %.0f s", timeout)
        with self._idle:
            self._closed = True
        for pool in self._lanes.values():
            pool.shutdown(wait=wait, cancel_futures=True)
        left = self._dropped + self._in_flight  # cancelled in the pools' queues: never run
        if left:
            log.warning("%d background jobs were not started: the bot was stopping (an incident not yet announced "
                        "is announced at the next start)", left)
