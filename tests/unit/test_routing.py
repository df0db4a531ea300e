"""Which runbook an alert follows and what it is about: label matchers (exact and
`~regex`), the sender's explicit runbook, what the labels say when no matcher
fits, the fallback to generic-triage, the sentence that says why, and the subject
taken from the labels. The big table holds alerts as the public rule sets write
them: each row names the file its alert name and labels come from."""

from __future__ import annotations

import pytest

from bot.alerts.routing import TRIAGE, matches, pick, route, subject, triage_note
from bot.config import DlqSettings
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
    # The label shapes of the public rule sets (see RULE_SETS below for their sources).
    ("group from group (Burrow)", {"group": "billing"}, Subject(group="billing")),
    ("group and topic from group_id and topic_name (kminion)", {"group_id": "sink", "topic_name": "shop"},
     Subject(group="sink", topic="shop")),
    ("consumer_group", {"consumer_group": "billing"}, Subject(group="billing")),
    ("topic wins over topic_name", {"topic": "a", "topic_name": "b"}, Subject(topic="a")),
    ("cluster from strimzi_io_cluster (Strimzi)", {"strimzi_io_cluster": "my-cluster"}, Subject(cluster="my-cluster")),
    ("a queue, its vhost and cluster (cluster-operator)", {"queue": "orders.dlq", "vhost": "/",
                                                           "rabbitmq_cluster": "rmq"},
     Subject(cluster="rmq", queue="orders.dlq")),
    ("a Kubernetes namespace is not a cluster", {"namespace": "kafka"}, Subject()),
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


# ------------------------------------------------------------- the public rule sets
#
# Alert names and labels as published (the labels are those the rule's expression
# keeps: `sum by (consumergroup)` keeps only consumergroup). Sources, by the
# abbreviation each row's comment uses:
#   APA-ke    samber/awesome-prometheus-alerts dist/rules/kafka/danielqsj-kafka-exporter.yml
#   APA-lk    samber/awesome-prometheus-alerts dist/rules/kafka/linkedin-kafka-exporter.yml (Burrow)
#   APA-rp    samber/awesome-prometheus-alerts dist/rules/rabbitmq/rabbitmq-exporter.yml
#   APA-kb    samber/awesome-prometheus-alerts dist/rules/rabbitmq/kbudde-rabbitmq-exporter.yml
#   STRIMZI   strimzi/strimzi-kafka-operator packaging/examples/metrics/prometheus-install/prometheus-rules.yaml
#   RMQ-CO    rabbitmq/cluster-operator observability/prometheus/rules/** (file named per row)
#   KE-chart  danielqsj/kafka_exporter charts/kafka-exporter/templates/alertrules.yaml
#   KMINION   redpanda-data/kminion docs/metrics.md (kminion ships metrics, no rules:
#             the alert names are ours, the labels kminion's)
#   CONFLUENT confluentinc/jmx-monitoring-stacks jmxexporter-prometheus-grafana/assets/prometheus/
#             prometheus-alerts/broker-alerts.yml (and the MaxLag metric of its jmx-exporter kafka_broker.yml)
#   GRAFANA   grafana/jsonnet-libs kafka-observ-lib/prometheus_rules_out/prometheus_alerts.yaml
#   SYSDIG    sysdiglabs/promcat-resources resources/kafka/include/alerts.yaml
#   DRDROID   DrDroidLab/prometheus-alert-templates kafka/kafka-prometheus-alerts-template.yaml
#   WMF       Wikimedia's puppet check kafka_broker_replica_lag_increasing (kafka_server_ReplicaFetcherManager_MaxLag)

LAGS, DLQS, STUCK = "high-consumer-lag", "dlq-filling", "consumer-group-stuck"
REBAL, BROKERS = "rebalancing", "broker-health"
SHIPPED_BOOKS = load_all()
POD, RMQ = "my-cluster-kafka-0", "rabbitmq-0.rabbitmq-nodes.apps:15692"

