"""Every verdict of bot/health at the operations guide's thresholds, on both sides of
each boundary: lag above 10,000 a warning and above 100,000 critical, growth above
1,000 messages a minute a warning, a DLQ above 100 to investigate and above 1,000
critical, more than 5% of partitions under-replicated a warning, a broker down or an
offline partition critical. Each row asserts the level and the sentences a person
reads, worst first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import Thresholds
from bot.health.brokers import kafka_cluster_verdict, rabbit_nodes_verdict
from bot.health.dlq import error_rate_reason, growth_phrase, kafka_dlq_verdict, rabbit_queue_verdict
from bot.health.lag import assess
from bot.health.lag_trend import Sample, Status, status
from bot.health.schema import compatibility_verdict, error_verdict, registry_verdict, subject_verdict
from bot.health.verdict import Level, Verdict, combine, verdict
from bot.probes.dlq_models import KafkaDlqSnapshot, QueueSnapshot
from bot.probes.kafka_cluster import BrokerInfo, KafkaClusterSnapshot, PartitionInfo, TopicInfo, summarize, unreachable
from bot.probes.lag_models import GroupLag, Member, PartitionLag
from bot.probes.rabbitmq_nodes import AmqpReachability, RabbitNode, RabbitNodesSnapshot, RabbitOverview
from bot.probes.schema_registry import (
    CompatibilityResult,
    ErrorKind,
    RegistrySnapshot,
    SchemaChange,
    SubjectSnapshot,
    VersionInfo,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GUIDE = Thresholds()
H = ("billing", "orders", 0)  # the history key of the one partition below


def test_the_defaults_are_the_guides() -> None:
    assert (GUIDE.lag_warning, GUIDE.lag_critical, GUIDE.lag_growth_per_minute, GUIDE.dlq_warning,
            GUIDE.dlq_critical, GUIDE.under_replicated_percent) == (10_000, 100_000, 1_000, 100, 1_000, 5.0)


# ---------------------------------------------------------------- consumer lag

def group(lag: int, *, committed: int = 1_000, members: int = 1, state: str = "Stable", error: str | None = None,
          retention_skipped: int = 0) -> GroupLag:
    row = PartitionLag(topic="orders", partition=0, committed=committed, log_start=0, log_end=committed + lag,
                       retention_skipped=retention_skipped)
    ms = [Member(member_id=f"m{i}", client_id=f"c{i}", host="/10.0.0.1", partitions=[("orders", 0)] if i == 0 else [])
          for i in range(members)]
    return GroupLag(cluster="local", group="billing", state=state, members=ms, partitions=[row], error=error)


def samples(*points: tuple[float, int | None, int]) -> list[Sample]:
    return [Sample(taken_at=t, committed=c, log_end=e) for t, c, e in points]


LAG: list[tuple[str, GroupLag, dict[Any, list[Sample]], Level, list[str]]] = [
    ("10,000 is not above the warning", group(10_000), {}, Level.OK, ["billing lags 10,000 messages"]),
    ("10,001 warns", group(10_001), {}, Level.WARNING, ["billing lags 10,001 messages (warning above 10,000)"]),
    ("100,000 still warns", group(100_000), {}, Level.WARNING,
     ["billing lags 100,000 messages (warning above 10,000)"]),
    ("100,001 is critical", group(100_001), {}, Level.CRITICAL,
     ["billing lags 100,001 messages (critical above 100,000)"]),
    ("no lag", group(0), {}, Level.OK, ["billing lags 0 messages"]),
    # lag 100 -> 1,100 in a minute while the consumer advances: growth exactly at the limit
    ("growth 1,000/min is not above it", group(1_100, committed=100),
     {H: samples((0, 0, 100), (60, 100, 1_200))}, Level.OK, ["billing lags 1,100 messages"]),
    ("growth 1,001/min warns", group(1_101, committed=100),
     {H: samples((0, 0, 100), (60, 100, 1_201))}, Level.WARNING,
     ["billing's lag grows 1,001 messages/minute (warning above 1,000)"]),
    ("critical lag and growth: both, worst first", group(200_000),
     {H: samples((0, 1_000, 1_000), (60, 1_000, 201_000))}, Level.CRITICAL,
     ["billing lags 200,000 messages (critical above 100,000)",
      "billing's lag grows 200,000 messages/minute (warning above 1,000)"]),  # caught up at the first look
    ("members but offsets stand still (STALL)", group(200, committed=100),
     {H: samples((0, 100, 200), (60, 100, 300))}, Level.WARNING,
     ["billing: committed offsets stand still on 1 lagging partition — consumers are not advancing"]),
    ("nobody commits (STOP)", group(200, committed=100, members=0),
     {H: samples((0, 100, 200), (60, 100, 300))}, Level.WARNING,
     ["billing: committed offsets stand still on 1 lagging partition — no consumer is committing"]),
    ("offsets went backwards (REWIND)", group(500, committed=100),
     {H: samples((0, 500, 600), (60, 100, 600))}, Level.WARNING,
     ["billing: committed offsets went backwards on 1 partition (an offset reset or a replay)"]),
    ("rebalancing", group(5, state="PreparingRebalance"), {}, Level.WARNING,
     ["billing is PreparingRebalance: a rebalance is under way"]),
    ("completing a rebalance", group(5, state="CompletingRebalance"), {}, Level.WARNING,
     ["billing is CompletingRebalance: a rebalance is under way"]),
    ("an empty group is not rebalancing", group(0, members=0, state="Empty"), {}, Level.OK,
     ["billing lags 0 messages"]),
    ("a dead group is not rebalancing", group(0, members=0, state="Dead"), {}, Level.OK,
     ["billing lags 0 messages"]),
    # Burrow's STOP without a trend: nobody reads an inactive group, however small its lag
    ("an empty group with messages waiting is stuck", group(3_405, members=0, state="Empty"), {}, Level.WARNING,
     ["billing: nobody is reading: the group is Empty with 3,405 messages waiting"]),
    ("one message waiting in an empty group", group(1, members=0, state="Empty"), {}, Level.WARNING,
     ["billing: nobody is reading: the group is Empty with 1 message waiting"]),
    ("a dead group with messages waiting is stuck", group(5, members=0, state="Dead"), {}, Level.WARNING,
     ["billing: nobody is reading: the group is Dead with 5 messages waiting"]),
    ("an empty group above the warning: both reasons", group(15_000, members=0, state="Empty"), {}, Level.WARNING,
     ["billing lags 15,000 messages (warning above 10,000)",
      "billing: nobody is reading: the group is Empty with 15,000 messages waiting"]),
    ("an empty group past the critical threshold is critical", group(100_001, members=0, state="Empty"), {},
     Level.CRITICAL, ["billing lags 100,001 messages (critical above 100,000)",
                      "billing: nobody is reading: the group is Empty with 100,001 messages waiting"]),
    # STOP from the trend says the same as the state: said once
    ("an empty group whose offsets stand still: one reason", group(200, committed=100, members=0, state="Empty"),
     {H: samples((0, 100, 200), (60, 100, 300))}, Level.WARNING,
     ["billing: nobody is reading: the group is Empty with 200 messages waiting"]),
    ("a stable group with lag is not stuck by its state", group(5, members=1, state="Stable"), {}, Level.OK,
     ["billing lags 5 messages"]),
    ("STALL below the warning threshold still warns", group(50, committed=100),
     {H: samples((0, 100, 120), (90, 100, 150))}, Level.WARNING,
     ["billing: committed offsets stand still on 1 lagging partition — consumers are not advancing"]),
    ("STALL on top of a critical lag: critical first", group(150_000, committed=100),
     {H: samples((0, 100, 120_100), (90, 100, 150_100))}, Level.CRITICAL,
     ["billing lags 150,000 messages (critical above 100,000)",
      "billing's lag grows 20,000 messages/minute (warning above 1,000)",
      "billing: committed offsets stand still on 1 lagging partition — consumers are not advancing"]),
    ("the group could not be described", group(5, error="GROUP_AUTHORIZATION_FAILED"), {}, Level.WARNING,
     ["billing: GROUP_AUTHORIZATION_FAILED"]),
    ("retention deleted unread messages", group(30, retention_skipped=60), {}, Level.WARNING,
     ["billing: retention deleted 60 messages before the group read them; lag is counted from the log start"]),
]


@pytest.mark.parametrize(("found", "history", "level", "reasons"), [c[1:] for c in LAG], ids=[c[0] for c in LAG])
def test_lag(found: GroupLag, history: dict[Any, list[Sample]], level: Level, reasons: list[str]) -> None:
    v = assess(found, history, {"orders": 1}, GUIDE, now=60).verdict
    assert (v.level, v.reasons) == (level, reasons)


def test_lag_thresholds_are_configurable() -> None:
    tighter = Thresholds(lag_warning=10, lag_critical=100, lag_growth_per_minute=5)
    v = assess(group(101), {}, {"orders": 1}, tighter, now=0).verdict
    assert (v.level, v.reasons) == (Level.CRITICAL, ["billing lags 101 messages (critical above 100)"])


TREND: list[tuple[str, list[Sample], bool, Status | None]] = [
    ("one sample says nothing", samples((0, 10, 20)), True, None),
    ("never committed", samples((0, None, 20), (60, None, 30)), True, None),
    ("caught up", samples((0, 10, 20), (120, 30, 30)), True, Status.OK),
    ("standing still 59.9 s proves nothing", samples((0, 10, 20), (59.9, 10, 30)), True, Status.OK),
    ("standing still 60 s with members: STALL", samples((0, 10, 20), (60, 10, 30)), True, Status.STALL),
    ("standing still 60 s without members: STOP", samples((0, 10, 20), (60, 10, 30)), False, Status.STOP),
    ("lag grew at every sample: WARN", samples((0, 10, 20), (60, 15, 40), (120, 20, 60)), True, Status.WARN),
    ("lag grew then shrank: OK", samples((0, 10, 20), (60, 18, 30), (120, 30, 40)), True, Status.OK),
    ("offset went backwards: REWIND", samples((0, 50, 60), (60, 10, 60)), True, Status.REWIND),
    ("rewind is seen even within the minute", samples((0, 50, 60), (1, 10, 60)), True, Status.REWIND),
]


@pytest.mark.parametrize(("points", "members", "expected"), [c[1:] for c in TREND], ids=[c[0] for c in TREND])
def test_burrow_status(points: list[Sample], members: bool, expected: Status | None) -> None:
    assert status(points, members) == expected


# ---------------------------------------------------------------- dead-letter queues

def kafka_dlq(depth: int, **extra: Any) -> KafkaDlqSnapshot:
    return KafkaDlqSnapshot(cluster="local", topic="orders.dlq", source_topic="orders", derived_source="orders",
                            taken_at=NOW, depth=depth, partitions=[], dlq_end_total=depth, **extra)


def queue(depth: int, *, dlq: bool = True, consumers: int = 0, **extra: Any) -> QueueSnapshot:
    return QueueSnapshot(cluster="local", vhost="/", name="orders.dlq" if dlq else "orders", taken_at=NOW,
                         source="management", messages_ready=depth, messages=depth, consumers=consumers,
                         is_dead_letter_queue=dlq, **extra)


DLQ: list[tuple[str, Verdict, Level, list[str]]] = [
    ("kafka 100 is not above 100", kafka_dlq_verdict(kafka_dlq(100), GUIDE), Level.OK,
     ["orders.dlq holds 100 messages (investigate above 100)."]),
    ("kafka 101 needs a look", kafka_dlq_verdict(kafka_dlq(101), GUIDE), Level.WARNING,
     ["orders.dlq holds 101 messages (investigate above 100): sample it with `/dlq orders.dlq --sample 20` to see "
      "what fails."]),
    ("kafka 1,000 still a warning", kafka_dlq_verdict(kafka_dlq(1_000), GUIDE), Level.WARNING,
     ["orders.dlq holds 1,000 messages (investigate above 100): sample it with `/dlq orders.dlq --sample 20` to "
      "see what fails."]),
    ("kafka 1,001 is critical", kafka_dlq_verdict(kafka_dlq(1_001), GUIDE), Level.CRITICAL,
     ["orders.dlq holds 1,001 messages (critical above 1,000): sample it with `/dlq orders.dlq --sample 20`, fix "
      "the failing consumer, then replay."]),
    ("rabbit dlq 100", rabbit_queue_verdict(queue(100), GUIDE), Level.OK,
     ["orders.dlq holds 100 messages (investigate above 100)."]),
    ("rabbit dlq 101", rabbit_queue_verdict(queue(101), GUIDE), Level.WARNING,
     ["orders.dlq holds 101 messages (investigate above 100): sample it with `/rabbit orders.dlq --sample 20` to "
      "see what fails."]),
    ("rabbit dlq 1,001", rabbit_queue_verdict(queue(1_001), GUIDE), Level.CRITICAL,
     ["orders.dlq holds 1,001 messages (critical above 1,000): sample it with `/rabbit orders.dlq --sample 20`, "
      "fix the failing consumer, then replay."]),
    ("a work queue's backlog uses the lag thresholds: 10,000", rabbit_queue_verdict(queue(10_000, dlq=False,
                                                                                          consumers=3), GUIDE),
     Level.OK, ["orders holds 10,000 messages (warning above 10,000)."]),
    ("backlog 10,001", rabbit_queue_verdict(queue(10_001, dlq=False, consumers=3), GUIDE), Level.WARNING,
     ["orders holds 10,001 messages (warning above 10,000): check the consumers' throughput and errors."]),
    ("backlog 100,001", rabbit_queue_verdict(queue(100_001, dlq=False, consumers=3), GUIDE), Level.CRITICAL,
     ["orders holds 100,001 messages (critical above 100,000): scale the consumers now, or pause the producers."]),
    ("ready messages and no consumer", rabbit_queue_verdict(queue(5, dlq=False), GUIDE), Level.WARNING,
     ["orders has 5 ready messages and no consumers: check that its consumer service is running."]),
    ("queue growth 1,000/min", rabbit_queue_verdict(queue(5, dlq=False, consumers=2, growth_per_minute=1_000.0),
                                                    GUIDE), Level.OK,
     ["orders holds 5 messages (warning above 10,000), growing 1,000/min."]),
    ("queue growth 1,001/min", rabbit_queue_verdict(queue(5, dlq=False, consumers=2, growth_per_minute=1_001.0),
                                                    GUIDE), Level.WARNING,
     ["orders grows 1,001/min (warning above 1,000/min): consumers are not keeping up; scale them or look for a "
      "slow dependency."]),
    ("error rate 1% is not above 1%", kafka_dlq_verdict(kafka_dlq(10, error_rate_percent=1.0, window_seconds=300),
                                                        GUIDE), Level.OK,
     ["orders.dlq holds 10 messages (investigate above 100).",
      "orders dead-letters 1% of its messages into orders.dlq over the last 5 min (warning above 1%)."]),
    ("error rate 1.01% for 5 min warns", kafka_dlq_verdict(kafka_dlq(10, error_rate_percent=1.01,
                                                                     window_seconds=300), GUIDE), Level.WARNING,
     ["orders dead-letters 1.01% of its messages into orders.dlq over the last 5 min (warning above 1%): check the "
      "consumer's logs for the failing records."]),
    ("error rate over a window just short of 5 min only informs",
     kafka_dlq_verdict(kafka_dlq(10, error_rate_percent=1.01, window_seconds=299), GUIDE), Level.OK,
     ["orders.dlq holds 10 messages (investigate above 100).",
      "orders dead-letters 1.01% of its messages into orders.dlq over the last 4 min; it warns when that stays "
      "above 1% for 5 min."]),
]


@pytest.mark.parametrize(("found", "level", "reasons"), [c[1:] for c in DLQ], ids=[c[0] for c in DLQ])
def test_dlq(found: Verdict, level: Level, reasons: list[str]) -> None:
    assert (found.level, found.reasons) == (level, reasons)


@pytest.mark.parametrize(("per_minute", "phrase"), [
    (None, ""), (0.0, ", not growing"), (0.4, ", growing 0.4/min"), (1.0, ", growing 1/min"),
    (56.0, ", growing 56/min"), (-12.0, ", shrinking 12/min"), (1234.5, ", growing 1,234/min"),
], ids=["no-earlier-look", "flat", "slow", "one", "growing", "shrinking", "thousands"])
def test_growth_phrase(per_minute: float | None, phrase: str) -> None:
    assert growth_phrase(per_minute) == phrase


def test_error_rate_under_a_minute_is_shown_in_seconds() -> None:
    assert error_rate_reason("orders", "orders.dlq", 12.345, 30.0, GUIDE) == (
        Level.OK, "orders dead-letters 12.35% of its messages into orders.dlq over the last 30 s; it warns when "
                  "that stays above 1% for 5 min.")


# ---------------------------------------------------------------- brokers

BROKERS = [BrokerInfo(id=i, host=f"kafka-{i}", port=9092) for i in (1, 2, 3)]


def partitions(total: int, *, urp: int = 0, offline: int = 0) -> list[PartitionInfo]:
    ok = [PartitionInfo(topic="orders", partition=i, leader=1, replicas=[1, 2, 3], isr=[1, 2, 3])
          for i in range(total - urp - offline)]
    behind = [PartitionInfo(topic="orders", partition=1000 + i, leader=1, replicas=[1, 2, 3], isr=[1, 2])
              for i in range(urp)]
    gone = [PartitionInfo(topic="audit", partition=i, leader=-1, replicas=[3], isr=[]) for i in range(offline)]
    return ok + behind + gone


def cluster(parts: list[PartitionInfo], brokers: list[BrokerInfo] = BROKERS,
            controller: int | None = 1) -> KafkaClusterSnapshot:
    names = sorted({p.topic for p in parts})
    return summarize(cluster="prod", bootstrap_servers=["kafka-1:9092"], taken_at=NOW, cluster_id="c1",
                     controller_id=controller, brokers=brokers, partitions=parts,
                     topics=[TopicInfo(name=n, partitions=sum(p.topic == n for p in parts)) for n in names])


KAFKA: list[tuple[str, KafkaClusterSnapshot, Level, list[str]]] = [
    ("healthy", cluster(partitions(20)), Level.OK,
     ["3 brokers answering (ids 1, 2, 3), controller 1, 1 topic (0 internal) with 20 partitions, none "
      "under-replicated, none offline."]),
    ("5.0% under-replicated is not above 5%", cluster(partitions(20, urp=1)), Level.OK,
     ["3 brokers answering (ids 1, 2, 3), controller 1, 1 topic (0 internal) with 20 partitions, 1 "
      "under-replicated, none offline.",
      "1 of 20 partitions (5.0%) is under-replicated; the threshold is 5%. Examples: orders-1000; replicas out of "
      "sync are on brokers 3. Below the threshold, so no alert: watch that it clears."]),
    ("5.3% under-replicated warns", cluster(partitions(19, urp=1)), Level.WARNING,
     ["1 of 19 partitions (5.3%) is under-replicated; the threshold is 5%. Examples: orders-1000; replicas out of "
      "sync are on brokers 3. Check those brokers' health and replication, or wait for them to catch up."]),
    ("a broker down", cluster(partitions(6), brokers=BROKERS[:2]), Level.CRITICAL,
     ["Broker 3 holds replicas of 6 partitions but is not answering; answering brokers: 1, 2. Restart it or check "
      "its logs, disk and network."]),
    ("offline partitions", cluster(partitions(6, offline=2)), Level.CRITICAL,
     ["2 of 6 partitions are offline (no leader): audit-0, audit-1; nobody can produce to or consume from them. "
      "Bring back a broker holding their replicas (3).",
      "2 of 6 partitions (33.3%) are under-replicated; the threshold is 5%. Examples: audit-0, audit-1; replicas "
      "out of sync are on brokers 3. Check those brokers' health and replication, or wait for them to catch up."]),
    ("no controller", cluster(partitions(3), controller=None), Level.CRITICAL,
     ["No active controller is reported; topic, partition and leadership changes fail until one is elected. Check "
      "the controller quorum (kafka-metadata-quorum.sh describe --status) and the controller logs."]),
    ("unreachable", unreachable("prod", ["kafka-1:9092"], "Failed to get metadata: Local: Broker transport failure",
                                "_TRANSPORT", NOW), Level.CRITICAL,
     ["Kafka unreachable (tried kafka-1:9092): Failed to get metadata: Local: Broker transport failure "
      "(_TRANSPORT). Check that the brokers of cluster 'prod' are running and reachable from the bot."]),
]


@pytest.mark.parametrize(("snapshot", "level", "reasons"), [c[1:] for c in KAFKA], ids=[c[0] for c in KAFKA])
def test_kafka_cluster(snapshot: KafkaClusterSnapshot, level: Level, reasons: list[str]) -> None:
    v = kafka_cluster_verdict(snapshot, GUIDE)
    assert (v.level, v.reasons) == (level, reasons)


def node(name: str = "rabbit@a", **fields: Any) -> RabbitNode:
    base: dict[str, Any] = {"running": True, "mem_used": 1 << 30, "mem_limit": 4 << 30, "disk_free": 50 << 30,
                            "disk_free_limit": 50_000_000, "fd_used": 100, "fd_total": 1000}
    return RabbitNode(name=name, **(base | fields))


def rabbit(*nodes: RabbitNode) -> RabbitNodesSnapshot:
    return RabbitNodesSnapshot(cluster="prod", taken_at=NOW, management_url="http://rabbit:15672",
                               management_ok=True, nodes=list(nodes), checks=[],
                               overview=RabbitOverview(rabbitmq_version="3.13.7", connections=4, queues=12))


def management_down(amqp_up: bool) -> RabbitNodesSnapshot:
    amqp = AmqpReachability(host="rabbit", port=5672, connected=amqp_up, version="3.13.7" if amqp_up else None,
                            error=None if amqp_up else "AMQPConnectionError: refused")
    return RabbitNodesSnapshot(cluster="prod", taken_at=NOW, management_url="http://rabbit:15672",
                               management_ok=False, management_error="ConnectionError: refused", amqp=amqp)


RABBIT: list[tuple[str, RabbitNodesSnapshot, Level, list[str]]] = [
    ("healthy", rabbit(node()), Level.OK,
     ["1 of 1 node running (RabbitMQ 3.13.7), no alarms, 4 connections, 12 queues."]),
    ("a node down", rabbit(node(), RabbitNode(name="rabbit@b", running=False)), Level.CRITICAL,
     ["Node rabbit@b is not running; queues whose leader is on it are unavailable. Check it with "
      "rabbitmq-diagnostics status and restart it."]),
    ("memory alarm", rabbit(node(mem_alarm=True, mem_used=4 << 30)), Level.CRITICAL,
     ["Node rabbit@a has a memory alarm (4.0 GiB used, limit 4.0 GiB); publishers are blocked until it clears. "
      "Drain the deepest queues or add consumers."]),
    ("disk alarm", rabbit(node(disk_free_alarm=True, disk_free=40_000_000)), Level.CRITICAL,
     ["Node rabbit@a has a disk alarm (38.1 MiB free, limit 47.7 MiB); publishers are blocked until it clears. "
      "Free disk space or drain queues."]),
    ("file descriptors at 90% are fine", rabbit(node(fd_used=900)), Level.OK,
     ["1 of 1 node running (RabbitMQ 3.13.7), no alarms, 4 connections, 12 queues."]),
    ("file descriptors above 90% warn", rabbit(node(fd_used=950)), Level.WARNING,
     ["Node rabbit@a uses 95% of its file descriptors (950 of 1000); at the limit it refuses new connections. "
      "Look for connection leaks or raise the limit."]),
    ("management down, AMQP answers", management_down(True), Level.WARNING,
     ["RabbitMQ management API at http://rabbit:15672 is unavailable (ConnectionError: refused); only reachability "
      "is known: AMQP rabbit:5672 accepts connections (RabbitMQ 3.13.7). Node memory, disk and alarms are unknown: "
      "check the management plugin (rabbitmq-plugins list) and the bot's credentials."]),
    ("management and AMQP down", management_down(False), Level.CRITICAL,
     ["RabbitMQ 'prod' unreachable: management API at http://rabbit:15672 failed (ConnectionError: refused) and "
      "AMQP rabbit:5672 failed (AMQPConnectionError: refused). Check that the broker is running and reachable from "
      "the bot."]),
]


@pytest.mark.parametrize(("snapshot", "level", "reasons"), [c[1:] for c in RABBIT], ids=[c[0] for c in RABBIT])
def test_rabbit_nodes(snapshot: RabbitNodesSnapshot, level: Level, reasons: list[str]) -> None:
    v = rabbit_nodes_verdict(snapshot)
    assert (v.level, v.reasons) == (level, reasons)


# ---------------------------------------------------------------- schemas

def checked(compatible: bool, messages: list[str] | None = None,
            changes: list[SchemaChange] | None = None) -> CompatibilityResult:
    return CompatibilityResult(registry="local", subject="orders-value", against_version=7, against_id=1042,
                               level="BACKWARD", is_compatible=compatible, messages=messages or [],
                               changes=changes or [])


def subject(level: str = "BACKWARD", minutes_ago: tuple[int, ...] = (600,)) -> SubjectSnapshot:
    recent = [VersionInfo(version=i + 1, id=100 + i, registered_at=NOW - timedelta(minutes=m))
              for i, m in enumerate(minutes_ago)]
    return SubjectSnapshot(subject="orders-value", versions=[v.version for v in recent], recent=recent,
                           compatibility=level, compatibility_source="subject")


def registry(global_level: str, *subjects: SubjectSnapshot) -> RegistrySnapshot:
    return RegistrySnapshot(registry="local", url="http://sr:8081", taken_at=NOW, reachable=True,
                            global_compatibility=global_level, all_subjects=["orders-value", "payments-value"],
                            subjects=list(subjects))


REMOVED = SchemaChange(change="removed", field="amount", before="int", breaks=["FORWARD"])
INCOMPATIBLE = ("The candidate schema is incompatible with version 7 (id 1042) of 'orders-value' under BACKWARD{}. "
                "Do not deploy a producer with it; roll back or evolve the schema compatibly.")
IMPACT = ("Running clients keep using cached schemas; new schema versions, new producers and consumers meeting an "
          "unseen schema id fail until it is back.")

SCHEMA: list[tuple[str, Verdict, Level, list[str]]] = [
    ("compatible candidate", compatibility_verdict(checked(True)), Level.OK,
     ["The candidate schema is compatible with version 7 (id 1042) of 'orders-value' under BACKWARD."]),
    ("incompatible, the registry's words", compatibility_verdict(checked(False, ["READER_FIELD_MISSING: amount"])),
     Level.CRITICAL, [INCOMPATIBLE.format(": READER_FIELD_MISSING: amount")]),
    ("incompatible, our diff", compatibility_verdict(checked(False, changes=[REMOVED])), Level.CRITICAL,
     [INCOMPATIBLE.format(": field 'amount' (int) removed; it had no default: breaks FORWARD compatibility")]),
    ("incompatible, no details", compatibility_verdict(checked(False)), Level.CRITICAL,
     [INCOMPATIBLE.format(" (the registry gave no details)")]),
    ("registry unreachable", error_verdict(ErrorKind.UNREACHABLE, "Schema Registry 'local' is unreachable."),
     Level.WARNING, [f"Schema Registry 'local' is unreachable. {IMPACT}"]),
    ("registry timed out", error_verdict(ErrorKind.TIMEOUT, "Schema Registry 'local' timed out."),
     Level.WARNING, [f"Schema Registry 'local' timed out. {IMPACT}"]),
    ("invalid candidate", error_verdict(ErrorKind.INVALID_SCHEMA, "Invalid schema: no type."), Level.CRITICAL,
     ["Invalid schema: no type."]),
    ("unknown subject", error_verdict(ErrorKind.SUBJECT_NOT_FOUND, "No subject 'x'."), Level.WARNING,
     ["No subject 'x'."]),
    ("subject at BACKWARD", subject_verdict(subject(), now=NOW), Level.OK,
     ["Subject 'orders-value': version 1 registered (id 100); 1 version; compatibility BACKWARD (subject)."]),
    ("subject at NONE", subject_verdict(subject("NONE"), now=NOW), Level.WARNING,
     ["Subject 'orders-value' has compatibility NONE (subject level): any change is accepted; consumers can "
      "break."]),
    ("3 versions within the hour", subject_verdict(subject(minutes_ago=(60, 40, 30)), now=NOW), Level.WARNING,
     ["High schema change rate: 3 versions of 'orders-value' registered in the last 60 minutes (versions 1, 2, 3); "
      "review the recent schema changes."]),
    ("3 versions, one 61 minutes ago", subject_verdict(subject(minutes_ago=(61, 40, 30)), now=NOW), Level.OK,
     ["Subject 'orders-value': version 3 registered (id 102); 3 versions; compatibility BACKWARD (subject)."]),
    ("global NONE", registry_verdict(registry("NONE")), Level.WARNING,
     ["Schema Registry 'local' has global compatibility NONE: subjects without their own level accept any change; "
      "consumers can break."]),
    ("global BACKWARD", registry_verdict(registry("BACKWARD")), Level.OK,
     ["Schema Registry 'local' answers: 2 subjects, global compatibility BACKWARD."]),
]


@pytest.mark.parametrize(("found", "level", "reasons"), [c[1:] for c in SCHEMA], ids=[c[0] for c in SCHEMA])
def test_schema(found: Verdict, level: Level, reasons: list[str]) -> None:
    assert (found.level, found.reasons) == (level, reasons)


# ---------------------------------------------------------------- combining

COMBINE: list[tuple[str, Verdict, Level, list[str], str]] = [
    ("nothing to say", verdict([]), Level.OK, [], "OK"),
    ("OK reasons kept when all is well", verdict([(Level.OK, "a"), (Level.OK, "b")]), Level.OK, ["a", "b"], "OK: a"),
    ("OK reasons dropped beside a problem", verdict([(Level.OK, "fine"), (Level.WARNING, "w")]), Level.WARNING,
     ["w"], "WARNING: w"),
    ("worst first", verdict([(Level.WARNING, "w"), (Level.CRITICAL, "c"), (Level.WARNING, "w2")]), Level.CRITICAL,
     ["c", "w", "w2"], "CRITICAL: c"),
    ("combine: the worst verdict's reasons first", combine(Verdict(reasons=["ok"]),
                                                           Verdict(level=Level.CRITICAL, reasons=["down"])),
     Level.CRITICAL, ["down", "ok"], "CRITICAL: down"),
    ("combine nothing", combine(), Level.OK, [], "OK"),
]


@pytest.mark.parametrize(("found", "level", "reasons", "headline"), [c[1:] for c in COMBINE],
                         ids=[c[0] for c in COMBINE])
def test_verdict_and_combine(found: Verdict, level: Level, reasons: list[str], headline: str) -> None:
    assert (found.level, found.reasons, found.headline) == (level, reasons, headline)
