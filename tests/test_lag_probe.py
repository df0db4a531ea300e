"""Lag from the real Kafka: exact per-partition numbers, Kafka's conventions, and
parity with Kafka's own consumer-groups command, row by row."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from bot import db
from bot.evidence import lag
from bot.health.lag import BehindSource
from bot.health.verdict import Level
from bot.probes import kafka_lag
from bot.probes.clients import Clients
from bot.reports import lag as render_lag
from tests import kafka_fixtures as kf
from tests import kafka_tool
from tests.conftest import KAFKA, free_port, make_settings

COUNTS = {0: 100, 1: 40, 2: 7, 3: 0}


@pytest.fixture
def topic(brokers: None, unique: str) -> str:
    name = f"lag-{unique}"
    kf.create_topic(name, 4)
    kf.produce(name, COUNTS)
    return name


def _rows(snap, group):  # type: ignore[no-untyped-def]
    found = next(g for g in snap.groups if g.group == group)
    return found, {(p.topic, p.partition): p for p in found.partitions}


def test_exact_lag_per_partition_of_an_empty_group(topic: str, unique: str) -> None:
    group = f"billing-{unique}"
    kf.commit(group, {(topic, 0): 60, (topic, 1): 40, (topic, 2): 0})
    snap = kafka_lag.snapshot(kf.admin(), "local", [group], timeout=5)
    g, rows = _rows(snap, group)
    assert g.state == "Empty" and g.members == []
    assert [(p, r.committed, r.log_end, r.lag) for (_, p), r in sorted(rows.items())] == [
        (0, 60, 100, 40), (1, 40, 40, 0), (2, 0, 7, 7),
    ]  # partition 3: never committed, nobody assigned: not a row, as in Kafka's tool
    assert g.total_lag == 47
    assert all(r.member_id is None for r in rows.values())
    assert snap.partitions_per_topic == {topic: 4}


def test_members_assignments_and_uncommitted_partitions(topic: str, unique: str) -> None:
    group = f"orders-{unique}"
    with kf.members(group, topic, 2, client_prefix=f"svc-{unique}") as consumers:
        consumers[0].commit(offsets=[TopicPartition(topic, p, 5) for p, _ in
                                     [(tp.partition, 0) for tp in consumers[0].assignment()]], asynchronous=False)
        snap = kafka_lag.snapshot(kf.admin(), "local", [group], timeout=5)
        g, rows = _rows(snap, group)
        assert g.state == "Stable"
        assert sorted(m.client_id for m in g.members) == [f"svc-{unique}-0", f"svc-{unique}-1"]
        assigned = sorted(p for m in g.members for _, p in m.partitions)
        assert assigned == [0, 1, 2, 3]
        first = {tp.partition for tp in consumers[0].assignment()}
        for (_, p), row in rows.items():
            assert row.client_id is not None and row.host is not None
            if p in first:
                assert row.committed == 5 and row.lag == COUNTS[p] - 5
            else:  # assigned but never committed: no current offset and no lag, as Kafka prints "-"
                assert row.committed is None and row.lag is None
        cli_rows, output = kafka_tool.describe(KAFKA, group)
    assert len(cli_rows) == 4, output
    for cli in cli_rows:
        row = rows[(cli.topic, cli.partition)]
        assert (row.committed, row.log_end, row.cli_lag, row.member_id, row.host, row.client_id) == (
            cli.current, cli.log_end, cli.lag, cli.consumer_id, cli.host, cli.client_id), output


def test_parity_with_kafka_consumer_groups_for_several_groups(topic: str, unique: str) -> None:
    groups = {f"p1-{unique}": {(topic, 0): 10, (topic, 1): 39},
              f"p2-{unique}": {(topic, 0): 100, (topic, 2): 3, (topic, 3): 0}}
    for group, offsets in groups.items():
        kf.commit(group, offsets)
    snap = kafka_lag.snapshot(kf.admin(), "local", list(groups), timeout=5)
    cli_rows, output = kafka_tool.describe(KAFKA, *groups)
    bot_rows = {(g.group, p.topic, p.partition): p for g in snap.groups for p in g.partitions}
    assert {(r.group, r.topic, r.partition) for r in cli_rows} == set(bot_rows), output
    for cli in cli_rows:
        row = bot_rows[(cli.group, cli.topic, cli.partition)]
        assert (row.committed, row.log_end, row.cli_lag) == (cli.current, cli.log_end, cli.lag)


def test_retention_below_the_committed_offset_is_flagged_not_phantom_lag(topic: str, unique: str) -> None:
    group = f"slow-{unique}"
    kf.commit(group, {(topic, 0): 10})
    # Retention (here: an explicit delete) removes messages 0..69 the group never read.
    result = kf.admin().delete_records([TopicPartition(topic, 0, 70)])
    for future in result.values():
        future.result(timeout=30)
    snap = kafka_lag.snapshot(kf.admin(), "local", [group], timeout=5)
    _, rows = _rows(snap, group)
    row = rows[(topic, 0)]
    assert (row.committed, row.log_start, row.log_end) == (10, 70, 100)
    assert row.retention_skipped == 60
    assert row.lag == 30  # what can still be consumed
    cli_rows, _ = kafka_tool.describe(KAFKA, group)
    assert cli_rows[0].lag == row.cli_lag == 90  # Kafka's tool counts the deleted messages too


def test_topic_filter_and_all_groups(topic: str, unique: str) -> None:
    kf.create_topic(f"other-{unique}", 1)
    kf.produce(f"other-{unique}", {0: 5})
    group = f"mixed-{unique}"
    kf.commit(group, {(topic, 0): 1, (f"other-{unique}", 0): 2})
    snap = kafka_lag.snapshot(kf.admin(), "local", None, timeout=5, topic=topic)
    g, rows = _rows(snap, group)
    assert set(rows) == {(topic, 0)}
    assert group in kafka_lag.list_groups(kf.admin(), 5)


def test_unreachable_cluster_answers_within_the_timeout(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, kafka={"local": {"bootstrap_servers": f"127.0.0.1:{free_port()}",
                                                        "request_timeout_s": 2}})
    engine = db.create(settings.database_url)
    db.migrate(engine)
    clients = Clients(settings)
    started = time.monotonic()
    with pytest.raises(kafka_lag.KafkaUnavailable):
        lag.record_and_assess(clients, engine, settings.thresholds, cluster="local")
    assert time.monotonic() - started < 4
    clients.close()


def test_unreachable_cluster_for_a_named_group_answers_within_the_timeout() -> None:
    # The probe reads no cluster-wide metadata: the groups' own requests tell.
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{free_port()}", "log_level": 0})
    started = time.monotonic()
    with pytest.raises(kafka_lag.KafkaUnavailable, match="reading consumer groups failed"):
        kafka_lag.snapshot(admin, "local", ["billing"], timeout=2)
    assert time.monotonic() - started < 4


def test_samples_are_stored_and_give_a_trend(topic: str, unique: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    engine = db.create(settings.database_url)
    db.migrate(engine)
    clients = Clients(settings)
    group = f"trend-{unique}"
    kf.commit(group, {(topic, 0): 0, (topic, 1): 0})
    first = lag.record_and_assess(clients, engine, settings.thresholds, cluster="local", groups=[group])
    assert first.groups[0].growth_per_minute is None  # one sample: no trend yet
    kf.produce(topic, {0: 50})
    time.sleep(1.1)
    second = lag.record_and_assess(clients, engine, settings.thresholds, cluster="local", groups=[group])
    a = second.groups[0]
    assert a.total_lag == 190  # 150 + 40
    elapsed = (second.snapshot.taken_at - first.snapshot.taken_at).total_seconds()
    assert a.growth_per_minute == pytest.approx(50 * 60 / elapsed, rel=1e-3)  # 140 -> 190 in ~1 s
    assert a.catching_up is False
    assert a.verdict.level is Level.WARNING
    assert a.verdict.reasons == [
        f"{group}'s lag grows {a.growth_per_minute:,.0f} messages/minute (warning above 1,000)",
        f"{group}: nobody is reading: the group is Empty with 190 messages waiting"]


@pytest.fixture
def clients_and_engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh database: no samples stored, the first look at every group."""
    settings = make_settings(tmp_path)
    engine = db.create(settings.database_url)
    db.migrate(engine)
    clients = Clients(settings)
    yield clients, engine, settings
    clients.close()  # its follower of __consumer_offsets, if a look started one