RULE_SETS = [
    # APA-ke
    ("KafkaTopicsReplicas", {"topic": "orders"}, BROKERS, Subject(topic="orders")),
    ("KafkaConsumersGroup", {"consumergroup": "billing"}, LAGS, Subject(group="billing")),
    # APA-lk: Burrow labels the group `group`
    ("KafkaConsumerLag", {"cluster": "prod", "group": "billing", "topic": "orders", "partition": "3"}, LAGS,
     Subject(cluster="prod", group="billing", topic="orders")),
    ("KafkaTopicOffsetDecreased", {"cluster": "prod", "topic": "orders", "partition": "3"}, TRIAGE,
     Subject(cluster="prod", topic="orders")),
    # APA-rp
    ("RabbitmqNodeDown", {}, BROKERS, Subject()),
    ("RabbitmqNodeNotDistributed", {"instance": "10.0.0.5:15692", "peer": "rabbit@rabbitmq-1"}, BROKERS, Subject()),
    ("RabbitmqInstancesDifferentVersions", {}, BROKERS, Subject()),
    ("RabbitmqMemoryHigh", {"instance": RMQ}, BROKERS, Subject()),
    ("RabbitmqFileDescriptorsUsage", {"instance": RMQ}, BROKERS, Subject()),
    ("RabbitmqTooManyReadyMessages", {"queue": "orders"}, LAGS, Subject(queue="orders")),
    ("RabbitmqTooManyReadyMessages", {"queue": "orders.dlq"}, DLQS, Subject(queue="orders.dlq")),
    ("RabbitmqTooManyUnackMessages", {"queue": "payments"}, LAGS, Subject(queue="payments")),
    ("RabbitmqTooManyConnections", {"instance": RMQ}, BROKERS, Subject()),
    ("RabbitmqNoQueueConsumer", {"queue": "invoices", "vhost": "/", "instance": RMQ}, STUCK, Subject(queue="invoices")),
    ("RabbitmqUnroutableMessages", {"instance": RMQ, "channel": "<0.1.0>"}, BROKERS, Subject()),
    # APA-kb
    ("RabbitmqDown", {"instance": "rabbitmq-exporter:9419"}, BROKERS, Subject()),
    ("RabbitmqClusterDown", {}, BROKERS, Subject()),
    ("RabbitmqClusterPartition", {"instance": "rabbitmq-exporter:9419"}, BROKERS, Subject()),
    ("RabbitmqOutOfMemory", {"node": "rabbit@rabbitmq-0", "instance": "rabbitmq-exporter:9419"}, BROKERS, Subject()),
    ("RabbitmqDeadLetterQueueFillingUp", {"queue": "my-dead-letter-queue", "vhost": "/"}, DLQS,
     Subject(queue="my-dead-letter-queue")),
    ("RabbitmqTooManyMessagesInQueue", {"queue": "my-queue", "vhost": "/"}, LAGS, Subject(queue="my-queue")),
    ("RabbitmqSlowQueueConsuming", {"queue": "my-queue", "vhost": "/"}, LAGS, Subject(queue="my-queue")),
    ("RabbitmqNoConsumer", {"queue": "orders.retry", "vhost": "/"}, STUCK, Subject(queue="orders.retry")),
    ("RabbitmqUnactiveExchange", {"exchange": "my-exchange", "vhost": "/", "instance": "rabbitmq-exporter:9419"},
     TRIAGE, Subject()),
    # STRIMZI (kafka, zookeeper, connect, kafkaExporter and certificates groups)
    ("KafkaRunningOutOfSpace", {"persistentvolumeclaim": "data-my-cluster-kafka-0", "namespace": "kafka"}, BROKERS,
     Subject()),
    ("UnderReplicatedPartitions", {"kubernetes_pod_name": POD, "strimzi_io_cluster": "my-cluster",
                                   "namespace": "kafka"}, BROKERS, Subject(cluster="my-cluster")),
    ("AbnormalControllerState", {"strimzi_io_name": "my-cluster-kafka"}, BROKERS, Subject()),
    ("OfflinePartitions", {}, BROKERS, Subject()),
    ("UnderMinIsrPartitionCount", {"kubernetes_pod_name": POD}, BROKERS, Subject()),
    ("OfflineLogDirectoryCount", {"kubernetes_pod_name": POD}, BROKERS, Subject()),
    ("ScrapeProblem", {"kubernetes_pod_name": POD, "instance": "10.0.0.12:9404", "kubernetes_namespace": "kafka"},
     BROKERS, Subject()),
    ("KafkaBrokerContainersDown", {}, BROKERS, Subject()),
    ("ZookeeperContainersDown", {}, BROKERS, Subject()),
    ("ConnectFailedConnector", {}, TRIAGE, Subject()),
    ("AvgConsumerFetchLatency", {"clientId": "my-bridge-consumer"}, TRIAGE, Subject()),
    ("UnderReplicatedPartition", {"topic": "orders", "partition": "2"}, BROKERS, Subject(topic="orders")),
    ("TooLargeConsumerGroupLag", {"consumergroup": "billing", "topic": "orders", "partition": "0"}, LAGS,
     Subject(group="billing", topic="orders")),
    ("NoMessageForTooLong", {"topic": "orders", "partition": "0"}, TRIAGE, Subject(topic="orders")),
    ("CertificateExpiration", {"cluster": "my-cluster", "type": "clients-ca", "resource_namespace": "kafka"}, TRIAGE,
     Subject(cluster="my-cluster")),
    # RMQ-CO rabbitmq-per-object/queue-is-growing.yml, queue-has-no-consumers.yml
    ("QueueIsGrowing", {"queue": "orders", "vhost": "/", "rabbitmq_cluster": "rmq", "namespace": "apps",
                        "instance": RMQ}, LAGS, Subject(cluster="rmq", queue="orders")),
    ("QueueIsGrowing", {"queue": "orders.dlq", "vhost": "/", "rabbitmq_cluster": "rmq", "namespace": "apps"}, DLQS,
     Subject(cluster="rmq", queue="orders.dlq")),
    ("QueueHasNoConsumers", {"queue": "orders", "vhost": "/", "rabbitmq_cluster": "rmq", "namespace": "apps"}, STUCK,
     Subject(cluster="rmq", queue="orders")),
    # RMQ-CO rabbitmq/cluster-alarms.yml, no-majority-of-nodes-ready.yml,
    # insufficient-established-erlang-distribution-links.yml, unroutable-messages.yml
    ("MemoryAlarm", {"rabbitmq_cluster": "rmq", "rulesgroup": "rabbitmq"}, BROKERS, Subject(cluster="rmq")),
    ("RabbitmqDiskAlarm", {"rabbitmq_cluster": "rmq", "rulesgroup": "rabbitmq"}, BROKERS, Subject(cluster="rmq")),
    ("RabbitmqFileDescriptorAlarm", {"rabbitmq_cluster": "rmq", "rulesgroup": "rabbitmq"}, BROKERS,
     Subject(cluster="rmq")),
    ("NoMajorityOfNodesReady", {"namespace": "apps", "statefulset": "rmq-server", "rabbitmq_cluster": "rmq",
                                "label_app_kubernetes_io_name": "rmq", "rulesgroup": "rabbitmq"}, BROKERS,
     Subject(cluster="rmq")),
    ("InsufficientEstablishedErlangDistributionLinks", {"namespace": "apps", "rabbitmq_cluster": "rmq",
                                                        "rulesgroup": "rabbitmq"}, BROKERS, Subject(cluster="rmq")),
    ("UnroutableMessages", {"namespace": "apps", "rabbitmq_cluster": "rmq", "rulesgroup": "rabbitmq"}, BROKERS,
     Subject(cluster="rmq")),
    # KE-chart
    ("ISR_not_equal_to_partition", {"topic": "orders", "partition": "0"}, BROKERS, Subject(topic="orders")),
    ("Kafka_partition_leader_change_rapidly", {"topic": "orders", "partition": "1"}, BROKERS, Subject(topic="orders")),
    ("kafka_broker_unavailable", {}, BROKERS, Subject()),
    # KMINION: group_id and topic_name; consumer_group_info carries the group's state
    ("KafkaConsumerGroupTopicLag", {"group_id": "bigquery-sink", "topic_name": "shop-activity"}, LAGS,
     Subject(group="bigquery-sink", topic="shop-activity")),
    ("KafkaGroupNotStable", {"group_id": "bigquery-sink", "state": "PreparingRebalance", "protocol": "range",
                             "coordinator_id": "0"}, REBAL, Subject(group="bigquery-sink")),
    ("KafkaGroupNotStable", {"group_id": "bigquery-sink", "state": "CompletingRebalance"}, REBAL,
     Subject(group="bigquery-sink")),
    ("KafkaGroupNotStable", {"group_id": "bigquery-sink", "state": "Empty"}, STUCK, Subject(group="bigquery-sink")),
    # CONFLUENT: names with spaces and operators, grouped by env
    ("ActiveControllerCount != 1", {"env": "dev"}, BROKERS, Subject()),
    ("OfflinePartitionCount > 0", {"env": "dev"}, BROKERS, Subject()),
    ("UncleanLeaderElectionsPerSec > 0", {"env": "dev"}, BROKERS, Subject()),
    ("UnderReplicatedPartitions > 0", {"env": "dev"}, BROKERS, Subject()),
    ("UnderMinIsrPartitionCount > 0", {"env": "dev"}, BROKERS, Subject()),
    ("Broker IO Activity < 40%", {"env": "dev", "instance": "kafka1:1234", "job": "kafka-broker"}, BROKERS, Subject()),
    # GRAFANA
    ("KafkaLagKeepsIncreasing", {"kafka_cluster": "prod", "topic": "orders", "consumergroup": "billing"}, LAGS,
     Subject(cluster="prod", group="billing", topic="orders")),
    ("KafkaLagIsTooHigh", {"kafka_cluster": "prod", "topic": "orders", "consumergroup": "billing"}, LAGS,
     Subject(cluster="prod", group="billing", topic="orders")),
    ("KafkaISRShrinkRate", {"kafka_cluster": "prod", "instance": "kafka-1:7071"}, BROKERS, Subject(cluster="prod")),
    ("KafkaPreferredReplicaImbalance", {"kafka_cluster": "prod"}, BROKERS, Subject(cluster="prod")),
    ("KafkaUncleanLeaderElection", {"kafka_cluster": "prod", "instance": "kafka-1:7071"}, BROKERS,
     Subject(cluster="prod")),
    ("KafkaBrokerCount", {"kafka_cluster": "prod"}, BROKERS, Subject(cluster="prod")),
    ("KafkaNoActiveController", {"kafka_cluster": "prod"}, BROKERS, Subject(cluster="prod")),
    # SYSDIG
    ("[Kafka] ConsumerGroup Lag Not Decreasing", {"consumergroup": "billing", "topic": "orders"}, LAGS,
     Subject(group="billing", topic="orders")),
    ("[Kafka] ConsumerGroup Without Members", {"consumergroup": "billing"}, STUCK, Subject(group="billing")),
    ("[Kafka] No Leader", {}, BROKERS, Subject()),
    ("[Kafka] Under In-Sync Replicated Partitions", {}, BROKERS, Subject()),
    ("[Kafka] Producer High ThrottleTime By Client-Id", {"client_id": "checkout"}, TRIAGE, Subject()),
    # DRDROID
    ("KafkaHighRequestLatency", {"instance": "kafka-1:9308", "request": "Produce"}, BROKERS, Subject()),
    ("KafkaHighFailedFetchRequests", {"instance": "kafka-1:9308"}, BROKERS, Subject()),
    # WMF and CONFLUENT's MaxLag metric: a follower's fetch lag, not a consumer group's
    ("kafka_broker_replica_lag_increasing", {"cluster": "main-eqiad", "instance": "kafka1001:7800"}, BROKERS,
     Subject(cluster="main-eqiad")),
]


