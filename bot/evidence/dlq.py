"""DLQs and queues, judged: probe, compare with the stored baseline, store the new
observation. The one entry point for /dlq, /rabbit and the incident checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from confluent_kafka import KafkaException
from sqlalchemy import Engine

from bot.config import Thresholds
from bot.evidence import depth_history
from bot.health.coverage import partial
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
               sample_size: int | None = 0, keep: Callable[[str], bool] | None = None) -> list[KafkaDlq]:
    """Every Kafka DLQ (or the one of `name`), judged; stores each depth as the next baseline.
    Raises kafka_dlq.DlqNotFound and confluent_kafka.KafkaException."""
    now = datetime.now().timestamp()
    settings = clients.settings
    timeout = settings.kafka[cluster].request_timeout_s
    topics = list(clients.kafka_admin(cluster).list_topics(timeout=timeout).topics)
    names = [r.topic for r in kafka_dlq.discover({t: [] for t in topics}, settings.dlq)
             if keep is None or keep(r.topic)]
    stored = depth_history.baseline(engine, "kafka-dlq", cluster, names, now)
    previous = {n: DepthObservation.model_validate(d) for n, d in stored.items()}
    snaps = kafka_dlq.kafka_dlq_snapshots(clients, cluster, name, sample_size=sample_size, previous=previous,
                                          keep=keep)
    depth_history.record_many(engine, "kafka-dlq", cluster, [
        (s.topic, s.taken_at.timestamp(), s.observation.model_dump(mode="json")) for s in snaps])
    found = [KafkaDlq(s, _seen_partly(s, kafka_dlq_verdict(s, thresholds))) for s in snaps]
    return sorted(found, key=lambda d: (d.verdict.level, d.snapshot.depth), reverse=True)


def _seen_partly(snapshot: KafkaDlqSnapshot, judged: Verdict) -> Verdict:
    """A DLQ some of whose partitions gave no offsets: its depth counts only the others,
    so its verdict says which were not seen and is not OK."""
    unseen = [note for note in snapshot.notes if note.startswith(f"{snapshot.topic} partition ")
              and ("offsets unavailable" in note or "no offsets within" in note)]
    if not unseen:
        return judged
    return partial(judged, [f"Depth without partitions whose offsets could not be read: {' '.join(unseen)}"],
                   saw_anything=bool(snapshot.partitions))


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


# Past the configured timeout, how long a probe may take to report its own failure.
GRACE_S = 1.0
T = TypeVar("T")


@dataclass
class Overview:
    """Every DLQ of one Kafka cluster and one RabbitMQ, and what could not be seen."""

    kafka: list[KafkaDlq] = field(default_factory=list)
    rabbit: list[RabbitQueue] = field(default_factory=list)
    unseen: list[str] = field(default_factory=list)  # one sentence per broker that could not be read

    @property
    def saw_anything(self) -> bool:
        return len(self.unseen) < 2  # two brokers were looked at: one sentence each that could not be


def overview(clients: Clients, engine: Engine, thresholds: Thresholds, *, kafka_cluster: str,
             rabbit_cluster: str) -> Overview:
    """Both brokers probed at once, so that a dead one costs one timeout, not the sum;
    a probe still running at its timeout (plus a grace) is reported as unseen and
    left to finish in the background."""
    settings = clients.settings
    kafka_settings, rabbit_settings = settings.kafka[kafka_cluster], settings.rabbitmq[rabbit_cluster]
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dlq-probe")
    kafka_future = pool.submit(kafka_dlqs, clients, engine, thresholds, cluster=kafka_cluster)
    rabbit_future = pool.submit(rabbit_dlqs, clients, thresholds, cluster=rabbit_cluster)
    pool.shutdown(wait=False)
    started = time.monotonic()
    out = Overview()
    kafka_where = (f"Kafka `{kafka_cluster}` could not be seen (tried {kafka_settings.bootstrap_servers}, "
                   f"timeout {kafka_settings.request_timeout_s:g} s, kafka.{kafka_cluster}.request_timeout_s)")
    try:
        out.kafka = _within(kafka_future, started + kafka_settings.request_timeout_s + GRACE_S)
    except KafkaException as exc:
        out.unseen.append(f"{kafka_where}: {kafka_error(exc)}. Its dead-letter topics are not listed.")
    except FutureTimeout:
        out.unseen.append(f"{kafka_where}: no answer in time. Its dead-letter topics are not listed.")
    rabbit_where = (f"RabbitMQ `{rabbit_cluster}` could not be seen (management API {rabbit_settings.management_url}, "
                    f"timeout {rabbit_settings.request_timeout_s:g} s, "
                    f"rabbitmq.{rabbit_cluster}.request_timeout_s)")
    try:
        out.rabbit = _within(rabbit_future, started + rabbit_settings.request_timeout_s + GRACE_S)
    except rabbitmq.RabbitUnavailable as exc:
        out.unseen.append(f"{rabbit_where}: {str(exc).rstrip('.')}. Its dead-letter queues are not listed.")
    except FutureTimeout:
        out.unseen.append(f"{rabbit_where}: no answer in time. Its dead-letter queues are not listed.")
    return out


def _within(future: Future[T], deadline: float) -> T:
    return future.result(timeout=max(0.0, deadline - time.monotonic()))


def kafka_error(exc: KafkaException) -> str:
    """librdkafka's own sentence, without the KafkaError{...} wrapping."""
    first = exc.args[0] if exc.args else None
    return str(first.str()) if hasattr(first, "str") else str(exc)
