"""Broker health verdicts for Kafka clusters and RabbitMQ nodes.

Under-replicated partitions: the guide alerts at "> 5% partitions under-replicated"
but also lists "under-replicated partitions" among its warnings. Above the threshold
the verdict is WARNING. At or below it the level stays OK, because a few partitions
catching up after a rolling restart are routine and must not escalate, but the
partitions are still named in an informational reason: informational reasons (these
and leaders off their preferred replica) are kept even when something else is wrong,
since they say which partitions a failing broker has put at risk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.config import Thresholds
from bot.health.verdict import Level, Verdict, combine, verdict
from bot.probes.kafka_cluster import KafkaClusterSnapshot, PartitionInfo
from bot.probes.rabbitmq_nodes import RabbitNodesSnapshot
from bot.text import plural

FD_WARNING_PERCENT = 90.0
EXAMPLES = 5


def _examples(partitions: Sequence[PartitionInfo], limit: int = EXAMPLES) -> str:
    names = ", ".join(p.name for p in partitions[:limit])
    more = len(partitions) - limit
    return f"{names} and {more} more" if more > 0 else names


def _ids(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in sorted(set(ids)))


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def kafka_cluster_verdict(snapshot: KafkaClusterSnapshot, thresholds: Thresholds) -> Verdict:
    s = snapshot
    if not s.reachable:
        code = f" ({s.error_code})" if s.error_code else ""
        return Verdict(level=Level.CRITICAL, reasons=[
            f"Kafka unreachable (tried {', '.join(s.bootstrap_servers)}): {s.error}{code}. "
            f"Check that the brokers of cluster '{s.cluster}' are running and reachable from the bot."
        ])

    reasons: list[tuple[Level, str]] = []
    total = s.partition_count
    if s.controller_id is None:
        reasons.append((Level.CRITICAL, "No active controller is reported; topic, partition and leadership "
                                        "changes fail until one is elected. Check the controller quorum "
                                        "(kafka-metadata-quorum.sh describe --status) and the controller logs."))
    for missing in s.missing_brokers:
        reasons.append((Level.CRITICAL, f"Broker {missing.id} holds replicas of "
                                        f"{plural(missing.partitions, 'partition')} but is not answering; "
                                        f"answering brokers: {_ids(s.broker_ids) or 'none'}. "
                                        f"Restart it or check its logs, disk and network."))
    for server in s.bootstrap_not_answering:
        reasons.append((Level.CRITICAL, f"Bootstrap server {server} is not answering and is not among the "
                                        f"answering brokers ({', '.join(b.address for b in s.brokers)}); "
                                        f"check that broker, or remove it from bootstrap_servers "
                                        f"if it was retired."))
    if s.offline:
        replicas = _ids(r for p in s.offline for r in p.replicas)
        n = len(s.offline)
        reasons.append((Level.CRITICAL, f"{n} of {plural(total, 'partition')} {_are(n)} offline (no leader): "
                                        f"{_examples(s.offline)}; nobody can produce to or consume from them. "
                                        f"Bring back a broker holding their replicas ({replicas or 'none'})."))

    urp = s.under_replicated
    limit = thresholds.under_replicated_percent
    info: list[str] = []
    if urp:
        behind = _ids(r for p in urp for r in p.out_of_sync)
        text = (f"{len(urp)} of {plural(total, 'partition')} ({s.under_replicated_percent:.1f}%) {_are(len(urp))} "
                f"under-replicated; "
                f"the threshold is {limit:g}%. Examples: {_examples(urp)}; "
                f"replicas out of sync are on brokers {behind}")
        if s.under_replicated_percent > limit:
            reasons.append((Level.WARNING, f"{text}. Check those brokers' health and replication, "
                                           f"or wait for them to catch up."))
        else:
            info.append(f"{text}. Below the threshold, so no alert: watch that it clears.")
    if s.leader_not_preferred:
        n = len(s.leader_not_preferred)
        info.append(f"{plural(n, 'partition')} {_are(n)} led by a broker other than "
                    f"{'its' if n == 1 else 'their'} preferred replica ({_examples(s.leader_not_preferred)}); "
                    f"a preferred leader election would rebalance leadership.")
    for note in s.notes:
        info.append(f"Note: {note}.")

    internal = s.internal_topic_count
    reasons.append((Level.OK, f"{plural(len(s.brokers), 'broker')} answering (ids {_ids(s.broker_ids)}), "
                              f"controller {s.controller_id}, {plural(s.topic_count, 'topic')} "
                              f"({internal} internal) with {plural(total, 'partition')}, "
                              f"{'none' if not urp else len(urp)} under-replicated, "
                              f"{'none' if not s.offline else len(s.offline)} offline."))
    return combine(verdict(reasons), Verdict(reasons=info))


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def rabbit_nodes_verdict(snapshot: RabbitNodesSnapshot) -> Verdict:
    s = snapshot
    if not s.management_ok:
        amqp = s.amqp
        if amqp is not None and amqp.connected:
            version = f" ({amqp.product or 'RabbitMQ'} {amqp.version})" if amqp.version else ""
            return Verdict(level=Level.WARNING, reasons=[
                f"RabbitMQ management API at {s.management_url} is unavailable ({s.management_error}); "
                f"only reachability is known: AMQP {amqp.host}:{amqp.port} accepts connections{version}. "
                f"Node memory, disk and alarms are unknown: check the management plugin "
                f"(rabbitmq-plugins list) and the bot's credentials."
            ])
        where = f"{amqp.host}:{amqp.port}" if amqp else "AMQP"
        amqp_error = amqp.error if amqp else "not tried"
        return Verdict(level=Level.CRITICAL, reasons=[
            f"RabbitMQ '{s.cluster}' unreachable: management API at {s.management_url} failed "
            f"({s.management_error}) and AMQP {where} failed ({amqp_error}). "
            f"Check that the broker is running and reachable from the bot."
        ])

    o = s.overview
    running = sum(1 for n in s.nodes if n.running)
    version = f" (RabbitMQ {o.rabbitmq_version})" if o and o.rabbitmq_version else ""
    # First, so that it is the headline when nothing is wrong.
    reasons: list[tuple[Level, str]] = [
        (Level.OK, f"{running} of {plural(len(s.nodes), 'node')} running{version}, no alarms, "
                   f"{plural(o.connections if o else None, 'connection')}, {plural(o.queues if o else None, 'queue')}.")
    ]
    covered: set[tuple[str, str]] = set()
    for node in s.nodes:
        if not node.running:
            reasons.append((Level.CRITICAL, f"Node {node.name} is not running; queues whose leader is on it "
                                            f"are unavailable. Check it with rabbitmq-diagnostics status "
                                            f"and restart it."))
            continue
        if node.mem_alarm:
            covered.add((node.name, "memory"))
            reasons.append((Level.CRITICAL, f"Node {node.name} has a memory alarm ({_size(node.mem_used)} used, "
                                            f"limit {_size(node.mem_limit)}); publishers are blocked until it "
                                            f"clears. Drain the deepest queues or add consumers."))
        if node.disk_free_alarm:
            covered.add((node.name, "disk space"))
            reasons.append((Level.CRITICAL, f"Node {node.name} has a disk alarm ({_size(node.disk_free)} free, "
                                            f"limit {_size(node.disk_free_limit)}); publishers are blocked until "
                                            f"it clears. Free disk space or drain queues."))
        fd = node.fd_percent
        if fd is not None and fd > FD_WARNING_PERCENT:
            reasons.append((Level.WARNING, f"Node {node.name} uses {fd:.0f}% of its file descriptors "
                                           f"({node.fd_used} of {node.fd_total}); at the limit it refuses new "
                                           f"connections. Look for connection leaks or raise the limit."))
    for alarm in s.alarms:
        if (alarm.node, alarm.resource) not in covered:
            covered.add((alarm.node, alarm.resource))
            reasons.append((Level.CRITICAL, f"Alarm in effect: {alarm.resource} on node {alarm.node}; "
                                            f"publishing is blocked while it lasts."))
    for check in s.checks:
        if check.ok is False and "listener" in check.name:
            reasons.append((Level.CRITICAL, f"Health check {check.name} failed ({check.reason}); clients cannot "
                                            f"connect on it. Check the node's listeners and logs."))
        elif check.ok is None:
            reasons.append((Level.OK, f"Health check {check.name} could not be evaluated ({check.reason})."))
    return verdict(reasons)