@pytest.mark.parametrize(("alertname", "labels", "runbook", "about"), RULE_SETS,
                         ids=[f"{i:02}-{r[0]}" for i, r in enumerate(RULE_SETS)])
def test_the_public_rule_sets_reach_the_right_runbook(alertname: str, labels: dict[str, str], runbook: str,
                                                      about: Subject) -> None:
    found = {"alertname": alertname, "severity": "warning", **labels}
    assert route(SHIPPED_BOOKS, found).runbook_id == runbook
    assert subject(found) == about


def test_no_alert_of_the_rule_sets_fits_two_runbooks() -> None:
    # The first runbook whose matcher fits wins, and runbooks are read in file order:
    # the shipped matchers must not overlap, or a new file could change a route.
    books = [b for b in SHIPPED_BOOKS.values() if b.id != TRIAGE]
    for alertname, labels, _, _ in RULE_SETS:
        found = {"alertname": alertname, **labels}
        fitting = [b.id for b in books if any(matches(m, found) for m in b.match)]
        assert len(fitting) <= 1, f"{alertname} fits {fitting}"


# ------------------------------------------------- look-alikes: same words, other meaning

LOOKALIKES = [
    # A follower broker's fetch lag (kafka.server:ReplicaFetcherManager MaxLag) is not consumer lag.
    ("replica fetcher max lag", {"alertname": "KafkaBrokerReplicaMaxLag", "instance": "kafka-0:7071",
                                 "clientId": "Replica"}, BROKERS),
    ("replica fetcher manager lag", {"alertname": "KafkaReplicaFetcherManagerMaxLag", "instance": "kafka-0:7071"},
     BROKERS),
    ("replication lag", {"alertname": "KafkaReplicationLagHigh", "kafka_cluster": "prod"}, BROKERS),
    ("replica lag on a Kafka host", {"alertname": "ReplicaLag", "instance": "kafka-0:7071"}, BROKERS),
    ("lag with no consumer word, labelled by a broker", {"alertname": "KafkaMaxLag", "instance": "kafka-0:7071",
                                                         "clientId": "Replica"}, BROKERS),
    ("under-replicated", {"alertname": "UnderReplicated", "instance": "kafka-0:7071"}, BROKERS),
    # Moving partition leaders back to their preferred replica is not a consumer-group rebalance.
    ("preferred replica imbalance", {"alertname": "KafkaPreferredReplicaImbalance", "kafka_cluster": "prod"},
     BROKERS),
    ("leader imbalance", {"alertname": "LeaderImbalance", "instance": "kafka-0:7071"}, BROKERS),
    # Other systems' words for their own replicas and leaders stay out of Kafka's runbooks
    # (both names recur across public rule files: etcd's and PostgreSQL's exporters).
    ("PostgreSQL replication lag", {"alertname": "PostgreSQLReplicationLag", "instance": "db-1:9187"}, TRIAGE),
    ("etcd leader changes", {"alertname": "EtcdHighNumberOfLeaderChanges", "instance": "etcd-0:2379"}, TRIAGE),
    ("leader rebalance, no group", {"alertname": "KafkaLeaderImbalancePerBroker"}, BROKERS),
    # A consumer group's rebalance is.
    ("group rebalancing by name", {"alertname": "KafkaConsumerGroupRebalancing", "consumergroup": "billing"}, REBAL),
    ("groups preparing rebalance", {"alertname": "KafkaGroupsPreparingRebalance", "instance": "kafka-0:7071"}, REBAL),
    ("group state PreparingRebalance", {"alertname": "KafkaGroupNotStable", "group_id": "billing",
                                        "state": "PreparingRebalance"}, REBAL),
    # And a group's lag is lag, whatever the exporter calls the group.
    ("consumer lag", {"alertname": "KafkaConsumerLagHigh", "consumergroup": "billing"}, LAGS),
]


