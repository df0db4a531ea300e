"""The timer owner's duties: run while this process holds the escalation lease, each
at its pace, all again when it takes the lease anew; a failing one stops nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert, select

from bot import db
from bot.app.duties import prune_samples
from bot.escalation import lease
from bot.escalation.scheduler import LEASE, Duty, Escalator
from bot.evidence import depth_history, lag_history


@pytest.fixture
def escalator(tmp_path: Path) -> Iterator[tuple[Escalator, dict[str, int]]]:
    engine = db.create(f"sqlite:///{tmp_path / 'bot.db'}")
    db.migrate(engine)
    runs: dict[str, int] = {"once": 0, "each": 0, "hourly": 0, "broken": 0}

    def counting(name: str) -> Any:
        def run(_ctx: object) -> None:
            runs[name] += 1
            if name == "broken":
                raise RuntimeError("the database said no")
        return run

    duties = [Duty("once", None, counting("once")), Duty("broken", 0.0, counting("broken")),
              Duty("each", 0.0, counting("each")), Duty("hourly", 3600.0, counting("hourly"))]
    made = Escalator(SimpleNamespace(engine=engine), duties, lease_ttl=10)  # type: ignore[arg-type]
    made._ensure_timers = lambda: None  # type: ignore[method-assign]  # no timer process: not what is tested
    yield made, runs
    made.store.shutdown()
    db.dispose(engine)


def test_duties_run_at_their_pace_while_the_lease_is_held(escalator: tuple[Escalator, dict[str, int]]) -> None:
    esc, runs = escalator
    for _ in range(3):
        esc._tick()
    assert esc.leader
    assert runs == {"once": 1, "each": 3, "hourly": 1, "broken": 3}  # the broken one is retried, stops nothing
    esc._done["hourly"] -= 3600  # an hour later
    esc._tick()
    assert runs["hourly"] == 2 and runs["once"] == 1


def test_a_process_without_the_lease_runs_none_and_a_new_lease_runs_all(
        escalator: tuple[Escalator, dict[str, int]]) -> None:
    esc, runs = escalator
    esc._tick()
    other = "otherhost:1:x"
    assert lease.hold(esc.ctx.engine, LEASE, other, ttl=10, now=time.time() + 11)  # ours expired: taken over
    esc._tick()
    assert not esc.leader
    before = dict(runs)
    esc._tick()
    assert runs == before
    lease.release(esc.ctx.engine, LEASE, other)
    esc._tick()
    assert esc.leader
    assert runs["once"] == 2 and runs["hourly"] == 2  # the new owner cannot know what the last one did


def test_pruning_keeps_a_week_of_samples(tmp_path: Path) -> None:
    engine = db.create(f"sqlite:///{tmp_path / 'bot.db'}")
    db.migrate(engine)
    now = time.time()
    with db.write(engine) as conn:
        for taken in (now - 8 * 86400, now - 6 * 86400):
            conn.execute(insert(lag_history.lag_samples).values(cluster="c", group_id="g", topic="t", partition=0,
                                                                committed=1, log_end=2, taken_at=taken))
            conn.execute(insert(depth_history.depth_samples).values(kind="kafka-dlq", cluster="c", name="d",
                                                                    taken_at=taken, data={}))
    prune_samples(SimpleNamespace(engine=engine))  # type: ignore[arg-type]
    with engine.connect() as conn:
        for table in (lag_history.lag_samples, depth_history.depth_samples):
            assert conn.execute(select(table.c.taken_at)).scalars().all() == [now - 6 * 86400]
    db.dispose(engine)
