"""One round's looking: every watched cluster probed at once (bounded), each probe's
failure kept as an observation of its own instead of an exception."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from bot.config.watch import KafkaWatch, RabbitWatch
from bot.evidence import dlq, lag_history
from bot.evidence.lag_history import PartitionKey
from bot.evidence.lag_memory import LagMemory
from bot.health.lag_trend import Sample
from bot.probes import kafka_cluster, kafka_lag, rabbitmq, rabbitmq_nodes
from bot.probes.kafka_cluster import KafkaClusterSnapshot
from bot.probes.kafka_lag import KafkaUnavailable
from bot.probes.lag_models import GroupLag
from bot.probes.schema_registry import SchemaRegistryError
from bot.watch import observe
from bot.watch.judge import Observation
from bot.watch.store import Round

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.app.context import BotContext


@dataclass
class Looked:
    observations: list[Observation] = field(default_factory=list)
    # Key prefixes whose probe answered: a stored key under one of them that was not
    # observed is gone (a deleted group or DLQ), which counts as OK.
    answered: set[str] = field(default_factory=set)
    rounds: list[Round] = field(default_factory=list)
    # cluster -> watched group -> its members' client ids (None: the group could not be described)
    members: dict[str, dict[str, frozenset[str] | None]] = field(default_factory=dict)
    clusters: dict[str, KafkaClusterSnapshot] = field(default_factory=dict)
    schema_versions: dict[str, dict[str, int]] = field(default_factory=dict)  # registry -> subject -> latest


def kafka_targets(ctx: BotContext) -> dict[str, KafkaWatch]:
    configured = ctx.settings.watch.kafka
    return {name: (configured or {}).get(name, KafkaWatch()) for name in ctx.settings.kafka
            if configured is None or name in configured}


def rabbit_targets(ctx: BotContext) -> dict[str, RabbitWatch]:
    configured = ctx.settings.watch.rabbitmq
    return {name: (configured or {}).get(name, RabbitWatch()) for name in ctx.settings.rabbitmq
            if configured is None or name in configured}


@dataclass
class Memory:
    """What the watching process keeps between rounds (lost when another takes over)."""

    membership: observe.Membership = field(default_factory=observe.Membership)
    samples: LagMemory = field(default_factory=LagMemory)
    stored_at: dict[str, float] = field(default_factory=dict)  # cluster -> when its samples were last stored


def _lag(ctx: BotContext, cluster: str, watch: KafkaWatch, memory: Memory,
         now: float) -> tuple[list[GroupLag], dict[PartitionKey, list[Sample]]]:
    """The watched groups' lag, judged against the samples in memory (seeded from the
    stored ones at the first round); stored every watch.store_samples_every_s."""
    timeout = ctx.settings.kafka[cluster].request_timeout_s
    snap = kafka_lag.snapshot(ctx.clients.kafka_admin(cluster), cluster, None, timeout,
                              keep=lambda g: observe.watched(g, watch.groups, watch.exclude_groups),
                              offsets=lambda: ctx.clients.offsets_log(cluster))
    taken = snap.taken_at.timestamp()
    history = memory.samples.add_seeded(ctx.engine, snap).history
    if taken - memory.stored_at.get(cluster, -float("inf")) >= ctx.settings.watch.store_samples_every_s:
        lag_history.record(ctx.engine, snap)
        memory.stored_at[cluster] = taken
    return snap.groups, history


def _kafka(ctx: BotContext, cluster: str, watch: KafkaWatch, memory: Memory, out: Looked) -> None:
    started, now = time.monotonic(), time.time()
    found: list[Observation] = []
    error = None
    if watch.brokers:
        snap = kafka_cluster.kafka_cluster_snapshot(ctx.clients, cluster)
        out.clusters[cluster] = snap
        found.append(observe.kafka_cluster(ctx.settings, snap))
        if not snap.reachable:
            error = snap.error or "unreachable"
    if error is None:
        try:
            groups, history = _lag(ctx, cluster, watch, memory, now)
            out.members[cluster] = {g.group: None if g.error else frozenset(m.client_id for m in g.members)
                                    for g in groups}
            found += [observe.group(ctx.settings, cluster, g, history, memory.membership, now) for g in groups]
            out.answered.add(f"group:{cluster}:")
            if watch.dlqs:
                found += [observe.kafka_dlq(ctx.settings, cluster, d)
                          for d in dlq.kafka_dlqs(ctx.clients, ctx.engine, ctx.settings.thresholds, cluster=cluster,
                                                  keep=lambda t: observe.watched(t, watch.dlqs))]
                out.answered.add(f"dlq:{cluster}:")
        except (KafkaException, KafkaUnavailable) as exc:
            error = dlq.kafka_error(exc) if isinstance(exc, KafkaException) else str(exc)
    if error is not None:  # the cluster's own breach is that it could not be probed
        found = [o for o in found if o.key != f"kafka:{cluster}"] + [observe.unreachable(cluster, "Kafka", error)]
    else:
        out.answered.add(f"kafka:{cluster}")
    out.observations += found
    out.rounds.append(Round(f"kafka:{cluster}", now, (time.monotonic() - started) * 1000, len(found), error))


def _rabbit(ctx: BotContext, cluster: str, watch: RabbitWatch, out: Looked) -> None:
    started, now = time.monotonic(), time.time()
    found: list[Observation] = []
    error = None
    if watch.nodes:
        snap = rabbitmq_nodes.rabbit_nodes_snapshot(ctx.clients, cluster)
        found.append(observe.rabbit_nodes(snap))
        if not snap.management_ok:
            error = snap.management_error or "management API unavailable"
    if watch.dlqs and error is None:
        try:
            found += [observe.rabbit_dlq(ctx.settings, cluster, q)
                      for q in dlq.rabbit_dlqs(ctx.clients, ctx.settings.thresholds, cluster=cluster)
                      if observe.watched(q.snapshot.name, watch.dlqs)]
            out.answered.add(f"dlq:{cluster}:")
        except rabbitmq.RabbitUnavailable as exc:
            error = str(exc)
            found.append(observe.unreachable(cluster, "RabbitMQ", error))
    out.observations += found
    out.rounds.append(Round(f"rabbit:{cluster}", now, (time.monotonic() - started) * 1000, len(found), error))


def _schema(ctx: BotContext, registry: str, patterns: list[str], out: Looked) -> None:
    started, now = time.monotonic(), time.time()
    probe = ctx.clients.schema_registry(registry)
    found: list[Observation] = []
    error = None
    try:
        subjects = [s for s in probe.subjects() if observe.watched(s, patterns)]
        snaps = [probe.subject_snapshot(s, history=2) for s in subjects]
        found = [observe.schema(registry, s) for s in snaps]
        out.schema_versions[registry] = {s.subject: s.versions[-1] for s in snaps if s.versions}
        out.answered.add(f"schema:{registry}:")
    except SchemaRegistryError as exc:
        error = exc.message
    out.observations += found
    out.rounds.append(Round(f"schema:{registry}", now, (time.monotonic() - started) * 1000, len(found), error))


def look(ctx: BotContext, memory: Memory) -> Looked:
    out = Looked()
    jobs = [lambda c=c, w=w: _kafka(ctx, c, w, memory, out) for c, w in kafka_targets(ctx).items()]
    jobs += [lambda c=c, w=w: _rabbit(ctx, c, w, out) for c, w in rabbit_targets(ctx).items()]
    jobs += [lambda r=r, p=p: _schema(ctx, r, p, out) for r, p in ctx.settings.watch.schema_subjects.items()
             if r in ctx.settings.schema_registry]
    with ThreadPoolExecutor(max_workers=ctx.settings.watch.concurrency, thread_name_prefix="watch") as pool:
        for future in [pool.submit(job) for job in jobs]:
            try:
                future.result()
            except Exception:  # a probe's own bug must not end the round, nor the others' looks
                log.exception("watch: a probe failed")
    return out
