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
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from sqlalchemy import Engine, null, select, true

from bot import db, depth_history, lag_history
from bot.escalation import lease, ladder
from bot.work import WorkPool

if TYPE_CHECKING:
    from bot.context import BotContext

log = logging.getLogger(__name__)
LEASE = "escalation-timers"

_context: BotContext | None = None


def fire(incident_id: int, minute: float) -> None:
    """The job: one step of one incident's ladder is due. The escalator claims due
    steps in batches, so a burst of timers costs one write rather than one each."""
    from bot.escalation import steps

    if _context is None:
        log.warning("escalation step %s:%s fired with no bot running", incident_id, minute)
        return
    if _context.escalator is None:
        steps.run(_context, [(incident_id, minute)])
        return
    _context.escalator.due(incident_id, minute)


class LockedJobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store, writing in turn with the bot's other
    writers (on SQLite a writer that finds the file busy sleeps up to 100 ms), and
    removing fired jobs in batches: the scheduler removes each date job after it
    fires, and one write per timer is what made a burst of timers late. Until the
    batch is written, the doomed jobs are left out of every answer; a crash before
    that only means a job fires again, and its claim then finds the step taken."""

    FLUSH_AFTER = 0.5  # seconds

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine=engine, tablename="apscheduler_jobs")
        self._lock = db.writer_lock(engine)
        self._doomed: set[str] = set()
        self._doomed_lock = threading.Lock()
        self._doomed_since = 0.0

    def _alive(self) -> Any:
        with self._doomed_lock:
            doomed = list(self._doomed)
        return self.jobs_t.c.id.notin_(doomed) if doomed else true()

    def flush(self) -> None:
        with self._doomed_lock:
            doomed, self._doomed = list(self._doomed), set()
        if doomed:
            with self._lock, self.engine.begin() as conn:
                conn.execute(self.jobs_t.delete().where(self.jobs_t.c.id.in_(doomed)))

    def remove_job(self, job_id: str) -> None:
        with self._doomed_lock:
            if not self._doomed:
                self._doomed_since = time.monotonic()
            self._doomed.add(job_id)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return self._get_jobs(self.jobs_t.c.next_run_time <= datetime_to_utc_timestamp(now), self._alive())

    def get_next_run_time(self) -> datetime | None:
        # Called after each round of firing: the moment to write the removals, when enough have gathered.
        if self._doomed and time.monotonic() - self._doomed_since >= self.FLUSH_AFTER:
            self.flush()
        with self.engine.connect() as conn:
            found = conn.execute(select(self.jobs_t.c.next_run_time).where(
                (self.jobs_t.c.next_run_time != null()) & self._alive())
                .order_by(self.jobs_t.c.next_run_time).limit(1)).scalar()
        return utc_timestamp_to_datetime(found)

    def lookup_job(self, job_id: str) -> Job | None:
        self.flush()
        return super().lookup_job(job_id)

    def get_all_jobs(self) -> list[Job]:
        self.flush()
        return super().get_all_jobs()

    def add_job(self, job: Job) -> None:
        self.flush()
        with self._lock:
            super().add_job(job)

    def update_job(self, job: Job) -> None:
        self.flush()
        with self._lock:
            super().update_job(job)

    def remove_all_jobs(self) -> None:
        with self._doomed_lock:
            self._doomed = set()
        with self._lock:
            super().remove_all_jobs()

    def shutdown(self) -> None:
        self.flush()
        super().shutdown()

    def put_jobs(self, jobs: list[Job]) -> None:
        """Store many jobs in one transaction, replacing any with the same id: a burst
        of new incidents costs one commit, not one per step."""
        rows = [{"id": job.id, "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                 "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol)} for job in jobs]
        ids = {r["id"] for r in rows}
        with self._doomed_lock:
            self._doomed -= ids  # a replaced job is alive again
        with self._lock, self.engine.begin() as conn:
            conn.execute(self.jobs_t.delete().where(self.jobs_t.c.id.in_(ids)))
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
        self._due: list[tuple[int, float]] = []
        self._due_ready = threading.Condition()
        self._claimer: threading.Thread | None = None

    def start(self) -> None:
        global _context
        _context = self.ctx
        self.scheduler.start(paused=True)
        self._thread = threading.Thread(target=self._lead, name="escalation-lease", daemon=True)
        self._thread.start()
        self._claimer = threading.Thread(target=self._claim_due, name="escalation-claims", daemon=True)
        self._claimer.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._due_ready:
            self._due_ready.notify_all()
        for thread in (self._thread, self._claimer):
            if thread is not None:
                thread.join(timeout=10)
        if self.leader:
            lease.release(self.ctx.engine, LEASE, self.owner)
        self.scheduler.shutdown(wait=True)
        self.evidence.shutdown(wait=True)

    def notify(self) -> None:
        """New ladder rows were stored: give them timers now, not at the next tick.
        Neither the request that stored them nor the work pool waits for it."""
        self._wake.set()

    def due(self, incident_id: int, minute: float) -> None:
        """A timer went off: queue its step for the next claim."""
        with self._due_ready:
            self._due.append((incident_id, minute))
            self._due_ready.notify()

    def _claim_due(self) -> None:
        """Claim whatever fell due since the last round, in one write. A step left
        here when the process dies is still pending in the database, and the next
        timer owner gives it a timer again (ladder.recover)."""
        from bot.escalation import steps

        while True:
            with self._due_ready:
                self._due_ready.wait_for(lambda: self._due or self._stop.is_set())
                if self._stop.is_set():
                    return
                batch, self._due = self._due, []
            try:
                steps.run(self.ctx, batch)
            except Exception:  # the database is away: keep the steps and try again shortly
                log.exception("escalation timers: could not claim %d due step(s); retrying", len(batch))
                with self._due_ready:
                    self._due[:0] = batch
                self._stop.wait(1.0)

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
