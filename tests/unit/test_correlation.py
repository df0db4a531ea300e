"""Where a new problem goes (join / attach / open), how its subject is keyed, and the
words the card and the thread use: bot.incidents.correlation, no database."""

from __future__ import annotations

import pytest

from bot.incidents.correlation import (
    Affected,
    Decision,
    Problem,
    Root,
    attached_sentence,
    broker_of,
    claim_key,
    decide,
    matching,
    parse_subject,
    value_of,
)
from bot.subject import Subject

NOW = 1_800_000_000.0
WINDOW = 30 * 60
LAG = Problem("high-consumer-lag", Subject("prod", group="orders"), attaches=True, broker="kafka")
DLQ = Problem("dlq-filling", Subject("prod", queue="orders.dlq"), attaches=True, broker="rabbitmq")
SCHEMA = Problem("schema-incompatibility", Subject("prod", topic="orders"))
BROKER = Problem("broker-health", Subject("prod"), cluster_scope=True)
ROOT = Root(7, "INC-2026-0007", "prod", NOW - 60)
KAFKA_ROOT = Root(8, "INC-2026-0008", "prod", NOW - 50, broker="kafka")
RABBIT_ROOT = Root(9, "INC-2026-0009", "prod", NOW - 40, broker="rabbitmq")


@pytest.mark.parametrize(("problem", "claimed_by", "roots", "window", "expected"), [
    # the same problem open already (from any source): join it, whatever else is open
    (LAG, 3, [ROOT], WINDOW, Decision("join", 3)),
    (BROKER, 7, [], WINDOW, Decision("join", 7)),
    # a lag or DLQ problem while its cluster has a cluster-level incident opened within the window
    (LAG, None, [ROOT], WINDOW, Decision("attach", 7)),
    (DLQ, None, [ROOT], WINDOW, Decision("attach", 7)),
    # a root known to be on one broker takes the problems of that broker only
    (LAG, None, [KAFKA_ROOT], WINDOW, Decision("attach", 8)),
    (DLQ, None, [KAFKA_ROOT], WINDOW, Decision("open")),
    (DLQ, None, [KAFKA_ROOT, RABBIT_ROOT], WINDOW, Decision("attach", 9)),
    (LAG, None, [RABBIT_ROOT], WINDOW, Decision("open")),
    # the oldest of two roots on the cluster
    (LAG, None, [Root(9, "INC-2026-0009", "prod", NOW - 30), ROOT], WINDOW, Decision("attach", 7)),
    # another cluster's root: its own
    (LAG, None, [Root(8, "INC-2026-0008", "staging", NOW - 60)], WINDOW, Decision("open")),
    # the root opened longer ago than the window: its own
    (LAG, None, [Root(7, "INC-2026-0007", "prod", NOW - WINDOW - 1)], WINDOW, Decision("open")),
    (LAG, None, [Root(7, "INC-2026-0007", "prod", NOW - WINDOW)], WINDOW, Decision("attach", 7)),
    # window 0: correlation is off
    (LAG, None, [ROOT], 0, Decision("open")),
    # a runbook that is no symptom of a cluster problem (schema) never attaches
    (SCHEMA, None, [ROOT], WINDOW, Decision("open")),
    # a second cluster-level runbook does not attach to the first
    (Problem("broker-health", Subject("prod"), cluster_scope=True, attaches=True), None, [ROOT], WINDOW,
     Decision("open")),
    # nothing open
    (LAG, None, [], WINDOW, Decision("open")),
    # no cluster on either side: a single-cluster setup whose labels name none
    (Problem("high-consumer-lag", Subject(group="orders"), attaches=True), None,
     [Root(7, "INC-2026-0007", None, NOW - 60)], WINDOW, Decision("attach", 7)),
    (Problem("high-consumer-lag", Subject(group="orders"), attaches=True), None, [ROOT], WINDOW, Decision("open")),
], ids=["join-lag", "join-cluster", "attach-lag", "attach-dlq", "kafka-root-lag", "kafka-root-queue",
        "rabbit-root-queue", "rabbit-root-lag", "oldest-root", "other-cluster", "outside-window",
        "window-edge", "window-off", "schema-opens", "cluster-level-opens", "nothing-open", "no-cluster-both",
        "no-cluster-one"])
