"""Silences, pure: matchers as Alertmanager defines them (four operators, anchored regular
expressions, a missing label is the empty string), subject shorthands, durations, and
the words of `/silence`; what an ended silence hands back; what a maintenance window
posts (changes, verdict, what fired): table-driven, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import MaintenanceSettings, Thresholds
from bot.health.brokers import kafka_cluster_verdict
from bot.health.verdict import Level
from bot.incidents.released import batches
from bot.probes.kafka_cluster import BrokerInfo, PartitionInfo, TopicInfo, summarize
from bot.silences import labels_for
from bot.silences.maintenance_text import held_lines, verdict_report
from bot.silences.matchers import (
    Matcher,
    MatcherError,
    describe,
    duration_text,
    match,
    parse_duration,
    parse_matcher,
    parse_silence,
)
from bot.silences.model import Held, Silence, Window
from bot.silences.model import match as silence_match
from bot.silences.reading import Reading, changes
from bot.subject import Subject

LAG = {"alertname": "KafkaConsumerLag", "consumergroup": "orders-svc", "topic": "orders", "severity": "warning"}


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("alertname=KafkaConsumerLag", LAG, True),
    ("alertname=KafkaConsumer", LAG, False),
    ("alertname!=KafkaConsumerLag", LAG, False),
    ("alertname!=Other", LAG, True),
    # Regular expressions are anchored at both ends, as Alertmanager's.
    ('consumergroup=~"orders-.*"', LAG, True),
    ('consumergroup=~"orders"', LAG, False),
    ('consumergroup=~"rders-svc"', LAG, False),
    ('consumergroup=~"orders-svc|billing"', LAG, True),
    ('consumergroup!~"orders-.*"', LAG, False),
    ('consumergroup!~"billing-.*"', LAG, True),
    # A missing label is the empty string.
    ("queue=", LAG, True),
    ("queue!=orders.dlq", LAG, True),
    ('queue=~".+"', LAG, False),
    ('queue!~".+"', LAG, True),
    ('queue=~"orders.*"', LAG, False),
    # Quotes, escapes, braces and commas of Alertmanager's own syntax.
    ('{alertname="KafkaConsumerLag",', LAG, True),
    ('topic="orders"}', LAG, True),
    (r'topic=~"ord\w+"', LAG, True),
    # Subject shorthands: any label name exporters use for the thing.
    ("group:orders-svc", LAG, True),
    ("group:orders-svc", {"group_id": "orders-svc"}, True),
    ("group:orders-svc", {"consumer_group": "billing"}, False),
    ("group:~orders-.*", {"group": "orders-eu"}, True),
    ("group:~orders", {"group": "orders-eu"}, False),
    ("topic:orders", {"topic_name": "orders"}, True),
    ("queue:orders.dlq", {"queue": "orders.dlq"}, True),
    ("broker:1", {"broker_id": "1"}, True),
    ("broker:1", {"broker": "2"}, False),
    ("broker:1", LAG, False),
    ("cluster:prod", {"kafka_cluster": "prod"}, True),
    ("cluster:prod", {"strimzi_io_cluster": "prod"}, True),
    ("cluster:prod", LAG, False),
    # A value that is itself `label:value` stays a label matcher.
    ('instance=~"kafka-1:.*"', {"instance": "kafka-1:9308"}, True),
], ids=lambda v: v if isinstance(v, str) else None)
def test_one_matcher(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


def test_the_default_cluster_covers_alerts_naming_no_cluster() -> None:
    # Their incidents check the default cluster, so its silence covers them.
    assert parse_matcher("cluster:local", default_cluster="local").matches(LAG)
    assert parse_matcher("cluster:local", default_cluster="local").matches({"cluster": "local"})
    assert not parse_matcher("cluster:local", default_cluster="local").matches({"cluster": "prod"})
    assert not parse_matcher("cluster:prod", default_cluster="local").matches(LAG)


@pytest.mark.parametrize(("words", "labels", "expected"), [
    (["alertname=KafkaConsumerLag", "consumergroup=~orders-.*"], LAG, True),
    (["alertname=KafkaConsumerLag", "consumergroup=~billing-.*"], LAG, False),
    (["group:orders-svc", "severity!=critical"], LAG, True),
    (["group:orders-svc", "severity=critical"], LAG, False),
])
def test_every_matcher_must_hold(words: list[str], labels: dict[str, str], expected: bool) -> None:
    matchers = [parse_matcher(w) for w in words]
    assert match(matchers, labels) is expected
    silence = Silence(id=1, matchers=matchers, reason="r", created_by="U1", created_at=0, starts_at=0, ends_at=1)
    assert silence_match(silence, labels) is expected


@pytest.mark.parametrize(("words", "error"), [
    (["30m", "deploy"], "one matcher at least"),
    (["alertname=X", "deploy"], "`deploy` is neither a matcher nor a duration"),
    (["alertname=X"], "How long?"),
    (["alertname=X", "30x", "deploy"], "`30x` is not a duration"),
    (["alertname=X", "30m"], "needs a reason"),
    (["alertname=X", "30d", "deploy"], "30d is longer than the longest allowed (7d"),
    (["consumergroup=~orders-(", "30m", "deploy"], "not a valid regular expression"),
    (['queue=~".*"', "30m", "deploy"], "would match every alert"),
    (["queue!=x", "30m", "deploy"], "would match every alert"),
    (["nonsense", "30m", "deploy"], "is not a matcher"),
    (["9lives=3", "30m", "deploy"], "is not a matcher"),
    (["group:", "30m", "deploy"], "is not a matcher"),
])
def test_bad_silences_say_what_is_wrong(words: list[str], error: str) -> None:
    with pytest.raises(MatcherError, match=None) as caught:
        parse_silence(words, max_seconds=7 * 86400)
    assert error in str(caught.value)


def test_a_silence_reads_matchers_duration_and_reason() -> None:
    matchers, seconds, reason = parse_silence(
        ["alertname=KafkaConsumerLag", "consumergroup=~orders-.*", "2h", "deploying", "orders"], max_seconds=1e9)
    assert describe(matchers) == 'alertname=KafkaConsumerLag consumergroup=~"orders-.*"'
    assert (seconds, reason) == (7200, "deploying orders")


@pytest.mark.parametrize(("text", "seconds"), [
    ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45s", 45), ("1w", 604800), ("2H", 7200),
    ("30", None), ("m", None), ("", None), ("1.5h", None), ("30x", None),
])
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("seconds", "text"), [(1800, "30m"), (5400, "1h 30m"), (90061, "1d 1h"), (5, "5s")])
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(("matcher", "text"), [
    (Matcher(name="alertname", value="KafkaLag"), "alertname=KafkaLag"),
    (Matcher(name="summary", value="a b"), 'summary="a b"'),
    (Matcher(name="topic", op="=~", value="orders\\..*"), 'topic=~"orders\\\\..*"'),
    (Matcher(name="group", value="orders", subject=True), "group:orders"),
    (Matcher(name="group", op="=~", value="orders-.*", subject=True), "group:~orders-.*"),
])
def test_matchers_read_back_as_typed(matcher: Matcher, text: str) -> None:
    assert matcher.text() == text
    assert parse_matcher(text) == matcher.model_copy(update={"absent_ok": False})


def test_watch_labels_name_the_subject_like_an_alert() -> None:
    labels = labels_for(Subject(cluster="local", group="orders"), "WatchLagHigh", "warning", broker=1,
                        runbook="high-consumer-lag")
    assert labels == {"alertname": "WatchLagHigh", "severity": "warning", "cluster": "local", "group": "orders",
                      "broker": "1", "runbook": "high-consumer-lag"}
    assert parse_matcher("group:orders").matches(labels)
    assert parse_matcher("broker:1").matches(labels)
    assert not parse_matcher("queue:orders").matches(labels)


SETTINGS = MaintenanceSettings(lag_change_messages=1000, lag_change_ratio=0.1)
BASE = Reading(at=0, reachable=True, brokers=[1, 2], partitions=100, urp=0, offline=0, lag=5000, groups=3)


@pytest.mark.parametrize(("after", "said"), [
    ({}, []),
    ({"lag": 5900}, []),  # under 1,000 messages
    ({"lag": 6000}, ["total lag 5,000 → 6,000 messages (+1,000)"]),
    ({"lag": 4000}, ["total lag 5,000 → 4,000 messages (-1,000)"]),
    ({"urp": 4}, ["under-replicated partitions 0 → 4 (of 100)"]),
    ({"offline": 2}, ["offline partitions 0 → 2"]),
    ({"brokers": [2]}, ["broker 1 stopped answering"]),
    ({"brokers": [1, 2, 3]}, ["broker 3 answers"]),
    ({"reachable": False, "error": "timed out"}, ["Kafka is unreachable (timed out)"]),
    ({"lag": None}, []),
], ids=lambda v: str(v) if isinstance(v, dict) else None)
def test_a_window_posts_only_what_changed(after: dict[str, object], said: list[str]) -> None:
    now = Reading(**{**BASE.as_dict(), **after})  # type: ignore[arg-type]
    assert changes(BASE, now, SETTINGS) == said


def test_lag_change_is_relative_to_a_large_total() -> None:
    big = Reading(**{**BASE.as_dict(), "lag": 1_000_000})
    assert changes(big, Reading(**{**BASE.as_dict(), "lag": 1_050_000}), SETTINGS) == []
    assert changes(big, Reading(**{**BASE.as_dict(), "lag": 1_100_000}), SETTINGS) != []


def held(fingerprint: str, status: str = "firing", *, group: str = "g1", source: str = "alertmanager",
         ends_at: str | None = "0001-01-01T00:00:00Z") -> Held:
    return Held(silence_id=1, source=source, group_key=group, fingerprint=fingerprint, name="KafkaLag",
                status=status, severity="warning", labels={"alertname": "KafkaLag"}, first_seen=0, last_seen=1,
                deliveries=1, ends_at=ends_at, batch={"title": "lagging", "common_labels": {"team": "a"},
                                                      "runbook": None})


@pytest.mark.parametrize(("rows", "expected"), [
    ([held("a")], [("g1", "firing", {"a": "firing"})]),
    ([held("a", "resolved")], [("g1", "resolved", {"a": "resolved"})]),
    # Alertmanager's endsAt passed without a new delivery: resolved.
    ([held("a", ends_at="2020-01-01T00:00:00Z")], [("g1", "resolved", {"a": "resolved"})]),
    ([held("a", ends_at="2999-01-01T00:00:00.123456789Z")], [("g1", "firing", {"a": "firing"})]),
    ([held("a"), held("b", "resolved")], [("g1", "firing", {"a": "firing", "b": "resolved"})]),
    ([held("a"), held("b", group="g2")], [("g1", "firing", {"a": "firing"}), ("g2", "firing", {"b": "firing"})]),
    # The watch's own breaches are a record: the watch re-opens what still breaches.
    ([held("w", source="watch")], []),
], ids=["firing", "resolved", "ends-at-passed", "ends-at-ahead", "mixed", "two-groups", "watch"])
def test_what_an_ended_silence_hands_back(rows: list[Held], expected: list[tuple[str, str, dict[str, str]]]) -> None:
    found = batches(rows, now=1_800_000_000)
    assert [(b.group_key, b.status, {a.fingerprint: a.status for a in b.alerts}) for b in found] == expected
    assert all(b.title == "lagging" and b.common_labels == {"team": "a"} for b in found)


def window(broker: str | None = "2") -> Window:
    return Window(id=1, scope="broker" if broker else "cluster", cluster="prod", broker=broker, reason="upgrade",
                  created_by="U1", starts_at=0, ends_at=60, ended_by=None, channel=None, thread_ts=None,
                  baseline=None, last=None, finished_at=None)


@pytest.mark.parametrize(("live", "level", "said"), [
    ([1, 2, 3], Level.OK, "Broker 2 answers."),
    ([1, 3], Level.CRITICAL, "Broker 2 is not answering at the end of M-1"),
])
def test_the_verdict_at_the_end_of_a_window(live: list[int], level: Level, said: str) -> None:
    brokers = [BrokerInfo(id=i, host=f"kafka-{i}", port=9092) for i in live]
    partitions = [PartitionInfo(topic="orders", partition=0, leader=live[0], replicas=[1, 2, 3], isr=live)]
    snap = summarize(cluster="prod", bootstrap_servers=["kafka-1:9092"], taken_at=datetime(2026, 1, 1, tzinfo=UTC),
                     cluster_id="c", controller_id=1, brokers=brokers, topics=[TopicInfo(name="orders", partitions=1)],
                     partitions=partitions)
    start = Reading(at=0, reachable=True, brokers=[1, 2, 3], partitions=1, lag=100, groups=1)
    end = Reading(at=60, reachable=True, brokers=live, partitions=1, urp=len(snap.under_replicated), lag=400, groups=1)
    report = verdict_report(window(), start, end, snap, kafka_cluster_verdict(snap, Thresholds()), "kafka-1:9092")
    assert report.verdict.level is level and said in report.verdict.reasons[0]
    assert report.tables[0].rows[-1] == ["total lag", "100", "400"]
    assert "Total lag is 300 messages above its level at the start" in report.notes[0]


def test_what_fired_while_silenced_one_line_per_alert() -> None:
    rows = [held("a"), held("b", "resolved")]
    rows[1].labels = {"alertname": "KafkaLag", "group": "orders"}
    rows[1].resolved_seen = 30
    text = held_lines(window(), rows + [held("w", source="watch")])
    assert "*What fired while M-1 silenced it* (3 alerts)" in text
    assert "• `KafkaLag`: 2 deliveries" in text and "still firing: it opens as an incident now" in text
    assert "• `KafkaLag` `group=orders`: 1 delivery" in text and "resolved 00:00:30 UTC" in text
    assert held_lines(window(), []) == ":mute: Nothing fired while M-1 silenced its noise."
