"""The timers behind the ladder: APScheduler 3 with its SQLAlchemy job store on the
bot's own database. Every process keeps a paused scheduler so it can add jobs to
the shared store; only the lease holder resumes it and fires steps.

Job functions are module-level (APScheduler pickles a reference to them) and find
the running bot through `_context`, set when the escalator starts.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.job import Job
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import datetime_to_utc_timestamp
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from sqlalchemy import Engine

from bot import db, depth_history, lag_history
from bot.escalation import lease, ladder
from bot.work import WorkPool

if TYPE_CHECKING:
    from bot.context import BotContext

log = logging.getLogger(__name__)
LEASE = "escalation-timers"

_context: BotContext | None = None


def fire(incident_id: int, minute: float) -> None:
    """The job: run one step of one incident's ladder."""
    from bot.escalation import steps

    if _context is None:
        log.warning("escalation step %s:%s fired with no bot running", incident_id, minute)
        return
    steps.run(_context, incident_id, minute)


class LockedJobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store, writing in turn with the bot's other
    writers: on SQLite a writer that finds the file busy sleeps up to 100 ms."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine=engine, tablename="apscheduler_jobs")
        self._lock = db.writer_lock(engine)

    def add_job(self, job: Job) -> None:
        with self._lock:
            super().add_job(job)

    def update_job(self, job: Job) -> None:
        with self._lock:
            super().update_job(job)

    def remove_job(self, job_id: str) -> None:
        with self._lock:
            super().remove_job(job_id)

    def put_jobs(self, jobs: list[Job]) -> None:
        """Store many jobs in one transaction, replacing any with the same id: a burst
        of new incidents costs one commit, not one per step."""
        rows = [{"id": job.id, "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                 "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol)} for job in jobs]
        with self._lock, self.engine.begin() as conn:
            conn.execute(self.jobs_t.delete().where(self.jobs_t.c.id.in_([r["id"] for r in rows])))
            conn.execute(self.jobs_t.insert(), rows)


class QuietScheduler(BackgroundScheduler):
    """A scheduler whose `quiet()` block adds jobs without waking it for each one: a
    wakeup rescans the job store, and a burst of new incidents would spend its time
    rescanning. Unlike pausing, due jobs keep firing meanwhile."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._quiet = threading.local()

    def wakeup(self) -> None:
        if not getattr(self._quiet, "on", False):
            super().wakeup()

    @contextmanager
    def quiet(self) -> Iterator[None]:
        self._quiet.on = True
        try:
            yield
        finally:
            self._quiet.on = False
            self.wakeup()

    def add_date_jobs(self, store: LockedJobStore, specs: list[tuple[str, datetime, list[Any]]]) -> None:
        """Date jobs of `fire` in one write, then one wakeup; what add_job does for one
        job (defaults, trigger, next run time) done for each."""
        jobs = []
        for job_id, run_date, args in specs:
            job = Job(self, id=job_id, func=fire, trigger=DateTrigger(run_date=run_date, timezone=timezone.utc),
                      executor="default", args=tuple(args), kwargs={}, name="fire", misfire_grace_time=None,
                      coalesce=True, max_instances=1, next_run_time=run_date)
            job._jobstore_alias = "default"  # noqa: SLF001 - what _real_add_job sets
            jobs.append(job)
        with self._jobstores_lock:
            store.put_jobs(jobs)
        self.wakeup()


class Escalator:
    def __init__(self, ctx: BotContext, *, lease_ttl: float = 10.0, tick: float = 1.0) -> None:
        self.ctx = ctx
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_ttl, self.tick = lease_ttl, tick
        self.leader = False
        self.store = LockedJobStore(ctx.engine)
        self.scheduler = QuietScheduler(
            jobstores={"default": self.store},
            executors={"default": ThreadPoolExecutor(10)},
            # Run a step however late (the bot was down), once, never twice at a time.
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=timezone.utc,
        )
        # The evidence and pings of fired steps: few threads, so that a burst of steps
        # (an outage opens many incidents at once) cannot starve the timers of the GIL.
        self.evidence = WorkPool(workers=2)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sync_lock = threading.Lock()
        self._pruned = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        global _context
        _context = self.ctx
        self.scheduler.start(paused=True)
        self._thread = threading.Thread(target=self._lead, name="escalation-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.leader:
            lease.release(self.ctx.engine, LEASE, self.owner)
        self.scheduler.shutdown(wait=True)
        self.evidence.shutdown(wait=True)

    def notify(self) -> None:
        """New ladder rows were stored: give them timers now, not at the next tick.
        Neither the request that stored them nor the work pool waits for it."""
        self._wake.set()

    def _lead(self) -> None:
        last_tick = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_tick >= self.tick:
                    last_tick = time.monotonic()
                    self._tick()
                else:
                    self.sync()
                    if self.leader:
                        self.scheduler.wakeup()
            except Exception:  # a database outage must not end the timers: try again next tick
                log.exception("escalation timers: tick failed")
            self._wake.wait(max(0.0, self.tick - (time.monotonic() - last_tick)))
            self._wake.clear()

    def _tick(self) -> None:
        holds = lease.hold(self.ctx.engine, LEASE, self.owner, self.lease_ttl)
        if holds and not self.leader:
            log.info("this process now runs the escalation timers (%s)", self.owner)
            ladder.recover(self.ctx.engine, self.owner)
            from bot.approvals import flow

            flow.resume(self.ctx)  # approvals a stopped timer owner left half-done
            self.leader = True
            self.sync()
            self.scheduler.resume()
        elif not holds and self.leader:
            log.warning("lost the escalation lease; another process runs the timers now")
            self.leader = False
            self.scheduler.pause()
        if self.leader:
            self.sync()
            self.scheduler.wakeup()  # pick up jobs other processes added to the store
            from bot.approvals import flow  # the timer owner also expires undecided approvals

            flow.expire_due(self.ctx)
            if time.monotonic() - self._pruned > 3600:  # and keeps the sample tables a week long
                self._pruned = time.monotonic()
                lag_history.prune(self.ctx.engine, time.time())
                depth_history.prune(self.ctx.engine, time.time())

    def sync(self) -> int:
        """Give every pending step without a timer its timer (one caller at a time:
        two would give a step two timers)."""
        with self._sync_lock:
            return self._sync()

    def _sync(self) -> int:
        found = ladder.unscheduled(self.ctx.engine)
        if not found:
            return 0
        self.scheduler.add_date_jobs(self.store, [
            (step.job_id, datetime.fromtimestamp(step.due_at, tz=timezone.utc), [step.incident_id, step.minute])
            for step in found])
        ladder.mark_scheduled(self.ctx.engine, found)
        return len(found)

    def forget(self, incident_id: int) -> None:
        """Drop the timers of a resolved incident (its steps were cancelled with the
        resolution; a timer left behind would find nothing to do anyway)."""
        with self.ctx.engine.connect() as conn:
            found = ladder.steps(conn, incident_id)
        for step in found:
            if step.status == "cancelled":
                try:
                    self.scheduler.remove_job(step.job_id)
                except JobLookupError:
                    pass  # fired already, or never scheduled