def test_first_look_shows_seconds_behind_from_the_oldest_unread_record(brokers: None, unique: str,
                                                                       clients_and_engine) -> None:  # type: ignore[no-untyped-def]
    clients, engine, settings = clients_and_engine
    topic, group = f"aged-{unique}", f"aged-{unique}"
    kf.create_topic(topic, 3)
    now_ms = int(time.time() * 1000)
    kf.produce_at(topic, 0, [now_ms - 300_000, now_ms - 240_000, now_ms - 180_000])
    kf.produce_at(topic, 1, [now_ms - 42_000, now_ms - 10_000])
    kf.produce_at(topic, 2, [now_ms - 5_000])
    kf.commit(group, {(topic, 0): 1, (topic, 1): 0, (topic, 2): 1})  # partition 2 is caught up

    before = time.time()
    report = lag.record_and_assess(clients, engine, settings.thresholds, cluster="local", groups=[group])
    after = time.time()
    a = report.groups[0]
    by_partition = {t.row.partition: t for t in a.partitions}
    # The record at offset 1 of partition 0 was produced 240 s ago; offset 0 of partition 1, 42 s ago:
    # "now" is a moment of the call, the record's timestamp exact to the millisecond.
    for partition, produced_ms in ((0, now_ms - 240_000), (1, now_ms - 42_000)):
        behind = by_partition[partition].seconds_behind
        assert behind is not None and before - 0.001 <= behind + produced_ms / 1000 <= after + 0.001
        assert by_partition[partition].behind_source is BehindSource.RECORD
    assert by_partition[2].seconds_behind is None  # lag 0: nothing waits
    assert a.seconds_behind == by_partition[0].seconds_behind  # the group's: its worst partition's
    assert report.snapshot.oldest_unread_missed == 0

    text = "\n".join(render_lag.group_report(report, KAFKA).notes)
    assert f"behind {render_lag.duration(a.seconds_behind)} (oldest unread record)" in text
    assert "BEHIND: now − the timestamp (CreateTime) of the first unread record" in text
    table = render_lag.group_report(report, KAFKA).tables[0]
    behind = {row[1]: row[6] for row in table.rows}
    assert behind == {"0": render_lag.duration(by_partition[0].seconds_behind),
                      "1": render_lag.duration(by_partition[1].seconds_behind), "2": "-"}
    # Read without joining: the reader never becomes a consumer group of the cluster.
    assert kafka_lag.READER_GROUP not in kafka_lag.list_groups(kf.admin(), 5)


