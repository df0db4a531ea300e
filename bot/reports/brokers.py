"""Broker health as Reports: Kafka clusters and RabbitMQ nodes."""

from __future__ import annotations

from bot.health.verdict import Verdict
from bot.probes.kafka_cluster import KafkaClusterSnapshot
from bot.probes.rabbitmq_nodes import RabbitNodesSnapshot
from bot.reports.report import Report, Table
from bot.text import plural


def _ids(ids: list[int]) -> str:
    return ",".join(str(i) for i in ids) or "-"


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def kafka_report(snap: KafkaClusterSnapshot, verdict: Verdict) -> Report:
    bootstrap = ",".join(snap.bootstrap_servers)
    cli = [f"kafka-broker-api-versions.sh --bootstrap-server {bootstrap}",
           f"kafka-topics.sh --bootstrap-server {bootstrap} --describe --under-replicated-partitions"]
    if not snap.reachable:
        return Report(title=f"Kafka brokers: {snap.cluster}", verdict=verdict, taken_at=snap.taken_at, cli=cli,
                      notes=[f"Gave up after {snap.elapsed_ms / 1000:.1f} s."])
    leaders: dict[int, int] = {}
    for p in snap.partitions:
        leaders[p.leader] = leaders.get(p.leader, 0) + 1
    brokers = Table(
        title="Brokers",
        headers=["ID", "ADDRESS", "RACK", "ROLE", "LEADS"],
        rows=[[str(b.id), b.address, b.rack or "-", "controller" if b.id == snap.controller_id else "broker",
               str(leaders.get(b.id, 0))] for b in sorted(snap.brokers, key=lambda b: b.id)]
        + [[str(m.id), "not answering", "-", "missing", f"in {m.partitions} replica sets"]
           for m in snap.missing_brokers],
    )
    troubled = snap.offline + [p for p in snap.under_replicated if not p.offline]
    tables = [brokers]
    if troubled:
        tables.append(Table(
            title="Partitions in trouble",
            headers=["PARTITION", "LEADER", "REPLICAS", "ISR", "STATE"],
            rows=[[p.name, "none" if p.offline else str(p.leader), _ids(p.replicas), _ids(p.isr),
                   "OFFLINE" if p.offline else "under-replicated"] for p in troubled],
        ))
    notes = [
        f"{plural(snap.topic_count, 'topic')} ({snap.internal_topic_count} internal), "
        f"{plural(snap.partition_count, 'partition')}; "
        f"{len(snap.under_replicated)} under-replicated ({snap.under_replicated_percent:.1f}%), "
        f"{len(snap.offline)} offline, {len(snap.leader_not_preferred)} led by a non-preferred replica.",
        *snap.notes,
    ]
    return Report(title=f"Kafka brokers: {snap.cluster}", verdict=verdict, tables=tables, notes=notes,
                  taken_at=snap.taken_at, cli=cli)


def rabbit_nodes_report(snap: RabbitNodesSnapshot, verdict: Verdict) -> Report:
    cli = ["rabbitmq-diagnostics check_running", "rabbitmq-diagnostics alarms",
           "rabbitmqctl list_queues name messages consumers"]
    tables = []
    if snap.nodes:
        tables.append(Table(
            title="Nodes",
            headers=["NODE", "RUNNING", "MEMORY", "MEM ALARM", "DISK FREE", "DISK ALARM", "FDS"],
            rows=[[n.name, "yes" if n.running else "NO", f"{_bytes(n.mem_used)} of {_bytes(n.mem_limit)}",
                   "ALARM" if n.mem_alarm else "-", _bytes(n.disk_free), "ALARM" if n.disk_free_alarm else "-",
                   f"{n.fd_used}/{n.fd_total}" if n.fd_total else "-"] for n in snap.nodes],
        ))
    notes = []
    o = snap.overview
    if o is not None:
        notes.append(f"RabbitMQ {o.rabbitmq_version or '?'}: {plural(o.connections, 'connection')}, "
                     f"{plural(o.channels, 'channel')}, {plural(o.queues, 'queue')}, "
                     f"{plural(o.consumers, 'consumer')}; "
                     f"{plural(o.messages or 0, 'message')} "
                     f"({o.messages_ready or 0:,} ready, {o.messages_unacknowledged or 0:,} unacked).")
    if snap.amqp is not None:
        notes.append(f"AMQP {snap.amqp.host}:{snap.amqp.port}: "
                     + ("reachable" if snap.amqp.connected else f"unreachable ({snap.amqp.error})"))
    return Report(title=f"RabbitMQ nodes: {snap.cluster}", verdict=verdict, tables=tables, notes=notes,
                  taken_at=snap.taken_at, cli=cli)
