"""A ladder step the database goes away under (PostgreSQL restarting) while it is
being posted: it waits for the database and is posted once, whether the outage hit
before its message was out (the whole step is done when it answers) or after (only
the bookkeeping is). Before, the step stayed `firing` under a live owner for good.
The outage is simulated here, at the two points; tests/test_alertmanager_replicas.py
restarts a real PostgreSQL under two replicas."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from bot import db
from bot.escalation import steps
from bot.incidents import ladder, service
from bot.incidents.ladder import escalation_steps
from bot.localslack.server import LocalSlack
from tests.test_escalation import SCALE, ladder_bot, open_incident, thread_texts, wait_steps

LEAD_ONLY = {"time_scale": SCALE, "steps": [{"minute": 1, "kind": "lead"}]}


def away(times: int, then: Callable[..., Any]) -> Callable[..., Any]:
    """`then`, failing the first `times` calls as psycopg does while the server is down."""
    left = [times]

    def call(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise OperationalError(None, None, Exception(
                'connection failed: connection to server at "127.0.0.1", port 5433 failed: Connection refused'))
        return then(*args, **kwargs)

    return call


@pytest.mark.parametrize("where", ["before the post", "after the post"])
def test_a_step_the_database_goes_away_under_is_posted_once(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str, where: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if where == "before the post":
        monkeypatch.setitem(steps.KINDS, "lead", away(2, steps.KINDS["lead"]))
    else:
        monkeypatch.setattr(steps.pager, "repage", away(2, steps.pager.repage))
    bot = ladder_bot(tmp_path, local_slack, escalation=LEAD_ONLY, incidents={"first_checks": 0})
    try:
        ref = open_incident(bot, unique)
        found = wait_steps(bot, ref, 1, timeout=30)
        assert [(s.status, s.attempts) for s in found] == [("fired", 1)]
        headers = [t for t in thread_texts(bot, ref) if t.startswith(":alarm_clock:")]
        assert len(headers) == 1, headers
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None
        kinds = [e.kind for e in service.timeline(bot.ctx.engine, incident)]
        assert kinds.count("escalation.lead") == 1 and "escalation.failed" not in kinds
    finally:
        bot.close()


def test_a_step_another_owner_took_during_the_outage_is_left_to_it(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An outage longer than the timer lease: the next owner made the step pending and
    claimed it itself. The first owner, when the database answers, does not post it."""
    bot = ladder_bot(tmp_path, local_slack, escalation=LEAD_ONLY, incidents={"first_checks": 0})
    lead = steps.KINDS["lead"]

    def taken_over(ctx: Any, incident: Any, header: str) -> None:
        with db.write(ctx.engine) as conn:
            conn.execute(update(escalation_steps).where(escalation_steps.c.incident_id == incident.id)
                         .values(claimed_by="elsewhere:1:other/1", claimed_at=1.0))
        monkeypatch.setitem(steps.KINDS, "lead", lead)
        away(1, lead)(ctx, incident, header)

    monkeypatch.setitem(steps.KINDS, "lead", taken_over)
    try:
        ref = open_incident(bot, unique)
        incident = service.get(bot.ctx.engine, ref)
        assert incident is not None

        def claimed_elsewhere() -> bool:
            with bot.ctx.engine.connect() as conn:
                return [s.claimed_by for s in ladder.steps(conn, incident.id)] == ["elsewhere:1:other/1"]

        deadline = time.time() + 20
        while not claimed_elsewhere():
            assert time.time() < deadline
            time.sleep(0.05)
        time.sleep(1.5)  # the first owner's next try, a second after the outage
        bot.ctx.work.wait_idle(30)
        assert [t for t in thread_texts(bot, ref) if t.startswith(":alarm_clock:")] == []
        with bot.ctx.engine.connect() as conn:
            assert [s.status for s in ladder.steps(conn, incident.id)] == ["firing"]  # the other owner's to post
    finally:
        bot.close()