def test_decide(problem: Problem, claimed_by: int | None, roots: list[Root], window: float,
                expected: Decision) -> None:
    assert decide(problem, claimed_by, roots, NOW, window) == expected


@pytest.mark.parametrize(("a", "b", "same"), [
    (LAG, Problem("high-consumer-lag", Subject("prod", group="orders"), attaches=True), True),
    (LAG, Problem("high-consumer-lag", Subject("prod", group="billing")), False),
    (LAG, Problem("high-consumer-lag", Subject("staging", group="orders")), False),
    (LAG, Problem("consumer-group-stuck", Subject("prod", group="orders")), False),  # another runbook
    (LAG, Problem("high-consumer-lag", Subject("prod", group="orders", topic="t")), True),  # a group is the group
    (Problem("dlq-filling", Subject("prod", topic="a.dlq")), Problem("dlq-filling", Subject("prod", topic="b.dlq")),
     False),
    # a cluster-level runbook: the cluster alone, whatever topic an alert names
    (BROKER, Problem("broker-health", Subject("prod", topic="orders"), cluster_scope=True), True),
    (BROKER, Problem("broker-health", Subject("staging"), cluster_scope=True), False),
    # Kafka and RabbitMQ clusters of the same name are two clusters
    (Problem("broker-health", Subject("local"), cluster_scope=True, broker="kafka"),
     Problem("broker-health", Subject("local"), cluster_scope=True, broker="rabbitmq"), False),
])
def test_claim_key_is_runbook_and_subject(a: Problem, b: Problem, same: bool) -> None:
    assert (claim_key(a) == claim_key(b)) is same


@pytest.mark.parametrize("problem", [
    Problem("generic-triage", Subject("prod")),  # a cluster alone, not a cluster-level runbook
    Problem("generic-triage", Subject()),
])
def test_a_vague_subject_has_no_claim(problem: Problem) -> None:
    assert claim_key(problem) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("group:orders-svc", ("group", "orders-svc")),
    ("Topic:orders", ("topic", "orders")),
    ("queue:orders.dlq", ("queue", "orders.dlq")),
    ("orders-svc", (None, "orders-svc")),
    ("cluster:prod", (None, "cluster:prod")),  # not a subject field: taken as a plain name
])
def test_parse_subject(text: str, expected: tuple[str | None, str]) -> None:
    assert parse_subject(text) == expected


ATTACHED = [(1, Subject("prod", group="orders")), (2, Subject("prod", topic="orders")),
            (3, Subject("prod", queue="orders.dlq"))]


@pytest.mark.parametrize(("field", "name", "ids"), [
    ("group", "orders", [1]), ("topic", "orders", [2]), (None, "orders", [1, 2]), (None, "orders.dlq", [3]),
    ("queue", "orders", []), (None, "nothing", []),
])
def test_matching(field: str | None, name: str, ids: list[int]) -> None:
    assert matching(ATTACHED, field, name) == ids


@pytest.mark.parametrize(("labels", "annotations", "shown"), [
    ({}, {"value": "12400"}, "12,400"), ({"value": "12400.0"}, {}, "12,400"), ({}, {"value": "0.25"}, "0.25"),
    ({}, {"value": "3 min"}, "3 min"), ({}, {}, None),
])
def test_value_of(labels: dict[str, str], annotations: dict[str, str], shown: str | None) -> None:
    assert value_of(labels, annotations) == shown


def test_words() -> None:
    assert attached_sentence("high-consumer-lag", Subject("prod", group="orders-svc"), "12,400") == (
        ":link: Attached: lag on group `orders-svc` (12,400) — likely the same cause.")
    assert attached_sentence("dlq-filling", Subject("prod", queue="a<b"), None) == (
        ":link: Attached: DLQ filling on queue `a&lt;b` — likely the same cause.")
    firing = Affected("attached", "high-consumer-lag", Subject("prod", group="g"), "12,400", firing=1)
    assert firing.line() == "lag on group `g` (12,400): :rotating_light: firing"
    resolved = Affected("attached", "dlq-filling", Subject("prod", topic="t.dlq"), resolved=2)
    assert resolved.line() == "DLQ filling on topic `t.dlq`: :white_check_mark: resolved"
    merged = Affected("merged", "high-consumer-lag", Subject("prod", group="g", topic="t"), from_ref="INC-2026-0003",
                      title="g lags", firing=1)
    assert merged.line() == "INC-2026-0003 merged (g lags): lag on group `g` (topic `t`): :rotating_light: firing"


