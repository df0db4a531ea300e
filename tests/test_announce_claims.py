"""Announcing a new incident (its parent message and checklist) is claimed in the
database like a ladder step: racing replicas post it once, a claim left by a dead
replica is taken over by the timer owner's duty, and after a restart the sweep and
the new alerts' own work do not both post it (issue #12)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from bot import db
from bot.alerts import models
from bot.app.localbot import LocalBot
from bot.db import owners
from bot.incidents import flows, ingest, service
from bot.incidents.model import Incident
from bot.incidents.tables import incidents
from bot.localslack.server import LocalSlack
from tests.conftest import TOKEN, free_port


def wait_for(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def store_alert(bot: LocalBot, unique: str, n: int) -> Incident:
    """An alert stored as the webhook stores it, but whose announcement never ran."""
    batch = models.parse("generic", {"title": f"Storm {unique} #{n}", "dedup_key": f"{unique}-{n}",
                                     "labels": {"consumergroup": f"storm-{unique}-{n}"}})
    outcome = ingest.receive(bot.ctx.engine, bot.ctx.settings, bot.ctx.runbooks, batch, time.time(),
                             bot.ctx.caches.alert_groups)
    assert outcome.created and outcome.incident is not None
    return outcome.incident


def claim_as(bot: LocalBot, incident: Incident, owner: str | None, until: float | None) -> None:
    with db.write(bot.ctx.engine) as conn:
        conn.execute(update(incidents).where(incidents.c.id == incident.id)
                     .values(announce_owner=owner, announce_until=until))


def posts(bot: LocalBot, ref: str) -> tuple[int, int]:
    """How many parent messages were posted for `ref`, and how many checklists into their threads."""
    calls = bot.slack.state.calls("chat.postMessage")
    parents = [m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts)]
    parent_posts = [c for c in calls if ref in str(c.params.get("text")) and not c.params.get("thread_ts")]
    threads = {m.ts for m in parents}
    checklists = [c for c in calls if c.params.get("thread_ts") in threads
                  and str(c.params.get("text")).startswith("Runbook:")]
    return len(parent_posts), len(checklists)


def announced(bot: LocalBot, incident: Incident) -> bool:
    with bot.ctx.engine.connect() as conn:
        return conn.execute(incidents.select().where(incidents.c.id == incident.id)).one().announced_at is not None


def dead_local_owner() -> str:
    """The name a process of this host had, which has ended."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return f"{socket.gethostname()}:{ended.pid}:gone"