@pytest.mark.parametrize(("labels", "runbook"), [c[1:] for c in LOOKALIKES], ids=[c[0] for c in LOOKALIKES])
def test_names_that_sound_alike_but_mean_something_else(labels: dict[str, str], runbook: str) -> None:
    assert route(SHIPPED_BOOKS, labels).runbook_id == runbook


# ------------------------------------------------- what the labels say, with no matcher

FALLBACK = [
    ("queue *.dlq", {"queue": "orders.dlq"}, DLQS),
    ("queue *-dlq", {"queue": "orders-dlq"}, DLQS),
    ("queue dlq.*", {"queue": "dlq.orders"}, DLQS),
    ("queue *.dead", {"queue": "orders.dead"}, DLQS),
    ("queue *_dlx", {"queue": "orders_dlx"}, DLQS),
    ("queue *.dead-letter", {"queue": "orders.dead-letter"}, DLQS),
    ("queue *.deadletters", {"queue": "orders.deadletters"}, DLQS),
    ("queue parking-lot", {"queue": "orders.parking-lot"}, DLQS),
    ("queue DLQ in capitals", {"queue": "ORDERS.DLQ"}, DLQS),
    ("a word that only starts like dead is no DLQ", {"queue": "deadline-events"}, LAGS),
    ("a plain queue: its backlog", {"queue": "orders"}, LAGS),
    ("topic {topic}.dlq", {"topic": "orders.dlq"}, DLQS),
    ("topic {topic}-dlq", {"topic": "orders-dlq"}, DLQS),
    ("topic dlq-{topic}", {"topic": "dlq-orders"}, DLQS),
    ("topic_name {topic}.dlq (kminion)", {"topic_name": "orders.dlq"}, DLQS),
    ("a DLQ topic wins over its group's lag", {"topic": "orders.dlq", "consumergroup": "replayer"}, DLQS),
    ("topic orders_dlq fits no pattern", {"topic": "orders_dlq"}, TRIAGE),
    ("Kafka's own topics are never DLQs", {"topic": "__consumer_offsets.dlq"}, TRIAGE),
    ("consumergroup", {"consumergroup": "billing", "topic": "orders"}, LAGS),
    ("group", {"group": "billing"}, LAGS),
    ("group_id", {"group_id": "billing"}, LAGS),
    ("consumer_group", {"consumer_group": "billing"}, LAGS),
    ("group state Dead", {"group_id": "billing", "state": "Dead"}, STUCK),
    ("group state Stable is plain lag", {"group_id": "billing", "state": "Stable"}, LAGS),
    ("kafka_cluster alone: a broker", {"kafka_cluster": "prod"}, BROKERS),
    ("strimzi_io_cluster alone: a broker", {"strimzi_io_cluster": "my-cluster"}, BROKERS),
    ("broker_id alone: a broker", {"broker_id": "3"}, BROKERS),
    ("a pod named like a broker", {"pod": "my-cluster-kafka-2"}, BROKERS),
    ("an instance with a Kafka job", {"instance": "10.0.0.7:9404", "job": "kafka-brokers"}, BROKERS),
    ("an instance and nothing about Kafka: any exporter's host", {"instance": "db-1:9100", "job": "node"}, TRIAGE),
    ("cluster alone is Prometheus' own label, not a broker", {"cluster": "eu-west"}, TRIAGE),
    ("a broker host with a topic is about the topic", {"instance": "kafka-0:9404", "topic": "orders"}, TRIAGE),
]


