"""Drill (issue #12): `incidentbot serve` watching real consumer groups is SIGKILLed
in the middle of its watch rounds, again and again, and started on the same
database each time: while a breach is stored but not yet sustained, while a round
opens its incidents one by one, while their parents and checklists go out, and while
a round posts "Recovered" for them. After each restart: one incident per breach, its
parent and checklist posted once, no breach lost, "Recovered" once, and the rounds
carry on at their interval.

Each kill is preceded by SIGSTOP, which freezes every thread at once: the test then
lets the stand-in answer what was already sent, reads the database and the stand-in,
and lets the bot run a few more milliseconds when a post is in flight (in the
stand-in, its record not yet written), because no design can tell whether a post
whose answer it never read went out; the kill lands between two steps, at points of
the round the test chooses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot import db
from bot.incidents.tables import incidents
from bot.localslack.server import LocalSlack
from bot.watch.tables import watch_breaches, watch_recoveries, watch_rounds
from tests import kafka_fixtures as kf
from tests.conftest import free_port
from tests.test_escalation_restart import serve

GROUPS = 12  # a round opens (and recovers) them one after another: room to kill it half-way
LAG = 3_405  # an Empty group with messages waiting: "nobody is reading", a warning
RECOVERED = ":white_check_mark: Recovered:"


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition",
             every: float = 0.01) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


class Drill:
    """One bot on one database, killed and started again; what it did, read back."""

    def __init__(self, tmp_path: Path, slack: LocalSlack, unique: str) -> None:
        self.tmp_path, self.slack, self.unique = tmp_path, slack, unique
        self.port = free_port()
        self.url = f"sqlite:///{tmp_path / 'bot.db'}"
        self.groups = [f"kill{n}-{unique}" for n in range(GROUPS)]
        self.env = {
            "INCIDENTBOT_WATCH__ENABLED": "true", "INCIDENTBOT_WATCH__INTERVAL_S": "1",
            "INCIDENTBOT_WATCH__SUSTAIN_ROUNDS": "2", "INCIDENTBOT_WATCH__RECOVER_MINUTES": "0",
            "INCIDENTBOT_WATCH__KAFKA": json.dumps({"local": {"groups": [f"kill*-{unique}"], "dlqs": [],
                                                              "brokers": False}}),
            "INCIDENTBOT_WATCH__RABBITMQ": "{}",
            # The shared cluster holds every other test's groups: a patient timeout.
            "INCIDENTBOT_KAFKA__LOCAL__REQUEST_TIMEOUT_S": "15",
            "INCIDENTBOT_ESCALATION__TIME_SCALE": "1",  # no ladder step during the drill
        }
        self.bot: subprocess.Popen[bytes] | None = None
        self.engine: Engine | None = None
        self.kills: list[str] = []
        self.seen_at_kills: list[tuple[int, int, int]] = []  # (opened, announced, recovered) at each kill

    def start(self) -> None:
        self.bot = serve(self.tmp_path, self.slack, self.port, self.url, extra_env=self.env)
        if self.engine is None:
            wait_for(lambda: (self.tmp_path / "bot.db").exists(), what="the database")
            self.engine = db.create(self.url)

    def stop(self) -> None:
        if self.bot is not None and self.bot.poll() is None:
            self.bot.send_signal(signal.SIGTERM)
            self.bot.wait(30)
        if self.engine is not None:
            db.dispose(self.engine)

    def kill_when(self, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        """SIGKILL the bot at the first moment `condition` holds with no post in flight."""
        assert self.bot is not None
        pid = self.bot.pid
        deadline = time.time() + timeout
        while True:
            assert time.time() < deadline, f"never saw: {what}"
            if condition():
                os.kill(pid, signal.SIGSTOP)
                # A request already sent is still answered by the stand-in (it runs here):
                # let it land before telling what is in flight.
                time.sleep(0.1)
                if condition() and not self.in_flight():
                    break
                os.kill(pid, signal.SIGCONT)
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)
        self.bot.wait(10)
        self.kills.append(what)
        found = self.incidents()
        self.seen_at_kills.append((len(found), sum(bool(i["announced_at"]) for i in found),
                                   sum(self.recovered(i) for i in found)))

    # ------------------------------------------------------------ what the database says

    def breaches(self) -> dict[str, int]:
        assert self.engine is not None
        with self.engine.connect() as conn:
            rows = conn.execute(select(watch_breaches.c.key, watch_breaches.c.streak)).all()
        return {k: s for k, s in rows if k.endswith(self.unique)}

    def incidents(self) -> list[dict[str, object]]:
        assert self.engine is not None
        with self.engine.connect() as conn:
            rows = conn.execute(select(incidents)).mappings().all()
        return [dict(r) for r in rows if str(r["group_id"] or "").endswith(self.unique)]

    def last_rounds(self) -> float:
        assert self.engine is not None
        with self.engine.connect() as conn:
            return conn.execute(select(watch_rounds.c.started_at).where(watch_rounds.c.cluster == "kafka:local")
                                ).scalar() or 0.0

    def recoveries_pending_post(self) -> set[int]:
        """Incidents whose "Recovered" the bot has decided and not yet recorded as posted."""

        assert self.engine is not None
        with self.engine.connect() as conn:
            return {r.incident_id for r in conn.execute(
                select(watch_recoveries).where(watch_recoveries.c.posted_at.is_(None)))}

    # ------------------------------------------------------------ what the stand-in shows

    def parents(self, ref: str) -> int:
        return sum(1 for c in self.slack.state.calls("chat.postMessage")
                   if ref in str(c.params.get("text")) and not c.params.get("thread_ts"))

    def checklists(self, incident: dict[str, object]) -> int:
        thread = incident["thread_ts"]
        return sum(1 for c in self.slack.state.calls("chat.postMessage")
                   if thread and c.params.get("thread_ts") == thread and str(c.params.get("text")).startswith("Runbook:"))

    def recovered(self, incident: dict[str, object]) -> int:
        thread = incident["thread_ts"]
        return sum(1 for c in self.slack.state.calls("chat.postMessage")
                   if thread and c.params.get("thread_ts") == thread and str(c.params.get("text")).startswith(RECOVERED))

    def in_flight(self) -> bool:
        """A post the stand-in has and the bot has not recorded: a parent without its
        thread in the row, a checklist without its ts, a "Recovered" not marked posted."""
        found = self.incidents()
        refs_posted = {str(i["ref"]) for i in found if self.parents(str(i["ref"]))}
        if any(not i["thread_ts"] for i in found if i["ref"] in refs_posted):
            return True
        if any(self.checklists(i) and not i["checklist_ts"] for i in found):
            return True
        pending = self.recoveries_pending_post()
        return any(self.recovered(i) and i["id"] in pending for i in found)


@pytest.fixture
def drill(tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str) -> Iterator[Drill]:
    running = Drill(tmp_path, local_slack, unique)
    yield running
    running.stop()


def test_a_watch_killed_mid_round_opens_and_recovers_each_breach_once(drill: Drill, unique: str) -> None:
    topic = f"orders-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: LAG})
    for group in drill.groups:
        kf.commit(group, {(topic, 0): 0})

    drill.start()  # 1: the breaches are stored after the first round, none sustained yet
    drill.kill_when(lambda: len(drill.breaches()) == GROUPS and not drill.incidents(), "breaches stored, none open")
    drill.start()  # 2: the second round opens them one after another
    drill.kill_when(lambda: 0 < len(drill.incidents()) < GROUPS, "a round half-way through opening")
    drill.start()  # 3: announcements going out
    drill.kill_when(lambda: len(found := drill.incidents()) == GROUPS
                    and 1 < sum(bool(i["announced_at"]) for i in found) < GROUPS, "announcements half-way")
    drill.start()

    def all_announced() -> bool:
        found = drill.incidents()
        return len(found) >= GROUPS and all(i["announced_at"] for i in found)

    wait_for(all_announced, what="every breach's incident announced")
    before = drill.last_rounds()
    wait_for(lambda: drill.last_rounds() > before + 2, what="two more rounds")  # nothing more opens meanwhile
    found = drill.incidents()
    assert sorted(str(i["group_id"]) for i in found) == sorted(drill.groups)  # one each, none lost
    assert {str(i["ref"]): (drill.parents(str(i["ref"])), drill.checklists(i)) for i in found} == {
        str(i["ref"]): (1, 1) for i in found}

    for group in drill.groups:  # every group catches up
        kf.commit(group, {(topic, 0): LAG})
    drill.kill_when(lambda: 0 < sum(drill.recovered(i) for i in drill.incidents()) < GROUPS,
                    "a round half-way through its recoveries")
    drill.start()
    wait_for(lambda: all(drill.recovered(i) for i in drill.incidents()), what="every recovery posted")
    before = drill.last_rounds()
    wait_for(lambda: drill.last_rounds() > before + 2, what="two more rounds")
    found = drill.incidents()
    assert {str(i["ref"]): drill.recovered(i) for i in found} == {str(i["ref"]): 1 for i in found}
    assert not drill.breaches()  # nothing left breaching, nothing left to post
    print("(opened, announced, recovered) at each kill:", drill.seen_at_kills)
    assert drill.kills == ["breaches stored, none open", "a round half-way through opening",
                           "announcements half-way", "a round half-way through its recoveries"]

