"""Kafka topic configurations: partitions, replication factor and the configs set on
the topic itself (not the broker's defaults), as JSON and as the ``kafka-topics
--create`` lines that recreate them. Internal topics (``__consumer_offsets``, ...) are
left out: the cluster makes those itself."""

from __future__ import annotations

import shlex
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from bot.backups.model import BackupError, Difference, compare_keyed
from bot.probes.clients import op_timeout

_BATCH = 100


def _err(exc: BaseException) -> str:
    first = exc.args[0] if exc.args else None
    return first.str() if hasattr(first, "str") else (str(exc) or type(exc).__name__)


def collect(admin: AdminClient, timeout: float, *, only: str | None = None) -> dict[str, Any]:
    """{"topics": {name: {"partitions", "replication_factor", "configs": {k: v}}}}"""
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BackupError(f"Reading the Kafka metadata failed: {_err(exc)}.") from None
    topics: dict[str, dict[str, Any]] = {}
    for name, tm in md.topics.items():
        if tm.error is not None or name.startswith("__") or (only and not name.startswith(only)):
            continue
        replicas = [len(p.replicas) for p in tm.partitions.values()]
        topics[name] = {"partitions": len(tm.partitions), "replication_factor": max(replicas, default=0),
                        "configs": {}}
    names = sorted(topics)
    for start in range(0, len(names), _BATCH):
        resources = [ConfigResource(ResourceType.TOPIC, n) for n in names[start:start + _BATCH]]
        futures = admin.describe_configs(resources, request_timeout=op_timeout(timeout))
        deadline = time.monotonic() + timeout * 2 + 1
        for resource, future in futures.items():
            try:
                entries = future.result(timeout=max(0.1, deadline - time.monotonic()))
            except KafkaException as exc:
                code = exc.args[0].code() if exc.args and hasattr(exc.args[0], "code") else None
                if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    topics.pop(resource.name, None)  # deleted since the metadata was read
                    continue
                raise BackupError(f"Describing the configuration of {resource.name} failed: {_err(exc)}.") from None
            except FutureTimeout:
                raise BackupError(f"Describing the configuration of {resource.name} got no answer.") from None
            topics[resource.name]["configs"] = {
                k: e.value for k, e in sorted(entries.items())
                if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and not e.is_sensitive and e.value is not None}
    return {"topics": dict(sorted(topics.items()))}


def select(data: dict[str, Any], only: str | None) -> dict[str, Any]:
    return data if not only else {"topics": {t: v for t, v in data["topics"].items() if t.startswith(only)}}


def renamed(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    return data if not prefix else {"topics": {prefix + t: v for t, v in data["topics"].items()}}


def as_commands(data: dict[str, Any], bootstrap: str) -> str:
    """The topics as kafka-topics lines a person can read and run."""
    lines = ["# Recreate these topics with Kafka's own tools; configs are the topic-level overrides.",
             f"# kafka-configs --bootstrap-server {bootstrap} --entity-type topics --entity-name T --describe "
             f"shows them for one topic."]
    for name, t in data["topics"].items():
        configs = "".join(f" --config {shlex.quote(f'{k}={v}')}" for k, v in t["configs"].items())
        lines.append(f"kafka-topics --bootstrap-server {bootstrap} --create --topic {shlex.quote(name)} "
                     f"--partitions {t['partitions']} --replication-factor {t['replication_factor']}{configs}")
    return "\n".join(lines) + "\n"


def diff(backup: dict[str, Any], live: dict[str, Any], *, extras: bool = True) -> list[Difference]:
    b, lv = backup["topics"], live["topics"]
    diffs = compare_keyed("topic", b, lv, ["partitions", "replication_factor"], extras=extras)
    for name in sorted(set(b) & set(lv)):
        diffs += compare_keyed("config", {f"{name} {k}": {"value": v} for k, v in b[name]["configs"].items()},
                               {f"{name} {k}": {"value": v} for k, v in lv[name]["configs"].items()},
                               ["value"], extras=extras)
    return diffs


def restore(admin: AdminClient, timeout: float, wanted: dict[str, Any], *, create: list[str],
            grow: list[str], reconfigure: list[str]) -> list[str]:
    """Create the topics in `create`, add partitions to `grow`, set the configs of
    `reconfigure` (names are the target's). Returns a sentence per failure."""
    topics = wanted["topics"]
    failures: list[str] = []

    def settle(futures: dict[Any, Any], what: str) -> None:
        deadline = time.monotonic() + timeout * 4 + 5
        for key, future in futures.items():
            try:
                future.result(timeout=max(0.1, deadline - time.monotonic()))
            except KafkaException as exc:
                failures.append(f"{what} {getattr(key, 'name', key)}: {_err(exc)}.")
            except FutureTimeout:
                failures.append(f"{what} {getattr(key, 'name', key)}: no answer.")

    long = op_timeout(timeout * 3)  # librdkafka's own; settle() bounds the wait (librdkafka #4605)
    for start in range(0, len(create), _BATCH):
        new = [NewTopic(n, num_partitions=topics[n]["partitions"], replication_factor=topics[n]["replication_factor"],
                        config=dict(topics[n]["configs"])) for n in create[start:start + _BATCH]]
        settle(admin.create_topics(new, operation_timeout=long, request_timeout=long), "Creating")
    if grow:
        settle(admin.create_partitions([NewPartitions(n, topics[n]["partitions"]) for n in grow],
                                       operation_timeout=long, request_timeout=long), "Growing")
    if reconfigure:
        resources = [ConfigResource(ResourceType.TOPIC, n, incremental_configs=[
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in topics[n]["configs"].items()])
            for n in reconfigure]
        settle(admin.incremental_alter_configs(resources, request_timeout=long), "Configuring")
    return failures


def wait_visible(admin: AdminClient, timeout: float, names: list[str], deadline_s: float = 30.0) -> None:
    """Until every created topic shows in the metadata with leaders: the admin answer
    comes a moment before the brokers serve them, and verifying sooner would fail."""
    deadline = time.monotonic() + deadline_s
    pending = set(names)
    while pending and time.monotonic() < deadline:
        md = admin.list_topics(timeout=timeout)
        pending = {n for n in pending if n not in md.topics or md.topics[n].error is not None
                   or any(p.leader < 0 for p in md.topics[n].partitions.values())}
        if pending:
            time.sleep(0.2)
