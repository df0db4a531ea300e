"""DLQs and queues, judged: probe, compare with the stored baseline, store the new
observation. The one entry point for /dlq, /rabbit and the incident checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from bot.config import Thresholds
from bot.evidence import depth_history
from bot.health.dlq import kafka_dlq_verdict, rabbit_queue_verdict
from bot.health.verdict import Verdict
from bot.probes import kafka_dlq, rabbitmq
from bot.probes.clients import Clients
from bot.probes.dlq_models import DepthObservation, KafkaDlqSnapshot, QueueSnapshot


@dataclass
class KafkaDlq:
    snapshot: KafkaDlqSnapshot
    verdict: Verdict


@dataclass
class RabbitQueue:
    snapshot: QueueSnapshot
    verdict: Verdict


def kafka_dlqs(clients: Clients, engine: Engine, thresholds: Thresholds, *, cluster: str, name: str | None = None,
               sample_size: int | None = 0) -> list[KafkaDlq]:
    """Every Kafka DLQ (or the one of `name`), judged; stores each depth as the next baseline.
    Raises kafka_dlq.DlqNotFound and confluent_kafka.KafkaException."""
    now = datetime.now().timestamp()
    settings = clients.settings
    timeout = settings.kafka[cluster].request_timeout_s
    topics = list(clients.kafka_admin(cluster).list_topics(timeout=timeout).topics)
    names = [r.topic for r in kafka_dlq.discover({t: [] for t in topics}, settings.dlq)]
    stored = depth_history.baseline(engine, "kafka-dlq", cluster, names, now)
    previous = {n: DepthObservation.model_validate(d) for n, d in stored.items()}
    snaps = kafka_dlq.kafka_dlq_snapshots(clients, cluster, name, sample_size=sample_size, previous=previous)
    for s in snaps:
        depth_history.record(engine, "kafka-dlq", cluster, s.topic, s.taken_at.timestamp(),
                             s.observation.model_dump(mode="json"))
    found = [KafkaDlq(s, kafka_dlq_verdict(s, thresholds)) for s in snaps]
    return sorted(found, key=lambda d: (d.verdict.level, d.snapshot.depth), reverse=True)


def rabbit_queue(clients: Clients, engine: Engine, thresholds: Thresholds, *, cluster: str, name: str,
                 sample_size: int | None = 0, as_dlq: bool | None = None) -> RabbitQueue:
    """Any queue, dead-letter or not (`as_dlq` None: judged as a DLQ when it is one);
    stores its depth as the next baseline.
    Raises rabbitmq.QueueNotFound and rabbitmq.RabbitUnavailable."""
    now = datetime.now().timestamp()
    stored = depth_history.baseline(engine, "rabbit-queue", cluster, [name], now).get(name)
    previous = (stored["depth"], datetime.fromisoformat(stored["taken_at"])) if stored else None
    snap = rabbitmq.rabbit_queue_snapshot(clients, cluster, name, sample_size=sample_size, previous=previous)
    depth_history.record(engine, "rabbit-queue", cluster, name, snap.taken_at.timestamp(),
                         {"depth": snap.depth, "taken_at": snap.taken_at.isoformat()})
    return RabbitQueue(snap, rabbit_queue_verdict(snap, thresholds, as_dlq=as_dlq))


def rabbit_dlqs(clients: Clients, thresholds: Thresholds, *, cluster: str) -> list[RabbitQueue]:
    """Every RabbitMQ dead-letter queue, without samples. Raises RabbitUnavailable."""
    found = [RabbitQueue(s, rabbit_queue_verdict(s, thresholds, as_dlq=True))
             for s in rabbitmq.rabbit_dead_letter_queues(clients, cluster)]
    return sorted(found, key=lambda q: (q.verdict.level, q.snapshot.depth), reverse=True)
