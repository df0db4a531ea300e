"""Which runbook an alert follows and what it is about: label matchers (exact and
`~regex`), the sender's explicit runbook, the fallback to generic-triage, and the
subject taken from the labels."""

from __future__ import annotations

import pytest

from bot.alerts.routing import TRIAGE, matches, pick, subject
from bot.incidents.model import Subject
from bot.runbooks import Runbook, Step, load_all

LAG = {"alertname": "KafkaConsumerLagHigh", "consumergroup": "billing", "topic": "orders", "severity": "warning"}

MATCHES = [
    ("exact value", {"alertname": "KafkaConsumerLagHigh"}, LAG, True),
    ("exact value differs", {"alertname": "KafkaConsumerLag"}, LAG, False),
    ("exact is case-sensitive", {"alertname": "kafkaconsumerlaghigh"}, LAG, False),
    ("label missing", {"queue": "orders.dlq"}, LAG, False),
    ("every label of the matcher", {"alertname": "KafkaConsumerLagHigh", "topic": "orders"}, LAG, True),
    ("one label of the matcher differs", {"alertname": "KafkaConsumerLagHigh", "topic": "payments"}, LAG, False),
    ("regex matches the whole value", {"alertname": "~Kafka.*Lag.*"}, LAG, True),
    ("regex matching a prefix only is no match", {"alertname": "~Kafka"}, LAG, False),
    ("regex matching a suffix only is no match", {"alertname": "~LagHigh"}, LAG, False),
    ("regex alternation", {"severity": "~critical|warning"}, LAG, True),
    ("regex alternation, no branch fits", {"severity": "~critical|page"}, LAG, False),
    ("regex on a missing label is no match", {"queue": "~.*"}, LAG, False),
    ("regex and exact together", {"alertname": "~Kafka.+", "consumergroup": "billing"}, LAG, True),
    ("a value that starts with ~ is a regex, not text", {"topic": "~orders"}, {"topic": "~orders"}, False),
    ("empty label value matches an empty regex", {"topic": "~"}, {"topic": ""}, True),
]


@pytest.mark.parametrize(("matcher", "labels", "expected"), [c[1:] for c in MATCHES], ids=[c[0] for c in MATCHES])
def test_matches(matcher: dict[str, str], labels: dict[str, str], expected: bool) -> None:
    assert matches(matcher, labels) is expected


def book(book_id: str, *matchers: dict[str, str]) -> Runbook:
    return Runbook(id=book_id, title=book_id.replace("-", " ").capitalize(), summary="s", match=list(matchers),
                   diagnosis=[Step(id="look", title="Look at it")])


BOOKS = {b.id: b for b in [
    book("lag-exact", {"alertname": "KafkaConsumerLagHigh"}),
    book("lag-regex", {"alertname": "~Kafka.*Lag.*"}),
    book("dlq", {"alertname": "DLQDepthHigh"}, {"queue": "~.*\\.dlq"}),
    book(TRIAGE, {"alertname": "~.*"}),  # triage's own matchers never win
]}

PICKS = [
    ("first runbook whose matcher fits wins", LAG, None, "lag-exact"),
    ("a later runbook by regex", {"alertname": "KafkaConsumerGroupLag"}, None, "lag-regex"),
    ("any one matcher of a runbook is enough", {"alertname": "Other", "queue": "orders.dlq"}, None, "dlq"),
    ("explicit runbook overrides the matchers", LAG, "dlq", "dlq"),
    ("explicit runbook may name triage", LAG, TRIAGE, TRIAGE),
    ("unknown explicit runbook falls back to the matchers", LAG, "no-such-runbook", "lag-exact"),
    ("nothing matches: generic-triage", {"alertname": "DiskFull"}, None, TRIAGE),
    ("no labels at all: generic-triage", {}, None, TRIAGE),
    ("empty explicit runbook is no request", {"alertname": "DiskFull"}, "", TRIAGE),
]


@pytest.mark.parametrize(("labels", "asked", "expected"), [c[1:] for c in PICKS], ids=[c[0] for c in PICKS])
def test_pick(labels: dict[str, str], asked: str | None, expected: str) -> None:
    assert pick(BOOKS, labels, asked).id == expected


SHIPPED = [
    ("KafkaConsumerLagHigh", "high-consumer-lag"),
    ("KafkaConsumerGroupLag", "high-consumer-lag"),
    ("KafkaConsumerGroupStuck", "consumer-group-stuck"),
    ("DLQDepthHigh", "dlq-filling"),
    ("RabbitMQDeadLetterQueueDepth", "dlq-filling"),
    ("SchemaIncompatible", "schema-incompatibility"),
    ("FrequentRebalances", "rebalancing"),
    ("KafkaBrokerDown", "broker-health"),
    ("KafkaOfflinePartitions", "broker-health"),
    ("RabbitMQMemoryAlarm", "broker-health"),
    ("HighMemoryUsage", TRIAGE),
]


@pytest.mark.parametrize(("alertname", "expected"), SHIPPED, ids=[c[0] for c in SHIPPED])
def test_shipped_runbooks_route_the_guides_alerts(alertname: str, expected: str) -> None:
    assert pick(load_all(), {"alertname": alertname}).id == expected


SUBJECTS = [
    ("consumergroup and topic", LAG, Subject(group="billing", topic="orders")),
    ("every field", {"cluster": "prod", "consumer_group": "g", "topic": "t", "queue": "q"},
     Subject(cluster="prod", group="g", topic="t", queue="q")),
    ("cluster from kafka_cluster", {"kafka_cluster": "eu-1"}, Subject(cluster="eu-1")),
    ("cluster from rabbitmq_cluster", {"rabbitmq_cluster": "rmq"}, Subject(cluster="rmq")),
    ("cluster wins over kafka_cluster", {"cluster": "a", "kafka_cluster": "b"}, Subject(cluster="a")),
    ("consumergroup wins over group", {"group": "g2", "consumergroup": "g1"}, Subject(group="g1")),
    ("an empty label is skipped for the next name", {"consumergroup": "", "group": "g2"}, Subject(group="g2")),
    ("no subject labels", {"alertname": "HighMemoryUsage", "team": "blue"}, Subject()),
]


@pytest.mark.parametrize(("labels", "expected"), [c[1:] for c in SUBJECTS], ids=[c[0] for c in SUBJECTS])
def test_subject(labels: dict[str, str], expected: Subject) -> None:
    assert subject(labels) == expected


@pytest.mark.parametrize(("found", "shown"), [
    (Subject(cluster="prod", group="billing", topic="orders"), "cluster `prod`, group `billing`, topic `orders`"),
    (Subject(queue="orders.dlq"), "queue `orders.dlq`"),
    (Subject(), "no subject named"),
], ids=["group-and-topic", "queue", "none"])
def test_subject_as_a_person_reads_it(found: Subject, shown: str) -> None:
    assert found.describe() == shown
