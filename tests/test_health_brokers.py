"""Broker verdicts on constructed snapshots: one row per situation an on-call
engineer must tell apart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import Thresholds
from bot.health.brokers import kafka_cluster_verdict, rabbit_nodes_verdict
from bot.health.verdict import Level
from bot.probes.kafka_cluster import BrokerInfo, KafkaClusterSnapshot, PartitionInfo, TopicInfo, summarize, unreachable
from bot.probes.rabbitmq_nodes import (
    AmqpReachability,
    HealthCheck,
    RabbitAlarm,
    RabbitNode,
    RabbitNodesSnapshot,
    RabbitOverview,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
BROKERS = [BrokerInfo(id=i, host=f"kafka-{i}", port=9092) for i in (1, 2, 3)]


def healthy(n: int) -> list[PartitionInfo]:
    return [PartitionInfo(topic="orders", partition=i, leader=1 + i % 3,
                          replicas=[1 + i % 3, 1 + (i + 1) % 3, 1 + (i + 2) % 3], isr=[1, 2, 3]) for i in range(n)]


def urp(n: int, start: int = 1000) -> list[PartitionInfo]:
    return [PartitionInfo(topic="payments", partition=start + i, leader=1, replicas=[1, 2, 3], isr=[1, 3])
            for i in range(n)]


def kafka(partitions: list[PartitionInfo], brokers: list[BrokerInfo] = BROKERS, controller_id: int | None = 1,
          bootstrap: list[str] | None = None, not_answering: list[str] | None = None) -> KafkaClusterSnapshot:
    topics = sorted({p.topic for p in partitions})
    return summarize(
        cluster="prod", bootstrap_servers=bootstrap or ["kafka-1:9092"], taken_at=NOW, cluster_id="c1",
        controller_id=controller_id, brokers=brokers,
        topics=[TopicInfo(name=t, partitions=sum(1 for p in partitions if p.topic == t)) for t in topics],
        partitions=partitions, bootstrap_not_answering=not_answering,
    )


KAFKA_CASES: list[tuple[str, KafkaClusterSnapshot, Level, list[str]]] = [
    ("healthy", kafka(healthy(120)), Level.OK,
     ["3 brokers answering (ids 1, 2, 3), controller 1, 1 topic (0 internal) with 120 partitions, "
      "none under-replicated, none offline."]),
    ("unreachable", unreachable("prod", ["kafka-1:9092", "kafka-2:9092"], "Failed to get metadata: Local: "
                                "Broker transport failure", "_TRANSPORT", NOW), Level.CRITICAL,
     ["Kafka unreachable (tried kafka-1:9092, kafka-2:9092): Failed to get metadata: Local: Broker transport "
      "failure (_TRANSPORT)."]),
    ("no controller", kafka(healthy(10), controller_id=None), Level.CRITICAL, ["No active controller is reported"]),
    ("controller -1 from metadata", kafka(healthy(10), controller_id=-1), Level.CRITICAL,
     ["No active controller is reported"]),
    ("broker missing from live list", kafka(healthy(9), brokers=BROKERS[:2]), Level.CRITICAL,
     ["Broker 3 holds replicas of 9 partitions but is not answering; answering brokers: 1, 2."]),
    ("bootstrap server not answering", kafka(healthy(9), not_answering=["kafka-4:9092"]), Level.CRITICAL,
     ["Bootstrap server kafka-4:9092 is not answering"]),
    ("offline partitions", kafka(healthy(118) + [
        PartitionInfo(topic="audit", partition=0, leader=-1, replicas=[2], isr=[2]),
        PartitionInfo(topic="audit", partition=1, leader=-1, replicas=[3], isr=[3])]), Level.CRITICAL,
     ["2 of 120 partitions are offline (no leader): audit-0, audit-1;", "(2, 3)"]),
    ("URP above threshold", kafka(healthy(110) + urp(10)), Level.WARNING,
     ["10 of 120 partitions (8.3%) are under-replicated; the threshold is 5%. Examples: payments-1000, "
      "payments-1001, payments-1002, payments-1003, payments-1004 and 5 more; replicas out of sync are on brokers 2"]),
    ("URP below threshold is listed at OK", kafka(healthy(118) + urp(2)), Level.OK,
     ["3 brokers answering", "2 of 120 partitions (1.7%) are under-replicated; the threshold is 5%.",
      "Below the threshold"]),
    ("URP exactly at threshold is not above it", kafka(healthy(95) + urp(5)), Level.OK,
     ["5 of 100 partitions (5.0%) are under-replicated"]),
    ("leaders off their preferred replica", kafka(healthy(9) + [
        PartitionInfo(topic="orders", partition=9, leader=2, replicas=[1, 2, 3], isr=[1, 2, 3])]), Level.OK,
     ["3 brokers answering", "1 partition is led by a broker other than its preferred replica (orders-9); "
      "a preferred leader election would rebalance leadership."]),
]


@pytest.mark.parametrize(("snapshot", "level", "expected"), [c[1:] for c in KAFKA_CASES],
                         ids=[c[0] for c in KAFKA_CASES])
def test_kafka_cluster_verdict(snapshot: KafkaClusterSnapshot, level: Level, expected: list[str]) -> None:
    v = kafka_cluster_verdict(snapshot, Thresholds())
    assert v.level == level, v.reasons
    text = "\n".join(v.reasons)
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in {v.reasons}"
    assert fragment_order(v.reasons, expected)


def fragment_order(reasons: list[str], expected: list[str]) -> bool:
    """The expected fragments appear in this order across the reasons (worst first)."""
    positions = [next(i for i, r in enumerate(reasons) if f in r) for f in expected]
    return positions == sorted(positions)


def test_kafka_below_threshold_urp_stays_listed_beside_a_critical() -> None:
    snap = kafka(healthy(117) + urp(2), brokers=BROKERS[:2])  # broker 3 gone
    v = kafka_cluster_verdict(snap, Thresholds())
    assert v.level == Level.CRITICAL
    assert v.reasons[0].startswith("Broker 3 holds replicas")
    assert any("under-replicated" in r and "Below the threshold" in r for r in v.reasons[1:])
    assert not any("brokers answering" in r for r in v.reasons)  # the all-is-well summary is dropped


def test_kafka_threshold_is_configurable() -> None:
    snap = kafka(healthy(118) + urp(2))
    assert kafka_cluster_verdict(snap, Thresholds(under_replicated_percent=1.0)).level == Level.WARNING
    assert kafka_cluster_verdict(snap, Thresholds(under_replicated_percent=0)).level == Level.WARNING


def node(name: str = "rabbit@a", **fields: Any) -> RabbitNode:
    base: dict[str, Any] = {"running": True, "mem_used": 1 << 30, "mem_limit": 4 << 30, "disk_free": 50 << 30,
                            "disk_free_limit": 50_000_000, "fd_used": 100, "fd_total": 1000}
    return RabbitNode(name=name, **(base | fields))


def rabbit(nodes: list[RabbitNode], checks: list[HealthCheck] | None = None) -> RabbitNodesSnapshot:
    return RabbitNodesSnapshot(
        cluster="prod", taken_at=NOW, management_url="http://rabbit:15672", management_ok=True,
        overview=RabbitOverview(rabbitmq_version="3.10.8", connections=4, queues=12), nodes=nodes,
        checks=checks if checks is not None else [HealthCheck(name="alarms", ok=True, status_code=200)],
    )


def fallback(connected: bool) -> RabbitNodesSnapshot:
    amqp = AmqpReachability(host="rabbit", port=5672, connected=connected,
                            version="3.10.8" if connected else None,
                            error=None if connected else "AMQPConnectionError: refused")
    return RabbitNodesSnapshot(cluster="prod", taken_at=NOW, management_url="http://rabbit:15672",
                               management_ok=False, management_error="GET /api/overview: ConnectionError: refused",
                               amqp=amqp)


RABBIT_CASES: list[tuple[str, RabbitNodesSnapshot, Level, list[str]]] = [
    ("healthy", rabbit([node(), node("rabbit@b")]), Level.OK,
     ["2 of 2 nodes running (RabbitMQ 3.10.8), no alarms, 4 connections, 12 queues."]),
    ("node not running", rabbit([node(), RabbitNode(name="rabbit@b", running=False)]), Level.CRITICAL,
     ["Node rabbit@b is not running"]),
    ("memory alarm", rabbit([node(mem_alarm=True, mem_used=4 << 30)]), Level.CRITICAL,
     ["Node rabbit@a has a memory alarm (4.0 GiB used, limit 4.0 GiB); publishers are blocked"]),
    ("disk alarm", rabbit([node(disk_free_alarm=True, disk_free=40_000_000)]), Level.CRITICAL,
     ["Node rabbit@a has a disk alarm (38.1 MiB free, limit 47.7 MiB)"]),
    ("fd above 90%", rabbit([node(fd_used=950)]), Level.WARNING,
     ["Node rabbit@a uses 95% of its file descriptors (950 of 1000)"]),
    ("fd at 90% is fine", rabbit([node(fd_used=900)]), Level.OK, ["1 of 1 node running"]),
    ("alarm from the health check only", rabbit([node()], [HealthCheck(
        name="alarms", ok=False, status_code=503, reason="There are alarms in effect in the cluster",
        alarms=[RabbitAlarm(node="rabbit@a", resource="file descriptors")])]), Level.CRITICAL,
     ["Alarm in effect: file descriptors on node rabbit@a"]),
    ("listener down", rabbit([node()], [HealthCheck(name="port-listener/5672", ok=False, status_code=503,
                                                    reason="No active listener")]), Level.CRITICAL,
     ["Health check port-listener/5672 failed (No active listener)"]),
    ("management down, AMQP up", fallback(True), Level.WARNING,
     ["RabbitMQ management API at http://rabbit:15672 is unavailable", "only reachability is known",
      "AMQP rabbit:5672 accepts connections (RabbitMQ 3.10.8)"]),
    ("management and AMQP down", fallback(False), Level.CRITICAL,
     ["RabbitMQ 'prod' unreachable", "AMQPConnectionError: refused"]),
]


@pytest.mark.parametrize(("snapshot", "level", "expected"), [c[1:] for c in RABBIT_CASES],
                         ids=[c[0] for c in RABBIT_CASES])
def test_rabbit_nodes_verdict(snapshot: RabbitNodesSnapshot, level: Level, expected: list[str]) -> None:
    v = rabbit_nodes_verdict(snapshot)
    assert v.level == level, v.reasons
    text = "\n".join(v.reasons)
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in {v.reasons}"


def test_memory_alarm_is_not_reported_twice() -> None:
    snap = rabbit([node(mem_alarm=True)], [HealthCheck(name="alarms", ok=False, status_code=503, reason="alarms",
                                                       alarms=[RabbitAlarm(node="rabbit@a", resource="memory")])])
    v = rabbit_nodes_verdict(snap)
    assert v.level == Level.CRITICAL and len([r for r in v.reasons if "memory" in r]) == 1
