"""The timers behind the ladder: APScheduler 3 with its SQLAlchemy job store on the
bot's own database, one date job per step (`escalate:<incident>:<minute>`). The
process holding the lease gives new steps their jobs, runs them in its timer
process (bot.escalation.timer_process), posts what they claim, and does the duties
the app gives it (bot.app.duties): what one process per database must do.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from sqlalchemy import Engine, null, select, true
from sqlalchemy.exc import SQLAlchemyError

from bot import db
from bot.db import writable
from bot.escalation import lease
from bot.escalation.timer_process import TimerLink
from bot.incidents import ladder
from bot.incidents.ladder import Step

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)
LEASE = "escalation-timers"


def fire(incident_id: int, minute: float) -> None:
    """The function every job names: APScheduler stores a reference to a module-level
    function in each job's row (rows of earlier releases name this one too). It is
    never called: the timer process hands each due job's step to its claimer instead
    of running the job (timer_process.HandOver)."""
    log.warning("escalation step %s:%s fired outside the timer process", incident_id, minute)


@dataclass(frozen=True)
class Duty:
    """Work the app gives the timer owner, because one process per database must do
    it. It runs at the first tick after this process takes the lease, then every
    `every` seconds while it holds it (0: every tick; None: only at taking it)."""

    name: str
    every: float | None
    run: Callable[[BotContext], object]


class LockedJobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store, writing in turn with the bot's other
    writers (on SQLite a writer that finds the file busy sleeps up to 100 ms), and
    removing fired jobs in batches: the scheduler removes each date job after it
    fires, and a write per timer in the scheduler's loop is what made a burst of
    timers late. The timer process writes the removals after each round of claims
    (`flush`); until then the doomed jobs are left out of every answer. A crash
    before that only means a job fires again, and its claim finds the step taken."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine=engine, tablename="apscheduler_jobs")
        self._lock = db.writer_lock(engine)
        self._doomed: set[str] = set()
        self._doomed_lock = threading.Lock()

    def _alive(self) -> Any:
        with self._doomed_lock:
            doomed = list(self._doomed)
        return self.jobs_t.c.id.notin_(doomed) if doomed else true()

    def flush(self) -> None:
        with self._doomed_lock:
            doomed = list(self._doomed)
        if doomed:
            self.delete_now(doomed)
            with self._doomed_lock:  # only now: until the rows are gone they must stay hidden
                self._doomed.difference_update(doomed)

    def remove_job(self, job_id: str) -> None:
        with self._doomed_lock:
            self._doomed.add(job_id)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return self._get_jobs(self.jobs_t.c.next_run_time <= datetime_to_utc_timestamp(now), self._alive())

    def get_next_run_time(self) -> datetime | None:
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

    def delete_now(self, job_ids: list[str]) -> None:
        with db.write(self.engine) as conn:
            conn.execute(self.jobs_t.delete().where(self.jobs_t.c.id.in_(job_ids)))

    def put_date_jobs(self, specs: list[tuple[str, datetime, list[Any]]]) -> None:
        """Date jobs of `fire` in one transaction, replacing any with the same id: a
        burst of new incidents costs one commit, not one per step. What the
        scheduler's add_job does for one job (defaults, trigger, next run time)
        done for each; the timer process is woken by its owner afterwards."""
        jobs = []
        for job_id, run_date, args in specs:
            job = Job(_JOB_FACTORY, id=job_id, func=fire, trigger=DateTrigger(run_date=run_date, timezone=timezone.utc),
                      executor="default", args=tuple(args), kwargs={}, name="fire", misfire_grace_time=None,
                      coalesce=True, max_instances=1, next_run_time=run_date)
            jobs.append(job)
        rows = [{"id": job.id, "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                 "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol)} for job in jobs]
        ids = {r["id"] for r in rows}
        with db.write(self.engine) as conn:
            conn.execute(self.jobs_t.delete().where(self.jobs_t.c.id.in_(ids)))
            conn.execute(self.jobs_t.insert(), rows)


# Jobs need a scheduler for its time zone only; this one is never started.
_JOB_FACTORY = BackgroundScheduler(timezone=timezone.utc)


class Escalator:
    """The ladder's timers for one bot process: the lease decides whether this
    process owns them; the owner gives new steps their timers, runs the timer
    process, and posts the evidence of the steps it claims."""

    GATHER = 0.05  # seconds to wait for more new incidents before giving them timers

    def __init__(self, ctx: BotContext, duties: Sequence[Duty] = (), *, log_filter: logging.Filter | None = None,
                 lease_ttl: float = 10.0, tick: float = 1.0) -> None:
        self.ctx = ctx
        self.duties = tuple(duties)
        self.log_filter = log_filter  # for the timer process's log (it hides secrets as the bot's log does)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_ttl, self.tick = lease_ttl, tick
        self.leader = False
        self.store = LockedJobStore(ctx.engine)
        self.store.start(_JOB_FACTORY, "default")  # creates its table if need be
        self.timers: TimerLink | None = None
        self.problem: str | None = None
        self._generation = 0  # how many timer processes this process started
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sync_lock = threading.Lock()
        self._done: dict[str, float] = {}  # duty -> start of its last successful run in this lease
        self._thread: threading.Thread | None = None
        self._away = False  # the database was unreachable at the last tick (said once)

    def start(self) -> None:
        try:
            self._tick()  # the first turn before serving: a bot that owns the timers starts with them running
        except Exception:
            log.exception("escalation timers: first tick failed; retrying in the background")
        self._thread = threading.Thread(target=self._lead, name="escalation-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._stop_timers()
        if self.leader:
            try:
                lease.release(self.ctx.engine, LEASE, self.owner)
            except SQLAlchemyError as exc:  # it expires by itself; the next owner waits lease_ttl
                log.warning("could not release the escalation lease: %s", type(exc).__name__)

    def notify(self) -> None:
        """New ladder rows were stored: give them timers now, not at the next tick.
        Neither the request that stored them nor the work pool waits for it."""
        self._wake.set()

    def _lead(self) -> None:
        last_tick = time.monotonic()
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_tick >= self.tick:
                    last_tick = time.monotonic()
                    self._tick()
                elif self.leader:
                    self.sync()
            except Exception as exc:  # a database outage must not end the timers: try again next tick
                self._failed(exc, "escalation timers: tick failed")
            else:
                if self._away:
                    log.warning("escalation timers: the database answers again")
                    self._away = False
            if self._wake.wait(max(0.0, self.tick - (time.monotonic() - last_tick))):
                # New incidents come in bursts: give the ones arriving with this one
                # their timers in the same write.
                self._stop.wait(self.GATHER)
            self._wake.clear()

    def _failed(self, exc: Exception, what: str) -> None:
        """A database that is away (stopped, restarting) is said in one line when it
        goes and one when it is back, not a traceback every tick; anything else is."""
        if why := writable.refused(exc):
            log.warning("%s: the database cannot take writes (%s)", what, why)
            return
        if not writable.unreachable(exc):  # (a connection the server ended counts as unreachable)
            log.exception(what)
            return
        if not self._away:
            cause = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
            log.warning("%s: the database is unreachable (%s); trying again every %g s", what, cause, self.tick)
        self._away = True

    def _tick(self) -> None:
        holds = lease.hold(self.ctx.engine, LEASE, self.owner, self.lease_ttl)
        if holds and not self.leader:
            log.info("this process now runs the escalation timers (%s)", self.owner)
            self.leader = True
            self._done.clear()  # what the previous owner did is not known here: every duty is due
        elif not holds and self.leader:
            log.warning("lost the escalation lease; another process runs the timers now")
            self.leader = False
            self._stop_timers()
        if self.leader:
            self._ensure_timers()
            self.sync()
            self._run_duties()

    def _run_duties(self) -> None:
        for duty in self.duties:
            last = self._done.get(duty.name)
            if last is not None and (duty.every is None or time.monotonic() - last < duty.every):
                continue
            started = time.monotonic()
            try:
                duty.run(self.ctx)
            except Exception as exc:  # one failing duty must not stop the others, nor the ladder
                self._failed(exc, f"timer owner duty {duty.name} failed; trying again at the next tick")
                continue
            self._done[duty.name] = started

    def _ensure_timers(self) -> None:
        """A timer process that will not start must not stop the owner's duties: it
        is reported in /readyz and tried again at every tick."""
        if self.timers is not None and self.timers.alive:
            return
        if self.timers is not None:
            log.warning("escalation timer process ended; starting another")
        try:
            self._start_timers()
        except Exception as exc:  # noqa: BLE001 - any failure to start is reported, then retried
            if self.problem != str(exc):
                log.error("escalation timers cannot run: %s", exc)
            self.problem = str(exc)

    def _start_timers(self) -> None:
        """Steps that failed, or that a dead owner was firing, become pending again,
        and every pending step gets its timer anew in the new timer process."""
        self._stop_timers()
        ladder.recover(self.ctx.engine, self.owner)
        self._generation += 1
        self.timers = TimerLink(db.shareable_url(self.ctx.engine), f"{self.owner}/{self._generation}",
                                self._claimed, LockedJobStore, self.log_filter)
        self.problem = None

    def status(self) -> str:
        """For /readyz: raises while this process owns the timers but cannot run them."""
        if not self.leader:
            return "standby: another process runs the escalation timers"
        if self.timers is None or not self.timers.alive:
            raise RuntimeError(self.problem or "the escalation timer process is not running")
        return f"running the escalation timers (process {self.timers.pid})"

    def _stop_timers(self) -> None:
        if self.timers is not None:
            ended, self.timers = self.timers, None
            ended.stop()
            try:
                lost = ladder.release_unreceived(self.ctx.engine, ended.owner, ended.received)
            except SQLAlchemyError as exc:  # they stay claimed; the next timer owner recovers them
                log.warning("could not release the steps of the ended timer process: %s", type(exc).__name__)
                return
            if lost:
                log.warning("the timer process ended holding %d claimed step(s); they fire again", lost)

    def _claimed(self, claimed: list[Step]) -> None:
        from bot.escalation import steps

        steps.dispatch(self.ctx, claimed)

    def sync(self) -> int:
        """Give every pending step without a timer its timer (one caller at a time:
        two would give a step two timers)."""
        with self._sync_lock:
            found = ladder.unscheduled(self.ctx.engine)
            if not found:
                return 0
            self.store.put_date_jobs([
                (step.job_id, datetime.fromtimestamp(step.due_at, tz=timezone.utc), [step.incident_id, step.minute])
                for step in found])
            ladder.mark_scheduled(self.ctx.engine, found)
        if self.timers is not None:
            self.timers.wake()
        return len(found)

    def forget(self, incident_id: int) -> None:
        """Drop the timers of a resolved incident (its steps were cancelled with the
        resolution; a timer left behind would find nothing to do anyway)."""
        with self.ctx.engine.connect() as conn:
            found = ladder.steps(conn, incident_id)
        cancelled = [step.job_id for step in found if step.status == "cancelled"]
        if cancelled:
            self.store.delete_now(cancelled)