def test_log_append_time_is_the_brokers_clock(brokers: None, unique: str, clients_and_engine) -> None:  # type: ignore[no-untyped-def]
    clients, engine, settings = clients_and_engine
    topic, group = f"appended-{unique}", f"appended-{unique}"
    kf.create_topic(topic, 1, config={"message.timestamp.type": "LogAppendTime"})
    produced = time.time()
    kf.produce_at(topic, 0, [int(produced * 1000) - 3_600_000])  # the producer's hour-old time is replaced
    kf.commit(group, {(topic, 0): 0})
    report = lag.record_and_assess(clients, engine, settings.thresholds, cluster="local", groups=[group])
    row = report.groups[0].partitions[0]
    assert row.row.oldest_unread_type == "LogAppendTime"
    assert row.seconds_behind is not None and row.seconds_behind < time.time() - produced + 1
    assert "(LogAppendTime)" in "\n".join(render_lag.group_report(report, KAFKA).notes)


def test_a_future_timestamp_falls_back_to_samples(brokers: None, unique: str, clients_and_engine) -> None:  # type: ignore[no-untyped-def]
    clients, engine, settings = clients_and_engine
    topic, group = f"skewed-{unique}", f"skewed-{unique}"
    kf.create_topic(topic, 1)
    kf.produce_at(topic, 0, [int(time.time() * 1000) + 600_000])  # a producer clock 10 minutes fast
    kf.commit(group, {(topic, 0): 0})
    first = lag.record_and_assess(clients, engine, settings.thresholds, cluster="local", groups=[group])
    assert first.groups[0].seconds_behind is None
    assert "behind - (needs a readable record or another sample)" in render_lag.group_report(first, KAFKA).notes[0]
    kf.produce(topic, {0: 10})
    second = lag.record_and_assess(clients, engine, settings.thresholds, cluster="local", groups=[group])
    a = second.groups[0]
    assert a.behind_source is BehindSource.SAMPLES and a.seconds_behind is not None
    shown = render_lag.group_report(second, KAFKA)
    assert f"behind ≈ {render_lag.duration(a.seconds_behind)} (from samples)" in shown.notes[0]
    assert shown.tables[0].rows[0][6] == "≈" + render_lag.duration(a.seconds_behind)


def test_only_the_worst_partitions_are_read_and_the_rest_is_said(brokers: None, unique: str) -> None:
    topic, group = f"many-{unique}", f"many-{unique}"
    kf.create_topic(topic, 3)
    now_ms = int(time.time() * 1000)
    for partition, n in ((0, 5), (1, 3), (2, 1)):
        kf.produce_at(topic, partition, [now_ms - 60_000] * n)
    kf.commit(group, {(topic, 0): 0, (topic, 1): 0, (topic, 2): 0})
    snap = kafka_lag.snapshot(kf.admin(), "local", [group], timeout=5)
    kafka_lag.read_oldest_unread({"bootstrap.servers": KAFKA}, snap, timeout=5, limit=2)
    read = {p.partition: p.oldest_unread_ms for p in snap.groups[0].partitions}
    assert read == {0: now_ms - 60_000, 1: now_ms - 60_000, 2: None}  # the two worst by lag
    assert snap.oldest_unread_missed == 1
