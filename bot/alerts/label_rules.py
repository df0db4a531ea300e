"""What an alert's labels say it is about, when no runbook matcher recognised its name.

Most public rule sets (kafka_exporter's and kminion's examples, Strimzi's,
RabbitMQ's cluster-operator rules, awesome-prometheus-alerts, Confluent's
jmx-monitoring-stacks) name their alerts differently but label them alike: the
labels, not the name, say whether an alert is about a dead-letter queue, a
consumer group or a broker. Each rule here returns the runbook it picks and the
labels that decided it, so the timeline can show them.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

from bot.config import DlqSettings
from bot.probes.kafka_dlq import discover
from bot.probes.rabbitmq import DLQ_NAME

# The names exporters give the same thing, in the order they are preferred when
# an alert carries several (kafka_exporter: consumergroup; kminion: group_id and
# topic_name; Burrow and hand-written rules: group, consumer_group).
GROUP_LABELS = ("consumergroup", "consumer_group", "group", "group_id")
TOPIC_LABELS = ("topic", "topic_name")
QUEUE_LABELS = ("queue",)
# `cluster` alone is often Prometheus' own external label for the Kubernetes
# cluster, so it names the subject's cluster but never, by itself, a broker.
# `namespace` is left out: it names a Kubernetes namespace, which is not the
# name the bot's configuration gives a cluster.
CLUSTER_LABELS = ("cluster", "kafka_cluster", "rabbitmq_cluster", "strimzi_io_cluster")

# Labels only a broker's own metrics carry: any one says the alert is about brokers.
BROKER_ONLY_LABELS = ("kafka_cluster", "rabbitmq_cluster", "strimzi_io_cluster", "rabbitmq_node", "broker",
                      "broker_id")
# Labels every exporter's target carries (node_exporter's too): they say "a host",
# and count as a broker only when something else says Kafka or RabbitMQ.
HOST_LABELS = ("instance", "pod", "kubernetes_pod_name", "node")
_BROKERISH = re.compile(r"kafka|rabbit|strimzi|zookeeper|broker|erlang", re.I)
_BROKERISH_LABELS = ("alertname", "job", "container", "service", "app")


# kminion's consumer_group_info carries the group's state (Kafka's own names).
_REBALANCING_STATES = {"preparingrebalance", "completingrebalance"}
_IDLE_STATES = {"empty", "dead"}

DLQ = "dlq-filling"
LAG = "high-consumer-lag"
REBALANCING = "rebalancing"
STUCK = "consumer-group-stuck"
BROKERS = "broker-health"


@dataclass(frozen=True)
class LabelRule:
    """A runbook picked by labels: which, the labels that decided it, and why in words."""

    runbook_id: str
    labels: dict[str, str]
    why: str


def first(labels: dict[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """The first of `names` the alert carries with a value, as (name, value)."""
    return next(((n, labels[n]) for n in names if labels.get(n)), None)


def dlq_queue(name: str) -> bool:
    return bool(DLQ_NAME.search(name))  # the probe's rule (besides DLX bindings, which only a broker can tell)


def dlq_topic(name: str, dlq: DlqSettings) -> str | None:
    """How the Kafka DLQ discovery would recognise `name` as a DLQ topic (the
    mapping or the pattern it fits), or None: the same rule as /dlq, so an alert
    routed to the DLQ runbook is about a topic its checks will find."""
    found = discover({name: [0]}, dlq)
    if not found:
        return None
    source = found[0].derived_source or ""
    if name in dlq.kafka_mappings:
        return f"dlq.kafka_mappings pairs it with {source}"
    pattern = next((p for p in dlq.kafka_patterns if p.replace("{topic}", source) == name), "")
    return f"it fits the pattern {pattern}"


def _broker(labels: dict[str, str]) -> dict[str, str] | None:
    """The labels that say this alert is about a broker, or None."""
    own = first(labels, BROKER_ONLY_LABELS)
    if own:
        return dict([own])
    named = next(((n, labels[n]) for n in HOST_LABELS if _BROKERISH.search(labels.get(n, ""))), None)
    if named:  # pod=my-cluster-kafka-0, instance=rabbitmq-1:15692
        return dict([named])
    host = first(labels, HOST_LABELS)
    said = next(((n, labels[n]) for n in _BROKERISH_LABELS if _BROKERISH.search(labels.get(n, ""))), None)
    if host and said:
        return dict([host, said])
    return None


def decide(labels: dict[str, str], dlq: DlqSettings, known: Container[str]) -> LabelRule | None:
    """The runbook the labels point at, or None when they point nowhere.

    In this order: a DLQ (by the queue's name, or the topic's DLQ pattern), then a
    consumer group (its state first: rebalancing or idle, else lag), then a queue's
    backlog (RabbitMQ's consumer lag, as the operations guide counts it), then a
    broker named without a group, topic, queue or exchange (an alert about one of
    those is not about the broker's health). A runbook that is not loaded
    (`known`) is skipped.
    """
    for rule in _rules(labels, dlq):
        if rule.runbook_id in known:
            return rule
    return None


def _rules(labels: dict[str, str], dlq: DlqSettings) -> list[LabelRule]:
    rules: list[LabelRule] = []
    queue = first(labels, QUEUE_LABELS)
    topic = first(labels, TOPIC_LABELS)
    group = first(labels, GROUP_LABELS)
    if queue and dlq_queue(queue[1]):
        rules.append(LabelRule(DLQ, _with_vhost(dict([queue]), labels), "a dead-letter queue by its name"))
    if topic and (how := dlq_topic(topic[1], dlq)):
        rules.append(LabelRule(DLQ, dict([topic]), f"a dead-letter topic: {how}"))
    if group:
        state = labels.get("state", "")
        if state.lower() in _REBALANCING_STATES:
            rules.append(LabelRule(REBALANCING, dict([group, ("state", state)]), "the group is rebalancing"))
        elif state.lower() in _IDLE_STATES:
            rules.append(LabelRule(STUCK, dict([group, ("state", state)]), "the group has no members"))
        rules.append(LabelRule(LAG, dict([group]), "a consumer group, so its lag"))
    if queue and not group:
        rules.append(LabelRule(LAG, _with_vhost(dict([queue]), labels),
                               "a queue's backlog is its consumers' lag"))
    if not (group or topic or queue or labels.get("exchange")) and (broker := _broker(labels)):
        rules.append(LabelRule(BROKERS, broker, "a broker, with no group, topic or queue named"))
    return rules


def _with_vhost(found: dict[str, str], labels: dict[str, str]) -> dict[str, str]:
    # The same queue name may live in several virtual hosts: show which one it was.
    return {**found, "vhost": labels["vhost"]} if labels.get("vhost") else found


def considered(labels: dict[str, str]) -> dict[str, str]:
    """The labels the rules above look at that this alert carries, for the
    sentence that says why nothing fitted."""
    names = (*QUEUE_LABELS, *TOPIC_LABELS, *GROUP_LABELS, "state", "exchange", *BROKER_ONLY_LABELS, *HOST_LABELS,
             *_BROKERISH_LABELS)
    return {n: labels[n] for n in dict.fromkeys(names) if labels.get(n)}
