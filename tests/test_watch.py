"""Watch mode against the real Kafka and Schema Registry: breaches sustained over rounds
open one incident with the right runbook, rise in severity in place, recover once, and
survive a new watcher on the same database; /watch pauses and reports them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import TopicPartition

from bot.app.localbot import LocalBot
from bot.incidents import service
from bot.incidents.model import Incident
from bot.localslack.server import LocalSlack
from bot.silences import store as silence_store
from bot.watch import store as watch_store
from bot.watch.round import Watcher
from tests import kafka_fixtures as kf
from tests.conftest import KAFKA, SCHEMA_REGISTRY, make_settings, start_bot

OPS = "C0OPS"


def watch_settings(tmp_path: Path, unique: str, **watch: Any) -> Any:
    w = {"enabled": False, "sustain_rounds": 2, "recover_minutes": 0, "ops_channel": OPS,
         "kafka": {"local": {"groups": [f"*-{unique}"], "dlqs": [f"*-{unique}*"]}}, "rabbitmq": {}, **watch}
    # A patient timeout: the shared test cluster holds every other test's groups too.
    return make_settings(tmp_path, watch=w, kafka={"local": {"bootstrap_servers": KAFKA, "request_timeout_s": 15}})


@pytest.fixture
def watching(tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str) -> Iterator[LocalBot]:
    running = start_bot(watch_settings(tmp_path, unique), local_slack)
    yield running
    running.close()


def round_(bot: LocalBot, *, may_fail: bool = False) -> None:
    bot.ctx.watcher.run(bot.ctx)
    bot.ctx.work.wait_idle(60)
    errors = [f"{r.cluster}: {r.error}" for r in watch_store.last_rounds(bot.ctx.engine) if r.error]
    assert may_fail or not errors, errors  # a round that could not look proves nothing


def incidents_of(bot: LocalBot, group: str) -> list[Incident]:
    return [i for i in service.list_open(bot.ctx.engine) if i.subject.group == group]


def thread_texts(bot: LocalBot, incident: Incident) -> list[str]:
    fresh = service.get(bot.ctx.engine, incident.ref)
    assert fresh is not None and fresh.thread_ts
    return [m.text for m in bot.slack.state.messages(fresh.channel, thread_ts=fresh.thread_ts)]


def commit_as(member: Any, topic: str, offset: int) -> None:
    """A live member commits (a commit from outside the group is refused while it has members)."""
    member.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)


def lagging(unique: str, lag: int) -> tuple[str, str]:
    topic, group = f"orders-{unique}", f"billing-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: lag})
    kf.commit(group, {(topic, 0): 0})
    return topic, group


def test_lag_opens_one_incident_rises_in_place_and_recovers_once(watching: LocalBot, unique: str) -> None:
    topic, group = lagging(unique, 12_000)
    with kf.members(group, topic, 1) as (member,):
        round_(watching)
        assert incidents_of(watching, group) == []  # one round is not a sustained breach
        round_(watching)
        [incident] = incidents_of(watching, group)
        assert incident.runbook_id == "high-consumer-lag" and incident.severity.value == "warning"
        assert incident.source == "watch" and incident.subject.cluster == "local"
        assert f"{group} lags 12,000 messages (warning above 10,000)" in incident.title
        round_(watching)
        assert len(incidents_of(watching, group)) == 1  # still breaching: the same incident
        kf.produce(topic, {0: 100_000})
        round_(watching)
        [raised] = incidents_of(watching, group)
        assert raised.id == incident.id and raised.severity.value == "critical"
        assert any("Severity raised to *critical*" in t for t in thread_texts(watching, raised))
        commit_as(member, topic, 112_000)  # drained
        round_(watching)
        texts = thread_texts(watching, raised)
        recovered = [t for t in texts if t.startswith(":white_check_mark: Recovered:")]
        assert recovered == [f":white_check_mark: Recovered: {group} lags 0 messages — below the recovery mark "
                             "for 0 min (watch)."]
        assert texts[-1].startswith("Every alert of this incident is resolved.")
        round_(watching)
        assert [t for t in thread_texts(watching, raised) if "Recovered" in t] == recovered  # once
    timeline = [e.kind for e in service.timeline(watching.ctx.engine, raised)]
    assert timeline[:2] == ["opened", "routed"]


def test_lag_hovering_around_the_threshold_opens_one_incident(watching: LocalBot, unique: str) -> None:
    topic, group = lagging(unique, 10_500)
    with kf.members(group, topic, 1) as (member,):
        round_(watching)
        round_(watching)
        assert len(incidents_of(watching, group)) == 1
        for committed in (1_000, 0, 1_000, 0, 1_500, 0):  # lag 9,500 / 10,500 / … / 9,000 / 10,500
            commit_as(member, topic, committed)
            round_(watching)
        assert len(incidents_of(watching, group)) == 1
        [incident] = incidents_of(watching, group)
        assert not [t for t in thread_texts(watching, incident) if "Recovered" in t]


def test_empty_group_with_lag_is_stuck(watching: LocalBot, unique: str) -> None:
    _, group = lagging(unique, 3_405)
    round_(watching)
    round_(watching)
    [incident] = incidents_of(watching, group)
    assert incident.runbook_id == "consumer-group-stuck"
    assert f"{group}: nobody is reading: the group is Empty with 3,405 messages waiting" in incident.title


def test_member_leaving_and_rejoining_is_rebalancing(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                     unique: str) -> None:
    settings = watch_settings(tmp_path, unique, sustain_rounds=1, rebalances_per_10min=1)
    with start_bot(settings, local_slack) as bot:
        topic, group = f"orders-{unique}", f"billing-{unique}"
        kf.create_topic(topic, 2)
        kf.commit(group, {(topic, 0): 0, (topic, 1): 0})
        with kf.members(group, topic, 1, client_prefix="a"):
            round_(bot)
        with kf.members(group, topic, 2, client_prefix="b"):
            round_(bot)
        with kf.members(group, topic, 1, client_prefix="c"):
            round_(bot)
            [incident] = incidents_of(bot, group)
        assert incident.runbook_id == "rebalancing"
        assert "changed members or state" in incident.title
        changes = [m.text for m in bot.slack.state.messages(OPS)]
        assert any(f"Consumer group `{group}` on `local` changed members" in t for t in changes)


def test_unreachable_cluster_is_one_incident_and_lag_alerts_attach_to_it(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str) -> None:
    from tests.alert_payloads import alertmanager, am_alert
    from tests.conftest import TOKEN, send

    settings = make_settings(tmp_path, kafka={"down": {"bootstrap_servers": "127.0.0.1:1", "request_timeout_s": 1}},
                             watch={"sustain_rounds": 2, "kafka": {"down": {}}, "rabbitmq": {}},
                             alerts={"sources": {"alertmanager": {"bearer_token": TOKEN}}})
    with start_bot(settings, local_slack) as bot:
        for _ in range(3):
            round_(bot, may_fail=True)
        found = [i for i in service.list_open(bot.ctx.engine) if i.subject.cluster == "down"]
        assert len(found) == 1
        root = found[0]
        assert root.runbook_id == "broker-health" and root.severity.value == "critical"
        assert root.labels["alertname"] == "WatchKafkaClusterUnreachable"
        for group in (f"orders-{unique}", f"billing-{unique}"):
            labels = {"alertname": "KafkaConsumerLagHigh", "severity": "warning", "cluster": "down",
                      "consumergroup": group}
            answer = send(bot, alertmanager(f"lag-{group}", [am_alert(f"fp-{group}", labels)])).json()
            assert (answer["incident"], answer["created"]) == (root.ref, False)
        assert [i.ref for i in service.list_open(bot.ctx.engine)] == [root.ref]  # no incident, no ladder of their own
        texts = thread_texts(bot, root)
        assert any(f"Attached: lag on group `orders-{unique}`" in t for t in texts)


def test_pause_holds_the_incident_until_resumed(watching: LocalBot, unique: str) -> None:
    _, group = lagging(unique, 3_405)
    answer = watching.slash(f'/watch pause {group} 1h "deploying the fix"')
    assert f"Paused the watch for `{group}` until" in answer.text
    round_(watching)
    round_(watching)
    round_(watching)
    assert incidents_of(watching, group) == []
    status = watching.slash("/watch status")
    assert f"group:local:{group}" in status.text and "deploying the fix" in status.text
    assert "Last rounds" in status.text and "kafka:local" in status.text
    watching.slash(f"/watch resume {group}")
    round_(watching)
    assert len(incidents_of(watching, group)) == 1
    assert "is not paused" in watching.slash(f"/watch resume {group}").text
    assert "is not a duration" in watching.slash(f"/watch pause {group} soon because").text


def test_a_new_watcher_on_the_same_database_carries_on(watching: LocalBot, unique: str) -> None:
    _, group = lagging(unique, 3_405)
    round_(watching)
    watching.ctx.watcher = Watcher()  # a restart, or another replica taking the timers
    round_(watching)
    assert len(incidents_of(watching, group)) == 1  # the streak was in the database
    watching.ctx.watcher = Watcher()
    round_(watching)
    assert len(incidents_of(watching, group)) == 1


def test_rounds_never_overlap(watching: LocalBot) -> None:
    watcher = watching.ctx.watcher
    assert watcher.start(watching.ctx) is True
    assert watcher.start(watching.ctx) is False  # the first is still running
    deadline = time.time() + 30
    while not watcher.start(watching.ctx):
        assert time.time() < deadline
        time.sleep(0.05)
    assert watcher.skipped >= 1


def test_dlq_depth_opens_the_dlq_runbook(watching: LocalBot, unique: str) -> None:
    dlq = f"payments-{unique}.dlq"
    kf.create_topic(dlq, 1)
    try:
        kf.produce(dlq, {0: 150})
        round_(watching)
        round_(watching)
        [incident] = [i for i in service.list_open(watching.ctx.engine) if i.subject.topic == dlq]
        assert incident.runbook_id == "dlq-filling" and incident.severity.value == "warning"
        assert f"Dead-letter topic `{dlq}` holds 150 messages (warning above 100)" in incident.title
        kf.produce(dlq, {0: 1_000})
        round_(watching)
        assert service.get(watching.ctx.engine, incident.ref).severity.value == "critical"  # type: ignore[union-attr]
    finally:  # a critical DLQ left behind would turn every other test's all-DLQ overview critical
        kf.admin().delete_topics([dlq])[dlq].result(timeout=30)


def register(subject: str, schema: dict[str, Any]) -> None:
    r = requests.post(f"{SCHEMA_REGISTRY}/subjects/{subject}/versions", json={"schema": json.dumps(schema)},
                      headers={"Content-Type": "application/vnd.schemaregistry.v1+json"}, timeout=10)
    assert r.status_code == 200, r.text


def compatibility(subject: str, level: str) -> None:
    r = requests.put(f"{SCHEMA_REGISTRY}/config/{subject}", json={"compatibility": level}, timeout=10)
    assert r.status_code == 200, r.text


V1 = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
V2 = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"},
                                                     {"name": "note", "type": "string", "default": ""}]}
BREAKING = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"},
                                                           {"name": "amount", "type": "long"}]}


def test_schema_versions_are_info_events_and_a_breaking_latest_is_an_incident(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str) -> None:
    subject, broken = f"orders-{unique}-value", f"refunds-{unique}-value"
    register(subject, V1)
    settings = watch_settings(tmp_path, unique, schema_subjects={"local": [f"*-{unique}-value"]})
    with start_bot(settings, local_slack) as bot:
        round_(bot)  # learns what is there
        register(subject, V2)
        round_(bot)
        round_(bot)
        events = [m.text for m in bot.slack.state.messages(OPS) if subject in m.text]
        assert len(events) == 1 and f"Schema subject `{subject}` (local) has a new version: 1 → 2" in events[0]
        assert [i for i in service.list_open(bot.ctx.engine) if i.subject.topic == f"orders-{unique}"] == []
        # A version that breaks BACKWARD let through under FORWARD, then the subject set to BACKWARD.
        register(broken, V1)
        compatibility(broken, "FORWARD")
        register(broken, BREAKING)
        compatibility(broken, "BACKWARD")
        round_(bot)
        round_(bot)
        [incident] = [i for i in service.list_open(bot.ctx.engine) if i.subject.topic == f"refunds-{unique}"]
        assert incident.runbook_id == "schema-incompatibility" and incident.severity.value == "critical"
        assert f"Subject `{broken}` version 2 breaks its BACKWARD compatibility" in incident.title


def test_the_timer_owner_runs_rounds_by_itself(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                               unique: str) -> None:
    settings = watch_settings(tmp_path, unique, enabled=True, interval_s=1)
    _, group = lagging(unique, 3_405)
    with start_bot(settings, local_slack) as bot:  # its timers, and so the duties, are running
        deadline = time.time() + 60
        while not incidents_of(bot, group):
            assert time.time() < deadline, "the watch did not open the incident by itself"
            time.sleep(0.2)
        status = bot.slash("/watch status").text
        assert "Watching every 1 s" in status


def test_partition_count_change_and_groups_coming_and_going_are_info_events(watching: LocalBot,
                                                                            unique: str) -> None:
    from confluent_kafka.admin import NewPartitions

    topic, group = f"orders-{unique}", f"billing-{unique}"
    kf.create_topic(topic, 1)
    round_(watching)  # learns what is there
    kf.admin().create_partitions([NewPartitions(topic, 3)])[topic].result(timeout=30)
    kf.commit(group, {(topic, 0): 0})
    round_(watching)
    kf.admin().delete_consumer_groups([group])[group].result(timeout=30)
    round_(watching)
    texts = [m.text for m in watching.slack.state.messages(OPS)]
    assert any(f"Topic `{topic}` on `local`: partitions 1 → 3" in t for t in texts)
    assert any(f"Consumer group `{group}` appeared on `local` (0 members)" in t for t in texts)
    assert any(f"Consumer group `{group}` disappeared from `local`" in t for t in texts)
    assert incidents_of(watching, group) == []  # information, never an incident


def test_a_silence_holds_a_breach_back_and_it_opens_when_the_silence_ends(watching: LocalBot, unique: str) -> None:
    _, group = lagging(unique, 3_405)
    watching.slash(f'/silence group:{group} 1h "consumer being redeployed"')
    round_(watching)
    round_(watching)
    round_(watching)
    assert incidents_of(watching, group) == []
    assert "consumer being redeployed" in watching.slash("/silence list").text
    [active] = silence_store.active(watching.ctx.engine, time.time())
    held = silence_store.held(watching.ctx.engine, [active.id])
    assert [h.group_key for h in held] == [f"group:local:{group}"] and held[0].deliveries == 2
    watching.slash(f"/silence expire S-{active.id}")
    round_(watching)
    [incident] = incidents_of(watching, group)
    assert incident.runbook_id == "consumer-group-stuck"


def test_an_alertmanager_alert_for_the_watched_group_joins_the_watchs_incident(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str) -> None:
    from tests.alert_payloads import alertmanager, am_alert
    from tests.conftest import TOKEN, send

    settings = watch_settings(tmp_path, unique)
    settings = settings.model_copy(update={"alerts": make_settings(
        tmp_path, alerts={"sources": {"alertmanager": {"bearer_token": TOKEN}}}).alerts})
    with start_bot(settings, local_slack) as bot:
        topic, group = lagging(unique, 3_405)
        round_(bot)
        round_(bot)
        [incident] = incidents_of(bot, group)
        labels = {"alertname": "KafkaConsumerGroupInactive", "severity": "warning", "consumergroup": group}
        answer = send(bot, alertmanager(f"stuck-{unique}", [am_alert(f"fp-{unique}", labels)])).json()
        assert answer["incident"] == incident.ref and answer["created"] is False
        assert incidents_of(bot, group) == [service.get(bot.ctx.engine, incident.ref)]
        assert any("Joined: alertmanager reports the same problem" in t for t in thread_texts(bot, incident))