@pytest.mark.parametrize(("alertname", "labels", "role"), [
    # the watch's breaches and the public rule sets' names for a cluster-level problem ...
    ("WatchBrokerDown", {"broker": "1"}, "root"),
    ("WatchClusterUnreachable", {}, "root"),
    ("WatchUnderReplicated", {}, "root"),
    ("WatchOfflinePartitions", {"topic": "orders"}, "root"),
    ("WatchRabbitNodeDown", {"node": "rabbit@a"}, "root"),
    ("WatchRabbitAlarm", {"node": "rabbit@a"}, "root"),
    ("KafkaBrokerDown", {}, "root"),
    ("RabbitMQMemoryAlarm", {}, "root"),
    # ... and for the problems such an outage causes
    ("WatchConsumerLagHigh", {"consumergroup": "g"}, "symptom"),
    ("WatchConsumerGroupStuck", {"consumergroup": "g"}, "symptom"),
    ("WatchDLQDepthHigh", {"queue": "orders.dlq"}, "symptom"),
    ("KafkaConsumerLagHigh", {"consumergroup": "g"}, "symptom"),
    ("RabbitDLQDepthHigh", {"queue": "orders.dlq"}, "symptom"),
    ("KafkaConsumerGroupRebalancing", {"consumergroup": "g"}, "symptom"),
    # neither
    ("SchemaIncompatible", {"subject": "orders-value"}, "neither"),
    ("SomethingOdd", {}, "neither"),
])
def test_shipped_runbooks_say_which_problems_are_cluster_level_and_which_attach(
        alertname: str, labels: dict[str, str], role: str) -> None:
    from bot.alerts import routing
    from bot.runbooks import load_all

    books = load_all()
    book = books[routing.route(books, {"alertname": alertname, "cluster": "prod", **labels}).runbook_id]
    assert ("root" if book.scope == "cluster" else "symptom" if book.attach_to_cluster else "neither") == role


@pytest.mark.parametrize(("subject", "labels", "broker"), [
    (Subject("prod", group="g"), {"alertname": "RabbitSomething"}, "kafka"),  # the subject decides first
    (Subject("prod", queue="q"), {}, "rabbitmq"),
    (Subject("prod"), {"alertname": "WatchKafkaClusterUnreachable"}, "kafka"),
    (Subject("prod"), {"alertname": "WatchRabbitMQNodes"}, "rabbitmq"),
    (Subject("prod"), {"alertname": "WatchRabbitMQClusterUnreachable"}, "rabbitmq"),
    (Subject("prod"), {"alertname": "KafkaBrokerDown"}, "kafka"),
    (Subject("prod"), {"alertname": "UnderReplicatedPartitions"}, "kafka"),
    (Subject("prod"), {"alertname": "NodeDown", "rabbitmq_cluster": "prod"}, "rabbitmq"),
    (Subject("prod"), {"alertname": "NodeDown"}, None),
])
def test_broker_of(subject: Subject, labels: dict[str, str], broker: str | None) -> None:
    assert broker_of(subject, labels) == broker


@pytest.mark.parametrize(("minutes", "line"), [
    (-1, "incidents.correlation_window_minutes: Input should be greater than or equal to 0 (got -1) "
         "[env INCIDENTBOT_INCIDENTS__CORRELATION_WINDOW_MINUTES]"),
    (1441, "incidents.correlation_window_minutes: Input should be less than or equal to 1440 (got 1441) "
           "[env INCIDENTBOT_INCIDENTS__CORRELATION_WINDOW_MINUTES]"),
])
def test_the_window_setting_is_checked(minutes: int, line: str) -> None:
    from bot.config import ConfigError, load

    assert load().incidents.correlation_window_minutes == 30
    assert load(incidents={"correlation_window_minutes": 0}).incidents.correlation_window_minutes == 0
    with pytest.raises(ConfigError) as refused:
        load(incidents={"correlation_window_minutes": minutes})
    assert str(refused.value) == f"configuration error: {line}"
