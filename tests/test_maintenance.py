"""A maintenance window on broker 1 (the local single broker) as on-call sees it: its
silences hold the broker's alerts back, the rolling-upgrade checklist is posted, a
change of lag is posted as it happens (not every poll), and at its end the health
verdict and what fired while silenced; what still fires then opens."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.app.localbot import LocalBot
from bot.incidents import service
from bot.localslack.server import LocalSlack
from tests.alert_payloads import alertmanager, am_alert
from tests.conftest import TOKEN, make_settings, send, start_bot
from tests.kafka_fixtures import commit, create_topic, produce


@pytest.fixture
def ops_bot(tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str) -> Iterator[LocalBot]:
    """Windows poll every second and count only this test's groups (the cluster is shared)."""
    settings = make_settings(tmp_path, alerts={"sources": {"alertmanager": {"bearer_token": TOKEN}}},
                             incidents={"first_checks": 0},  # an incident's own checks are not what is tested
                             silences={"maintenance": {"poll_seconds": 1, "lag_groups": f".*-{unique}",
                                                       "lag_change_messages": 100}})
    running = start_bot(settings, local_slack)
    yield running
    running.close()


def until(condition: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("the condition did not hold in time")


def alert(name: str, labels: dict[str, str], unique: str) -> dict[str, object]:
    full = {"alertname": name, "severity": "critical", **labels}
    return alertmanager(f'{{}}:{{alertname="{name}",u="{unique}"}}', [am_alert(f"{name}-{unique}", full)])


def thread_texts(bot: LocalBot) -> list[str]:
    parent = next(m for m in bot.slack.state.messages("C0INCIDENTS") if "Maintenance M-1" in (m.text or ""))
    return [m.text or "" for m in bot.slack.state.thread("C0INCIDENTS", parent.ts)[1:]]


def test_a_maintenance_window_on_broker_1(ops_bot: LocalBot, unique: str) -> None:
    topic, group = f"maint-{unique}", f"maint-group-{unique}"
    create_topic(topic, 1)
    produce(topic, {0: 100})
    commit(group, {(topic, 0): 100})  # a group that read everything: whatever is produced now is its lag

    ops_bot.slash("/maintenance broker 1 20s rolling upgrade to 3.9")
    started = ops_bot.slack.state.response_url_posts()[-1]["text"]
    assert "Maintenance M-1 of broker 1 of `local` started for 20s, with S-1, S-2, S-3 silencing its noise" in started
    parent = next(m for m in ops_bot.slack.state.messages("C0INCIDENTS") if "Maintenance M-1" in (m.text or ""))
    assert "broker 1 of cluster `local`" in parent.text and "rolling upgrade to 3.9" in parent.text
    assert "`cluster:local broker:1`" in parent.text and "`cluster:local runbook=broker-health" in parent.text
    checklist, first = thread_texts(ops_bot)[:2]
    assert "Rolling-upgrade checklist for broker 1" in checklist
    for step in ("one broker at a time", "Verify the broker's health", "Check under-replicated partitions",
                 "Watch consumer lag"):
        assert step in checklist
    assert first.startswith(":clipboard: Before the work: 1 broker answering (1); 0 of ")
    assert "total lag 0 messages in 1 group" in first

    # The broker's own alert, and the cluster's under-replicated partitions: held back, nothing posted.
    before = len(ops_bot.slack.state.messages("C0INCIDENTS"))
    down = send(ops_bot, alert("KafkaBrokerDown", {"broker": "1"}, unique)).json()
    urp = send(ops_bot, alert("KafkaUnderReplicatedPartitions", {"cluster": "local"}, unique)).json()
    assert (down["incident"], down["silences"]) == (None, ["S-1"])
    assert (urp["incident"], urp["silences"]) == (None, ["S-2"])
    # Another broker's outage is not the work's expected noise: it opens.
    other = send(ops_bot, alert("KafkaBrokerDown", {"broker": "2", "u": unique}, unique + "2")).json()
    assert other["created"] is True
    assert len([m for m in ops_bot.slack.state.messages("C0INCIDENTS") if other["incident"] in (m.text or "")]) == 1
    assert before < len(ops_bot.slack.state.messages("C0INCIDENTS"))

    produce(topic, {0: 500})
    changed = until(lambda: [t for t in thread_texts(ops_bot) if "total lag 0 → 500 messages (+500)" in t])
    assert len(changed) == 1  # type: ignore[arg-type]
    time.sleep(2)  # more polls, nothing new: nothing more posted
    assert len([t for t in thread_texts(ops_bot) if t.startswith(":arrows_counterclockwise:")]) == 1

    verdict = until(lambda: [t for t in thread_texts(ops_bot) if "Maintenance M-1 ended" in t])[0]  # type: ignore[index]
    assert "OK" in verdict and "Broker 1 answers" in verdict
    assert "Total lag is 500 messages above its level at the start" in verdict
    ops_bot.ctx.work.wait_idle(30)
    fired = until(lambda: [t for t in thread_texts(ops_bot) if "What fired while M-1 silenced it" in t])[0]  # type: ignore[index]
    assert "`KafkaBrokerDown` `broker=1`" in fired and "`KafkaUnderReplicatedPartitions` `cluster=local`" in fired
    assert "still firing: it opens as an incident now" in fired
    ended = ops_bot.slack.state.message("C0INCIDENTS", parent.ts)
    assert ended is not None and "Maintenance M-1 ended" in ended.text

    # The silences ended with the window: what still fires is delivered again. Broker 2's
    # outage is open on the same cluster, so they join its incident (one incident per
    # problem: a cluster-level problem is the cluster's) instead of opening their own.
    joined = until(lambda: [e for e in service.timeline(ops_bot.ctx.engine, service.get(  # type: ignore[arg-type]
        ops_bot.ctx.engine, other["incident"])) if e.kind == "joined"])
    assert len(joined) == 2  # type: ignore[arg-type]
    assert [i.ref for i in service.list_open(ops_bot.ctx.engine)] == [other["incident"]]
    assert "No maintenance window is open" in ops_bot.slash("/maintenance list").json()["text"]


def test_ending_a_window_early_and_bad_input(ops_bot: LocalBot, unique: str) -> None:
    for text, said in [
        ("/maintenance broker one 30m upgrade", "`one` is not a broker id"),
        ("/maintenance broker 1 soon upgrade", "`soon` is not a duration"),
        ("/maintenance broker 1 30m", "Say which broker, for how long and why"),
        ("/maintenance cluster prod 30m upgrade", "No Kafka cluster named `prod`"),
        ("/maintenance broker 1 30d upgrade", "longer than the longest allowed"),
        ("/maintenance reboot", "is not something I know"),
        ("/maintenance end M-9", "M-9 cannot be ended: there is no such window"),
    ]:
        answer = ops_bot.slash(text).json()
        assert said in answer["text"], (text, answer["text"])
    ops_bot.slash("/maintenance broker 7 30m upgrade")
    assert "Broker 7 is not a broker of `local` (brokers: 1). Nothing was silenced." in \
        ops_bot.slack.state.response_url_posts()[-1]["text"]

    ops_bot.slash("/maintenance cluster local 1h disk expansion")
    listed = ops_bot.slash("/maintenance list").json()["text"]
    assert "*M-1* cluster `local`" in listed and "silences S-1, S-2" in listed and "disk expansion" in listed
    again = ops_bot.slash("/maintenance cluster local 1h twice").json()["text"]
    assert "M-1 already covers cluster `local`" in again
    assert "ended maintenance M-1" in ops_bot.slash("/maintenance end M-1").json()["text"]
    until(lambda: any("Maintenance M-1 ended" in t for t in thread_texts(ops_bot)))
    ops_bot.ctx.work.wait_idle(30)
    assert any("Nothing fired while M-1 silenced its noise" in t for t in thread_texts(ops_bot))
    assert "No silence is in force" in ops_bot.slash("/silence list").json()["text"]


@pytest.mark.parametrize("posted", [0, 1], ids=["killed-before-the-verdict", "killed-after-the-verdict"])
def test_the_end_of_a_window_whose_process_died_is_posted_once_by_another(ops_bot: LocalBot, unique: str,
                                                                          posted: int) -> None:
    """The process that claimed a window's end died (before posting anything, or right
    after the verdict): the timer owner takes its claim over and posts what is missing."""
    from sqlalchemy import update

    from bot import db
    from bot.silences import store as silence_store
    from bot.silences import windows
    from bot.silences.tables import maintenance_windows
    from tests.test_announce_claims import dead_local_owner

    ops_bot.slash(f"/maintenance broker 1 1h drill {unique}")
    until(lambda: len(thread_texts(ops_bot)) >= 2)  # checklist and first reading: announced
    now = time.time()
    with db.write(ops_bot.ctx.engine) as conn:  # ended, and its end claimed by a process that is gone now
        conn.execute(update(maintenance_windows).where(maintenance_windows.c.id == 1).values(
            ends_at=now, ended_by="U0ALICE", finished_at=now, finish_owner=dead_local_owner(), finish_until=now + 600,
            finish_step=posted or None))
    silence_store.expire_window(ops_bot.ctx.engine, 1, by="U0ALICE", now=now)
    until(lambda: any("Nothing fired while M-1 silenced its noise" in t for t in thread_texts(ops_bot)))
    ops_bot.ctx.work.wait_idle(30)
    time.sleep(1.5)  # the duty runs every tick: a second claim would have posted by now
    texts = thread_texts(ops_bot)
    assert sum("Maintenance M-1 ended" in t for t in texts) == (0 if posted else 1)
    assert sum("Nothing fired while M-1 silenced its noise" in t for t in texts) == 1
    parent = next(m for m in ops_bot.slack.state.messages("C0INCIDENTS") if "Maintenance M-1" in (m.text or ""))
    assert "Maintenance M-1 ended" in parent.text
    assert windows.to_finish(ops_bot.ctx.engine, time.time()) == []