def test_two_replicas_racing_post_one_parent_and_one_checklist(quiet_bot: LocalBot, unique: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    incident = store_alert(quiet_bot, unique, 0)
    claim_as(quiet_bot, incident, None, None)  # as if nobody had claimed it yet
    names: dict[int, str] = {}
    monkeypatch.setattr(owners, "this_process", lambda: names[threading.get_ident()])
    start = threading.Barrier(4)
    results: list[Incident | None] = []

    def replica(name: str) -> None:
        names[threading.get_ident()] = name
        start.wait()
        results.append(flows.announce(quiet_bot.ctx, incident))

    threads = [threading.Thread(target=replica, args=(f"replica-{i}.example:{100 + i}:r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r is not None for r in results) == 1, results
    monkeypatch.undo()
    quiet_bot.ctx.work.wait_idle(10)
    assert posts(quiet_bot, incident.ref) == (1, 1)
    assert quiet_bot.slack.state.calls("chat.delete") == []
    assert announced(quiet_bot, incident)


def test_a_dead_replicas_claim_is_taken_over_by_the_duty_and_posted_once(quiet_bot: LocalBot, unique: str) -> None:
    lost = store_alert(quiet_bot, unique, 0)  # claimed by a replica on another host whose lease ran out
    claim_as(quiet_bot, lost, "dead-replica", time.time() - 1)
    half = store_alert(quiet_bot, unique, 1)  # its parent was out when its (local) replica died
    flows.ensure_parent(quiet_bot.ctx, half)
    claim_as(quiet_bot, half, dead_local_owner(), time.time() + 600)
    started = time.time()
    wait_for(lambda: announced(quiet_bot, lost) and announced(quiet_bot, half), what="the take-over")
    assert time.time() - started < 10
    quiet_bot.ctx.work.wait_idle(10)
    assert posts(quiet_bot, lost.ref) == (1, 1)
    assert posts(quiet_bot, half.ref) == (1, 1)  # the dead one's parent kept, only the checklist added
    assert quiet_bot.slack.state.calls("chat.delete") == []
    assert flows.sweep(quiet_bot.ctx) == 0  # nothing left for a later pass of the duty
    timeline = [e.kind for e in service.timeline(quiet_bot.ctx.engine, half)]
    assert timeline.count("opened") == 1


def test_after_a_restart_stored_incidents_and_new_alerts_are_announced_once(quiet_bot: LocalBot, unique: str) -> None:
    ctx = quiet_bot.ctx
    dead = dead_local_owner()  # the killed process that stored them
    stored = [store_alert(quiet_bot, unique, n) for n in range(10)]
    for incident in stored:
        claim_as(quiet_bot, incident, dead, time.time() + 30)
    # The restarted process: new alerts come in while its start-up sweep runs, and
    # the timer owner's duty runs its own sweep too.
    new: list[str] = []
    sender = threading.Thread(target=lambda: new.extend(
        flows.take_alerts(ctx, models.parse("generic", {"title": f"After {unique} #{n}", "dedup_key": f"new-{unique}-{n}",
                                                        "labels": {"queue": f"q-{unique}-{n}"}})).incident.ref  # type: ignore[union-attr]
        for n in range(10)))
    sender.start()
    taken = flows.sweep(ctx) + flows.sweep(ctx)
    sender.join(30)
    assert taken <= len(stored)
    refs = [i.ref for i in stored] + new
    wait_for(lambda: all(posts(quiet_bot, ref)[1] for ref in refs), what="every announcement")
    ctx.work.wait_idle(10)
    assert {ref: posts(quiet_bot, ref) for ref in refs} == {ref: (1, 1) for ref in refs}
    assert quiet_bot.slack.state.calls("chat.delete") == []


def test_a_replica_killed_in_a_storm_leaves_no_incident_without_its_thread(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, postgres: str, unique: str) -> None:
    """Two `serve` replicas on one PostgreSQL database; the one taking the alerts is
    SIGKILLed with announcements still queued: the survivor posts every one of them."""
    import os
    import signal

    import requests

    from tests.test_escalation_replicas import owner_pid
    from tests.test_escalation_restart import serve

    ports = [free_port(), free_port()]
    bots = [serve(tmp_path, local_slack, port, postgres) for port in ports]
    try:
        wait_for(lambda: _leader(postgres), what="a timer owner")
        victim = 0 if bots[0].pid == owner_pid(postgres) else 1  # the timer owner dies too
        refs = []
        for n in range(40):
            answer = requests.post(f"http://127.0.0.1:{ports[victim]}/alerts/generic", timeout=10,
                                   headers={"Authorization": f"Bearer {TOKEN}"},
                                   json={"title": f"Killed {unique} #{n}", "dedup_key": f"{unique}-{n}",
                                         "labels": {"consumergroup": f"killed-{unique}-{n}"}}).json()
            refs.append(answer["incident"])
        os.kill(bots[victim].pid, signal.SIGKILL)
        bots[victim].wait(10)
        engine = db.create(postgres)
        try:
            left = [ref for ref in refs if not _announced(engine, ref)]
        finally:
            db.dispose(engine)
        assert left, "the storm was announced before the kill: nothing was left to take over"

        def counts() -> dict[str, tuple[int, int]]:
            return {ref: _posts(local_slack, ref) for ref in refs}

        wait_for(lambda: all(c >= 1 for _, c in counts().values()), timeout=60, what="every thread")
        engine = db.create(postgres)
        try:
            wait_for(lambda: all(_announced(engine, ref) for ref in refs), what="every announcement recorded")
        finally:
            db.dispose(engine)
    finally:
        for bot in bots:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
                bot.wait(20)
    found = counts()
    # Exactly once, but for the one post the dead replica may have sent and not yet
    # recorded when it was killed (Slack has no idempotency key): at most one such.
    doubled = {ref: c for ref, c in found.items() if c != (1, 1)}
    assert len(doubled) <= 1 and all(p <= 2 and c <= 2 for p, c in doubled.values()), doubled


def _leader(url: str) -> bool:
    from tests.test_escalation_replicas import owner_pid

    try:
        return bool(owner_pid(url))
    except Exception:  # noqa: BLE001 - the lease table appears with the first tick
        return False


def _posts(slack: LocalSlack, ref: str) -> tuple[int, int]:
    calls = slack.state.calls("chat.postMessage")
    parents = [c for c in calls if ref in str(c.params.get("text")) and not c.params.get("thread_ts")]
    threads = {m.ts for m in slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts)}
    checklists = [c for c in calls if c.params.get("thread_ts") in threads
                  and str(c.params.get("text")).startswith("Runbook:")]
    return len(parents), len(checklists)


def _announced(engine: object, ref: str) -> bool:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        row = conn.execute(incidents.select().where(incidents.c.ref == ref)).first()
    return row is not None and row.announced_at is not None