@pytest.mark.parametrize(("labels", "runbook"), [c[1:] for c in FALLBACK], ids=[c[0] for c in FALLBACK])
def test_labels_decide_when_no_matcher_fits(labels: dict[str, str], runbook: str) -> None:
    assert route(SHIPPED_BOOKS, {"alertname": "SomethingOdd", **labels}).runbook_id == runbook


@pytest.mark.parametrize(("dlq", "topic"), [
    (DlqSettings(kafka_patterns=["{topic}.DLT"]), "orders.DLT"),
    (DlqSettings(kafka_mappings={"payments.failed": "payments"}), "payments.failed"),
], ids=["configured-pattern", "configured-mapping"])
def test_kafka_dlq_topics_follow_the_dlq_settings(dlq: DlqSettings, topic: str) -> None:
    labels = {"alertname": "SomethingOdd", "topic": topic}
    assert route(SHIPPED_BOOKS, labels).runbook_id == TRIAGE
    assert route(SHIPPED_BOOKS, labels, dlq=dlq).runbook_id == DLQS


def test_a_runbook_that_is_not_loaded_is_skipped_by_the_labels() -> None:
    books = {k: v for k, v in SHIPPED_BOOKS.items() if k != DLQS}
    assert route(books, {"alertname": "SomethingOdd", "queue": "orders.dlq"}).runbook_id == LAGS


