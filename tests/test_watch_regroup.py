"""The watch and a cluster-level incident, against the real Kafka (issue #11): a breach
attached to the root and then split off says "Recovered" in its own incident's
thread, and the root's lag-and-DLQ step (5 minutes) sums up the attached subjects
with their figures now."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app.localbot import LocalBot
from bot.incidents import service
from bot.incidents.model import Incident
from bot.localslack.server import LocalSlack
from tests import kafka_fixtures as kf
from tests.alert_payloads import alertmanager, am_alert
from tests.conftest import TOKEN, make_settings, send, start_bot
from tests.test_watch import round_, watch_settings

LAG = 3_405
SCALE = 30  # the 5-minute step after 10 s


def broker_down(unique: str) -> dict[str, Any]:
    labels = {"alertname": "KafkaBrokerDown", "severity": "critical", "cluster": "local", "broker_id": "1"}
    return alertmanager(f"broker-{unique}", [am_alert(f"b-{unique}", labels, summary="broker 1 of local is down")])


@pytest.fixture
def rooted(tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str) -> Iterator[LocalBot]:
    """A bot watching this test's groups, with an Alertmanager saying a broker of the cluster is down."""
    settings = watch_settings(tmp_path, unique).model_copy(update={
        "alerts": make_settings(tmp_path, alerts={"sources": {"alertmanager": {"bearer_token": TOKEN}}}).alerts,
        "escalation": make_settings(tmp_path, escalation={"time_scale": SCALE}).escalation})
    with start_bot(settings, local_slack) as bot:
        yield bot


def stuck_groups(unique: str, n: int) -> tuple[str, list[str]]:
    topic = f"orders-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: LAG})
    groups = [f"billing{i}-{unique}" for i in range(n)]
    for group in groups:
        kf.commit(group, {(topic, 0): 0})
    return topic, groups


def texts(bot: LocalBot, incident: Incident) -> list[str]:
    fresh = service.get(bot.ctx.engine, incident.ref)
    assert fresh is not None and fresh.thread_ts
    return [m.text for m in bot.slack.state.messages(fresh.channel, thread_ts=fresh.thread_ts)]


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_split_breach_recovers_in_its_own_incident(rooted: LocalBot, unique: str) -> None:
    root_ref = send(rooted, broker_down(unique)).json()["incident"]
    topic, [group] = stuck_groups(unique, 1)
    round_(rooted)
    round_(rooted)
    assert [i.ref for i in service.list_open(rooted.ctx.engine)] == [root_ref]  # attached, not its own
    root = service.get(rooted.ctx.engine, root_ref)
    assert root is not None
    wait_for(lambda: any(f"Attached: stuck consumers on group `{group}`" in t for t in texts(rooted, root)),
             what="the attachment said in the root's thread")
    rooted.slash(f"/incident split group:{group}", thread=root.thread_ts)
    rooted.ctx.work.wait_idle(30)
    [own] = [i for i in service.list_open(rooted.ctx.engine) if i.ref != root_ref]
    assert own.subject.group == group
    kf.commit(group, {(topic, 0): LAG})  # caught up
    round_(rooted)
    recovered = ":white_check_mark: Recovered:"
    [said] = [t for t in texts(rooted, own) if t.startswith(recovered)]
    assert group in said and said.endswith("below the recovery mark for 0 min (watch).")
    assert not [t for t in texts(rooted, root) if t.startswith(recovered)]
    round_(rooted)
    assert sum(t.startswith(recovered) for t in texts(rooted, own)) == 1  # once


def test_the_roots_five_minute_step_sums_up_its_attached_subjects(rooted: LocalBot, unique: str) -> None:
    root_ref = send(rooted, broker_down(unique)).json()["incident"]
    _, groups = stuck_groups(unique, 2)
    round_(rooted)
    round_(rooted)
    root = service.get(rooted.ctx.engine, root_ref)
    assert root is not None and [i.ref for i in service.list_open(rooted.ctx.engine)] == [root_ref]

    def summary() -> str | None:
        return next((t for t in texts(rooted, root) if t.startswith("Attached subjects now")), None)

    wait_for(summary, timeout=90, what="the 5-minute step's summary of the attached subjects")
    lines = (summary() or "").splitlines()
    assert lines[0] == "Attached subjects now (2):"
    for group in groups:
        [line] = [x for x in lines if f"group `{group}`" in x]
        assert line == (f"• stuck consumers on group `{group}` (topic `orders-{unique}`): WARNING: {group}: nobody is "
                        f"reading: the group is Empty with 3,405 messages waiting")
    step = [t for t in texts(rooted, root) if t.startswith(":alarm_clock: *5-minute step*")]
    assert len(step) == 1
