"""The escalation timers in a process of their own.

A bot under load (an outage opens hundreds of incidents, each posting evidence)
keeps its one interpreter busy, and a timer thread inside it waits its turn for
the GIL: steps fell due seconds late. So the timer owner starts a small child
process that only runs APScheduler on the shared job store and claims due steps
(the compare-and-set in the database, the moment a step counts as fired); it
hands the claimed steps back over a pipe, and the bot posts their evidence.

The child is forked from multiprocessing's fork server (never from the threaded
bot), writes in turn with the bot through the database's writer lock, and ends
when the bot does: a closed pipe means the parent is gone, even after SIGKILL.
Each child claims under its own name (`<bot owner>/<n>`). A step it claimed but
never handed over (it died in between) is made pending again when the bot starts
the next child; one claimed but not yet posted when the bot dies is `firing` under
a dead owner, and the next timer owner makes it pending again (ladder.recover).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from multiprocessing import spawn
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler

from bot import db
from bot.db import writable
from bot.incidents import ladder
from bot.incidents.ladder import Step

if TYPE_CHECKING:
    from bot.escalation.scheduler import LockedJobStore

log = logging.getLogger(__name__)
WAKE, STOP, READY = "wake", "stop", "ready"
START_TIMEOUT = 60.0  # seconds; the first start also starts the fork server

_context = multiprocessing.get_context("forkserver")


_main_lock = threading.Lock()


@contextmanager
def _without_main() -> Iterator[None]:
    """Start the child without multiprocessing's habit of running the parent's main
    module again in it: the timer process needs nothing from it, and a main script
    that does not guard its start (or one piped on stdin) would start a second bot
    inside it, or fail. multiprocessing has no switch for this; its preparation
    data is filtered while our child starts."""
    original = spawn.get_preparation_data

    def without(name: str) -> dict[str, Any]:
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    with _main_lock:
        spawn.get_preparation_data = without  # type: ignore[assignment]
        try:
            yield
        finally:
            spawn.get_preparation_data = original  # type: ignore[assignment]


# ---------------------------------------------------------------- in the bot

class TimerLink:
    """The bot's end: start the child, wake it when new timers are stored, take the
    steps it claimed. The child runs its timers on `store` (a job store class, given
    the child's engine) and logs through `log_filter`."""

    def __init__(self, database_url: str, owner: str, on_claimed: Callable[[list[Step]], None],
                 store: type[LockedJobStore], log_filter: logging.Filter | None = None) -> None:
        self.owner = owner  # what the child's claims are recorded under
        self.received: set[tuple[int, float]] = set()  # the steps it handed over
        self._closing = threading.Event()
        self._ours, theirs = _context.Pipe()
        # The fork server (started once, by the first child) imports the store's module
        # up front, so that every later child starts with it loaded.
        _context.set_forkserver_preload([__name__, store.__module__])
        self._process: BaseProcess = _context.Process(target=serve, args=(database_url, owner, theirs, store,
                                                                          log_filter),
                                                      name="incidentbot-timers", daemon=True)
        with _without_main():
            self._process.start()
        theirs.close()
        # Return once the child runs its timers, so that the bot serves with its ladder working.
        try:
            started = self._ours.poll(START_TIMEOUT) and self._ours.recv() == READY
        except (EOFError, OSError):
            started = False
        if not started:
            self._process.kill()
            self._ours.close()
            raise RuntimeError(f"the escalation timer process did not start (exit code {self._process.exitcode})")
        self._send_lock = threading.Lock()
        self._on_claimed = on_claimed
        self._reader = threading.Thread(target=self._read, name="escalation-timer-link", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive() and self._reader.is_alive()

    def _send(self, message: str) -> None:
        with self._send_lock:
            try:
                self._ours.send(message)
            except (OSError, ValueError):
                pass  # the child is gone; the escalator starts another at its next tick

    def wake(self) -> None:
        self._send(WAKE)

    def _read(self) -> None:
        while True:
            try:
                claimed: list[Step] = self._ours.recv()
            except (EOFError, OSError):
                return
            while True:  # claimed steps exist only here now: keep them until the bot took them
                try:
                    self._on_claimed(claimed)
                    break
                except Exception:
                    log.exception("escalation timers: could not take %d claimed step(s); retrying", len(claimed))
                    if self._closing.wait(1.0):
                        return  # not received: the next timer process makes them pending again
            self.received.update((step.incident_id, step.minute) for step in claimed)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child; afterwards `received` is complete."""
        self._send(STOP)
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._closing.set()
        self._reader.join(timeout)
        self._ours.close()


# ---------------------------------------------------------------- in the child

class HandOver(BaseExecutor):
    """The child's executor: a due job is not run, its step (the job's arguments) is
    handed to the claimer, which claims whatever fell due together in one write."""

    def __init__(self, due: Callable[[int, float], None]) -> None:
        super().__init__()
        self._due = due

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self._due(*job.args)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        raise NotImplementedError("submit_job hands the step over; no job is ever run")


class _Timers:
    def __init__(self, database_url: str, owner: str, link: Connection, store: type[LockedJobStore]) -> None:
        self.engine = db.create(database_url)
        self.owner, self.link = owner, link
        self.store = store(self.engine)
        self.scheduler = BackgroundScheduler(
            jobstores={"default": self.store},
            executors={"default": HandOver(self.due)},
            # Run a step however late (the bot was down), once, never twice at a time.
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            # After the job store could not be read (the database restarting), look
            # again in 2 s, not APScheduler's 10: steps due meanwhile fire that much sooner.
            jobstore_retry_interval=2,
            timezone=timezone.utc,
        )
        self._due: list[tuple[int, float]] = []
        self._due_ready = threading.Condition()
        self._stop = threading.Event()

    def due(self, incident_id: int, minute: float) -> None:
        with self._due_ready:
            self._due.append((incident_id, minute))
            self._due_ready.notify()

    def claim_due(self) -> None:
        """Claim whatever fell due since the last round, in one write, and hand it
        to the bot; then write the fired jobs' removal."""
        while True:
            with self._due_ready:
                self._due_ready.wait_for(lambda: self._due or self._stop.is_set())
                if not self._due:
                    return  # stopping, with nothing left to claim
                batch, self._due = self._due, []
            try:
                claimed = ladder.claim(self.engine, batch, time.time(), self.owner)
                self.store.flush()
            except Exception as exc:  # the database is away: keep the steps and try again shortly
                if writable.unreachable(exc):  # one line a second, not a traceback
                    log.warning("escalation timers: could not claim %d due step(s), the database is unreachable; "
                                "retrying", len(batch))
                else:
                    log.exception("escalation timers: could not claim %d due step(s); retrying", len(batch))
                with self._due_ready:
                    self._due[:0] = batch
                self._stop.wait(1.0)
                continue
            if claimed:
                try:
                    self.link.send(claimed)
                except OSError:
                    os._exit(0)  # the bot is gone; its successor recovers these steps

    def run(self) -> None:
        claimer = threading.Thread(target=self.claim_due, name="escalation-claims", daemon=True)
        claimer.start()
        self.scheduler.start()
        self.link.send(READY)
        try:
            while True:
                try:
                    message = self.link.recv()
                except (EOFError, OSError):
                    break  # the bot is gone
                if message == STOP:
                    break
                self.scheduler.wakeup()
        finally:
            self.scheduler.shutdown(wait=False)
            with self._due_ready:
                self._stop.set()
                self._due_ready.notify_all()
            claimer.join(5)
            try:
                self.store.flush()
            except Exception:
                pass  # a fired job left in the store fires again and finds its step taken
            db.dispose(self.engine)


def serve(database_url: str, owner: str, link: Connection, store: type[LockedJobStore],
          log_filter: logging.Filter | None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if log_filter is not None:
        handler.addFilter(log_filter)
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    _Timers(database_url, owner, link, store).run()