# ------------------------------------------------------------- why, in words

SENTENCES = [
    ("asked for", {"alertname": "KafkaConsumerLagHigh"}, DLQS,
     "Routed to dlq-filling because the alert asked for it (`runbook=dlq-filling`)."),
    ("exact matcher", {"alertname": "KafkaConsumerLagHigh", "consumergroup": "billing"}, None,
     "Routed to high-consumer-lag by matcher `alertname=KafkaConsumerLagHigh`."),
    ("regex matcher, with the value it matched", {"alertname": "RabbitDLQDepthHigh", "queue": "orders.dlq"}, None,
     "Routed to dlq-filling by matcher `alertname=~(?i).*(dlq|dlx|dead.?letter|parking.?lot).*` "
     "(`alertname=RabbitDLQDepthHigh`)."),
    ("queue label, with its vhost", {"alertname": "QueueIsGrowing", "queue": "orders.dlq", "vhost": "/"}, None,
     "Routed to dlq-filling by labels `queue=orders.dlq`, `vhost=/` (a dead-letter queue by its name)."),
    ("topic label", {"alertname": "SomethingOdd", "topic": "orders-dlq"}, None,
     "Routed to dlq-filling by label `topic=orders-dlq` (a dead-letter topic: it fits the pattern {topic}-dlq)."),
    ("group label", {"alertname": "SomethingOdd", "group_id": "billing"}, None,
     "Routed to high-consumer-lag by label `group_id=billing` (a consumer group, so its lag)."),
    ("group state", {"alertname": "SomethingOdd", "group_id": "billing", "state": "PreparingRebalance"}, None,
     "Routed to rebalancing by labels `group_id=billing`, `state=PreparingRebalance` (the group is rebalancing)."),
    ("broker", {"alertname": "SomethingOdd", "pod": "my-cluster-kafka-0"}, None,
     "Routed to broker-health by label `pod=my-cluster-kafka-0` (a broker, with no group, topic or queue named)."),
    ("triage, naming what it looked at", {"alertname": "NoMessageForTooLong", "topic": "orders"}, None,
     "Routed to generic-triage because no runbook's matcher fits `alertname=NoMessageForTooLong`, and "
     "`topic=orders` names no DLQ, consumer group, queue or Kafka or RabbitMQ broker."),
    ("a label value cannot mention anyone or end the code span", {"alertname": "SomethingOdd",
                                                                  "queue": "<!channel>`.dlq"}, None,
     "Routed to dlq-filling by label `queue=&lt;!channel&gt;'.dlq` (a dead-letter queue by its name)."),
]


@pytest.mark.parametrize(("labels", "asked", "sentence"), [c[1:] for c in SENTENCES], ids=[c[0] for c in SENTENCES])
def test_the_route_says_which_rule_and_labels_decided(labels: dict[str, str], asked: str | None,
                                                      sentence: str) -> None:
    assert route(SHIPPED_BOOKS, labels, asked).sentence == sentence


def test_the_triage_note_lists_the_labels_and_what_was_considered() -> None:
    assert triage_note({"alertname": "HighMemoryUsage", "team": "blue", "zone": "us-1"}) == (
        "No runbook matched this alert, so it follows generic triage. Labels seen: alertname=HighMemoryUsage, "
        "team=blue, zone=us-1. No runbook's matcher fits `alertname=HighMemoryUsage`, and no label names a DLQ, "
        "consumer group, queue or broker (such as consumergroup, group_id, topic, queue, instance or pod).")
    assert triage_note({"alertname": "Disk", "instance": "db-1:9100", "job": "node"}).endswith(
        "`instance=db-1:9100`, `job=node` name no DLQ, consumer group, queue or Kafka or RabbitMQ broker.")
