"""The parts under the ladder's timers: claiming due steps in batches (each once,
however many claim together), fired jobs hidden until their removal is written,
and the SQLite writer lock shared with the timer process."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Engine

from bot import db, runbooks
from bot.escalation.scheduler import LockedJobStore
from bot.incidents import ladder, service
from bot.incidents.model import Severity, Subject
from tests.conftest import make_settings


def database(tmp_path: Path) -> tuple[Engine, int]:
    """A database with one incident whose ladder is already due."""
    settings = make_settings(tmp_path)
    engine = db.create(settings.database_url)
    db.migrate(engine)
    incident = service.open_manual(engine, title="Timers", severity=Severity.WARNING,
                                   runbook=runbooks.load_all()["high-consumer-lag"], subject=Subject(group="g"),
                                   actor="U0ALICE", now=time.time() - 3600, settings=settings)
    return engine, incident.id


def test_claim_takes_each_pending_step_once(tmp_path: Path) -> None:
    engine, incident = database(tmp_path)
    keys = [(incident, minute) for minute in (5.0, 10.0, 15.0, 20.0, 30.0)]
    with ThreadPoolExecutor(8) as pool:  # eight claimers racing for the same five steps
        rounds = list(pool.map(lambda n: ladder.claim(engine, keys, time.time(), f"owner-{n}"), range(8)))
    claimed = [step for found in rounds for step in found]
    assert sorted(s.minute for s in claimed) == [5.0, 10.0, 15.0, 20.0, 30.0]
    # opened an hour ago: each step is late by the hour less its minute
    assert all(s.status == "firing" and s.attempts == 1 and s.late_by is not None
               and abs(s.late_by - (3600 - 60 * s.minute)) < 30 for s in claimed)
    assert ladder.claim(engine, keys, time.time(), "owner-0") == []  # fired steps stay fired
    db.dispose(engine)


def test_claim_skips_cancelled_steps(tmp_path: Path) -> None:
    engine, incident = database(tmp_path)
    found = ladder.claim(engine, [(incident, 5.0)], time.time(), "me")
    ladder.finish(engine, found[0], status="fired", now=time.time())
    with engine.connect() as conn:
        steps = ladder.steps(conn, incident)
    fresh = service.list_open(engine)[0]
    service.resolve(engine, fresh, actor="U0ALICE", now=time.time())  # cancels what is pending
    assert ladder.claim(engine, [(incident, s.minute) for s in steps], time.time(), "me") == []
    with engine.connect() as conn:
        assert [s.status for s in ladder.steps(conn, incident)] == ["fired"] + ["cancelled"] * 4
    db.dispose(engine)


def test_fired_jobs_stay_hidden_until_their_removal_is_written(tmp_path: Path) -> None:
    engine, _ = database(tmp_path)
    store = LockedJobStore(engine)
    store.start(None, "default")  # type: ignore[arg-type]  # the scheduler is only needed to run jobs
    past = datetime.now(timezone.utc) - timedelta(seconds=5)
    store.put_date_jobs([("escalate:1:5", past, [1, 5.0]), ("escalate:1:10", past + timedelta(seconds=1), [1, 10.0])])
    now = datetime.now(timezone.utc)
    assert [j.id for j in store.get_due_jobs(now)] == ["escalate:1:5", "escalate:1:10"]

    store.remove_job("escalate:1:5")  # what the scheduler does after firing a date job
    assert [j.id for j in store.get_due_jobs(now)] == ["escalate:1:10"]
    next_run = store.get_next_run_time()
    assert next_run is not None and abs((next_run - (past + timedelta(seconds=1))).total_seconds()) < 0.001
    restarted = LockedJobStore(engine)  # a crash before the removal is written: the job fires again...
    restarted.start(None, "default")  # type: ignore[arg-type]
    assert [j.id for j in restarted.get_due_jobs(now)] == ["escalate:1:5", "escalate:1:10"]

    store.flush()  # ...and once written, it is gone for everyone
    assert [j.id for j in restarted.get_due_jobs(now)] == ["escalate:1:10"]
    assert store.lookup_job("escalate:1:5") is None
    db.dispose(engine)


def _hold_writer_lock(url: str, held: multiprocessing.synchronize.Event, seconds: float) -> None:
    engine = db.create(url)
    with db.write(engine):
        held.set()
        time.sleep(seconds)
    db.dispose(engine)


def test_sqlite_writers_of_two_processes_take_turns(tmp_path: Path) -> None:
    """The timer process writes (claims) while the bot writes: SQLite's own busy
    handler would make one of them sleep and retry; the shared lock makes it wait."""
    engine, _ = database(tmp_path)
    spawn = multiprocessing.get_context("spawn")
    held = spawn.Event()
    other = spawn.Process(target=_hold_writer_lock, args=(db.shareable_url(engine), held, 1.0))
    other.start()
    assert held.wait(30)
    started = time.monotonic()
    with db.write(engine) as conn:
        waited = time.monotonic() - started
        conn.exec_driver_sql("UPDATE incidents SET title = 'after the other writer'")
    other.join(10)
    assert 0.5 < waited < 5, waited
    assert other.exitcode == 0
    db.dispose(engine)


def test_recovery_keeps_the_owners_steps_and_releases_the_unreceived(tmp_path: Path) -> None:
    engine, incident = database(tmp_path)
    child = "host:1:abc/1"  # a timer process of owner host:1:abc
    ladder.claim(engine, [(incident, 5.0), (incident, 10.0), (incident, 15.0)], time.time(), child)
    ladder.recover(engine, "host:1:abc")  # the owner's own timer process: its claims are being posted
    with engine.connect() as conn:
        assert [s.status for s in ladder.steps(conn, incident)][:3] == ["firing"] * 3
    # The child died after handing over the 5-minute step only.
    assert ladder.release_unreceived(engine, child, {(incident, 5.0)}) == 2
    with engine.connect() as conn:
        assert [s.status for s in ladder.steps(conn, incident)] == ["firing", "pending", "pending", "pending",
                                                                    "pending"]
    ladder.recover(engine, "host:2:def")  # another process takes over: every firing step of others is pending
    with engine.connect() as conn:
        assert {s.status for s in ladder.steps(conn, incident)} == {"pending"}
    db.dispose(engine)


def test_timer_process_starts_under_an_unguarded_main_script(tmp_path: Path) -> None:
    """multiprocessing would run the parent's main module again in the child: a
    script without `if __name__ == "__main__"` (here piped on stdin) must neither
    start a second bot there nor keep the timers from running."""
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from pathlib import Path
from tests.conftest import make_settings
from bot.app.localbot import LocalBot
print("bot starting", flush=True)
bot = LocalBot(make_settings(Path({str(tmp_path)!r})))
timers = bot.ctx.escalator.timers
print("timers alive", bool(timers and timers.alive), flush=True)
bot.close()
bot.ctx.close()
"""
    result = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["bot starting", "timers alive True"]
