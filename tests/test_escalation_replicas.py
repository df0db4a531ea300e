"""Two bot processes on one PostgreSQL database: one runs the timers, every step
fires exactly once, and when the timer owner is killed the other takes over."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from bot.escalation import lease
from bot.localslack.server import LocalSlack
from tests.conftest import TOKEN, free_port
from tests.test_escalation_restart import SCALE, serve, steps


def owner_pid(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        owner = conn.execute(text("SELECT owner FROM leases WHERE name = :n"), {"n": "escalation-timers"}).scalar()
    engine.dispose()
    return int(str(owner).split(":")[1])


def test_two_replicas_fire_each_step_once_and_take_over(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                        postgres: str, unique: str) -> None:
    ports = [free_port(), free_port()]
    # A minute lasts half a second: the ladder's 30 minutes in 15 s (the restart test
    # keeps a second a minute for its lateness figures).
    fast = {"INCIDENTBOT_ESCALATION__TIME_SCALE": str(2 * SCALE)}
    bots = [serve(tmp_path, local_slack, port, postgres, extra_env=fast) for port in ports]
    try:
        deadline = time.time() + 15
        while True:  # one of them holds the timers
            try:
                leader = owner_pid(postgres)
                break
            except Exception:  # noqa: BLE001 - the lease table appears with the first tick
                assert time.time() < deadline
                time.sleep(0.2)
        follower_port = ports[1] if bots[0].pid == leader else ports[0]
        # The alert lands on the follower: the leader must still fire its steps.
        answer = requests.post(f"http://127.0.0.1:{follower_port}/alerts/generic", timeout=10,
                               headers={"Authorization": f"Bearer {TOKEN}"},
                               json={"title": f"Replicas {unique}", "dedup_key": unique,
                                     "labels": {"consumergroup": f"replica-{unique}"}}).json()
        ref = answer["incident"]
        minute = 60 / (2 * SCALE)
        deadline = time.time() + 5 * minute + 10
        while not any(s.minute == 10 and s.status == "fired" for s in steps(tmp_path, ref, postgres)):
            assert time.time() < deadline, steps(tmp_path, ref, postgres)
            time.sleep(0.1)
        os.kill(leader, signal.SIGKILL)  # the timer owner dies between steps
        deadline = time.time() + 40
        while sum(s.status == "fired" for s in steps(tmp_path, ref, postgres)) < 5:
            assert time.time() < deadline, steps(tmp_path, ref, postgres)
            time.sleep(0.2)
        assert owner_pid(postgres) != leader
    finally:
        for bot in bots:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
                bot.wait(20)
    found = steps(tmp_path, ref, postgres)
    assert [(s.minute, s.status, s.attempts) for s in found] == [
        (5, "fired", 1), (10, "fired", 1), (15, "fired", 1), (20, "fired", 1), (30, "fired", 1)]
    headers = [m.text for m in local_slack.state.messages("C0INCIDENTS") if m.text.startswith(":alarm_clock:")]
    assert len(headers) == 5


def test_lease_of_a_dead_local_process_is_taken_at_once(postgres: str) -> None:
    from bot import db

    engine = db.create(postgres)
    db.migrate(engine)
    assert lease.hold(engine, "t", "otherhost:1:x", ttl=60)
    assert not lease.hold(engine, "t", "me:2:y", ttl=60)  # alive elsewhere: wait for expiry
    import socket
    dead = f"{socket.gethostname()}:999999:z"
    assert lease.hold(engine, "u", dead, ttl=60)
    assert lease.hold(engine, "u", f"{socket.gethostname()}:{os.getpid()}:me", ttl=60)  # its process is gone
    assert lease.hold(engine, "t", "me:2:y", ttl=60, now=time.time() + 61)  # expired
    engine.dispose()
