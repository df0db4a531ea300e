"""Offset resets and restore points against the real Kafka: committed offsets read
back, active groups refused, clamping, --shift-by on never-committed partitions,
restore point CSV parity with Kafka's own --export, and restore."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from bot import db
from bot.actions import ActionContext, SpecError, execute, replan, reset_offsets, restore_points, verify
from bot.actions.kafka_util import committed_offsets
from bot.actions.reset_spec import parse_reset_spec
from bot.probes.clients import Clients
from tests import kafka_fixtures as kf
from tests.conftest import KAFKA, make_settings

ROOT = Path(__file__).resolve().parent.parent
CONSUMER_GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


@pytest.fixture
def ctx(tmp_path: Path, brokers: None) -> Iterator[ActionContext]:
    settings = make_settings(tmp_path)
    engine = db.create(settings.database_url)
    db.migrate(engine)
    yield ActionContext(clients=Clients(settings), engine=engine, actor="U0REQUESTER", incident_id="INC-1")
    engine.dispose()


@pytest.fixture
def made(brokers: None) -> Iterator[dict[str, list[str]]]:
    """Topics and groups a test creates, deleted afterwards."""
    created: dict[str, list[str]] = {"topics": [], "groups": []}
    yield created
    admin = kf.admin()
    for future in (admin.delete_consumer_groups(created["groups"], request_timeout=10).values()
                   if created["groups"] else []):
        try:
            future.result(timeout=15)
        except KafkaException:
            pass  # a group that was never created or is still in use
    for future in (admin.delete_topics(created["topics"], operation_timeout=30).values() if created["topics"] else []):
        try:
            future.result(timeout=30)
        except KafkaException:
            pass


@pytest.fixture
def topic(made: dict[str, list[str]], unique: str) -> str:
    name = f"reset-{unique}"
    kf.create_topic(name, 3)
    kf.produce(name, {0: 10, 1: 20, 2: 5})
    made["topics"].append(name)
    return name


def _group(made: dict[str, list[str]], unique: str, suffix: str = "g") -> str:
    name = f"reset-{suffix}-{unique}"
    made["groups"].append(name)
    return name


def _committed(group: str) -> dict[tuple[str, int], int]:
    return committed_offsets(kf.admin(), group, 10)


# ---------------------------------------------------------------- the spec


def test_spec_parses_kafka_flags() -> None:
    spec = parse_reset_spec("billing --topic orders:0,2 --topic audit --by-duration P1DT2H30M")
    assert spec.group == "billing" and spec.strategy == "by-duration"
    assert [(t.topic, t.partitions) for t in spec.topics] == [("orders", [0, 2]), ("audit", None)]
    assert spec.by_duration_s == 95400
    assert spec.text == "billing --topic orders:0,2 --topic audit --by-duration P1DT2H30M"
    assert parse_reset_spec("--group g --all-topics --shift-by -5 --execute").shift_by == -5
    naive = parse_reset_spec("g --all-topics --to-datetime 2024-01-01T09:30:00")
    assert naive.to_datetime == datetime(2024, 1, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("text, words", [
    ("g --topic t", "exactly one of"),
    ("g --topic t --to-earliest --to-latest", "exactly one of"),
    ("g --to-earliest", "either --topic"),
    ("g --topic t --all-topics --to-earliest", "either --topic"),
    ("g --topic t --by-duration 3h", "ISO-8601 duration"),
    ("g --topic t --to-datetime yesterday", "ISO-8601 date"),
    ("g --topic t --shift-by many", "whole number"),
    ("g --topic t:x --to-earliest", "partitions must be numbers"),
    ("--topic t --to-earliest", "Name the consumer group"),
    ("g --topic t --to-earliest --force", "Unknown option"),
])
def test_spec_errors_are_sentences(text: str, words: str) -> None:
    with pytest.raises(SpecError, match=words):
        parse_reset_spec(text)


# ---------------------------------------------------------------- reset, execute, verify


def test_reset_to_earliest_reads_back_and_saves_a_restore_point(ctx: ActionContext, topic: str, unique: str,
                                                                made: dict[str, list[str]]) -> None:
    group = _group(made, unique)
    kf.commit(group, {(topic, 0): 8, (topic, 1): 15, (topic, 2): 5})
    plan = reset_offsets.plan(ctx, "local", f"{group} --topic {topic} --to-earliest")
    assert not plan.refusals
    assert [r.key for r in plan.rows] == [f"{topic}[1]", f"{topic}[0]", f"{topic}[2]"]  # worst first
    assert [(r.values["current"], r.values["target"]) for r in plan.rows] == [(15, 0), (8, 0), (5, 0)]
    assert plan.rows[0].values["change"] == "-15 re-processed"
    assert plan.totals["reprocessed"] == 28 and plan.totals["skipped"] == 0
    assert replan(ctx, plan).plan_hash == plan.plan_hash  # nothing moved: the same plan
    assert _committed(group) == {(topic, 0): 8, (topic, 1): 15, (topic, 2): 5}  # the plan changed nothing

    res = execute(ctx, plan)
    assert res.status == "executed", res.message
    assert _committed(group) == {(topic, 0): 0, (topic, 1): 0, (topic, 2): 0}
    check = verify(ctx, plan, res)
    assert check.ok, check.mismatches
    point = restore_points.get(ctx.engine, res.details["restore_point_id"])
    assert point is not None and point.created_by == "U0REQUESTER" and point.incident_id == "INC-1"
    assert res.details["restore_point_csv"] == f"{topic},0,8\n{topic},1,15\n{topic},2,5\n"


def test_reset_to_datetime_and_by_duration(ctx: ActionContext, unique: str, made: dict[str, list[str]]) -> None:
    name = f"reset-time-{unique}"
    kf.create_topic(name, 1)
    made["topics"].append(name)
    kf.produce(name, {0: 4})
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    kf.produce(name, {0: 6})
    group = _group(made, unique)
    kf.commit(group, {(name, 0): 10})
    plan = reset_offsets.plan(ctx, "local", f"{group} --topic {name} --to-datetime {between.isoformat()}")
    assert plan.rows[0].values["target"] == 4 and plan.totals["reprocessed"] == 6
    assert execute(ctx, plan).status == "executed"
    assert _committed(group) == {(name, 0): 4}

    future = reset_offsets.plan(ctx, "local", f"{group} --topic {name} --to-datetime 2999-01-01T00:00:00Z")
    assert future.rows[0].values["target"] == 10  # nothing that new: the log end, as Kafka does
    assert "No message at or after" in (future.rows[0].note or "")
    recent = reset_offsets.plan(ctx, "local", f"{group} --topic {name} --by-duration PT1H")
    assert recent.rows[0].values["target"] == 0


def test_shift_by_refuses_never_committed_partitions_only(ctx: ActionContext, topic: str, unique: str,
                                                          made: dict[str, list[str]]) -> None:
    group = _group(made, unique)
    kf.commit(group, {(topic, 0): 6, (topic, 1): 20})
    plan = reset_offsets.plan(ctx, "local", f"{group} --topic {topic} --shift-by -4")
    refused = {r.item: r.reason for r in plan.refusals}
    assert list(refused) == [f"{topic}[2]"] and "no committed offset to shift from" in refused[f"{topic}[2]"]
    assert not plan.refused
    res = execute(ctx, plan)
    assert res.status == "executed"
    assert _committed(group) == {(topic, 0): 2, (topic, 1): 16}  # partition 2 still never committed
    assert verify(ctx, plan, res).ok


def test_targets_outside_the_log_are_clamped_and_said(ctx: ActionContext, topic: str, unique: str,
                                                      made: dict[str, list[str]]) -> None:
    group = _group(made, unique)
    kf.commit(group, {(topic, 0): 6, (topic, 1): 3})
    back = reset_offsets.plan(ctx, "local", f"{group} --topic {topic}:0,1 --shift-by -100")
    assert [r.values["target"] for r in sorted(back.rows, key=lambda r: r.key)] == [0, 0]
    assert all("clamped to the earliest offset 0" in (r.note or "") for r in back.rows)
    assert back.totals["clamped"] == 2 and any("clamped" in w for w in back.warnings)
    ahead = reset_offsets.plan(ctx, "local", f"{group} --topic {topic}:1 --to-offset 1000")
    assert ahead.rows[0].values["target"] == 20 and "clamped to the latest offset 20" in (ahead.rows[0].note or "")
    assert ahead.rows[0].values["change"] == "+17 skipped"
    assert execute(ctx, ahead).status == "executed"
    assert _committed(group)[(topic, 1)] == 20


def test_refused_while_a_consumer_is_active_then_allowed(ctx: ActionContext, topic: str, unique: str,
                                                         made: dict[str, list[str]]) -> None:
    group = _group(made, unique)
    kf.commit(group, {(topic, 0): 7, (topic, 1): 7, (topic, 2): 2})
    before = reset_offsets.plan(ctx, "local", f"{group} --topic {topic} --to-earliest")
    assert not before.refused
    with kf.members(group, topic, 1, client_prefix=f"svc-{unique}"):
        plan = reset_offsets.plan(ctx, "local", f"{group} --topic {topic} --to-earliest")
        assert plan.refused
        reason = plan.refusals[0].reason
        assert f"svc-{unique}-0 on /127.0.0.1" in reason and "stop the consumers first" in reason
        assert "Stable" in reason
        res = execute(ctx, plan)
        assert res.status == "refused"
        # The plan made while the group was empty is re-checked at execution too.
        stale = execute(ctx, before)
        assert stale.status == "refused" and "stop the consumers first" in stale.message
        assert "restore_point_id" not in stale.details
    assert _committed(group) == {(topic, 0): 7, (topic, 1): 7, (topic, 2): 2}
    after = reset_offsets.plan(ctx, "local", f"{group} --topic {topic} --to-earliest")
    assert not after.refused
    res = execute(ctx, after)
    assert res.status == "executed" and verify(ctx, after, res).ok


def test_execution_refuses_when_committed_offsets_moved(ctx: ActionContext, topic: str, unique: str,
                                                        made: dict[str, list[str]]) -> None:
    group = _group(made, unique)
    kf.commit(group, {(topic, 0): 7})
    plan = reset_offsets.plan(ctx, "local", f"{group} --all-topics --to-latest")
    kf.commit(group, {(topic, 0): 9})  # the consumers ran a little between approval and execution
    res = execute(ctx, plan)
    assert res.status == "refused" and "moved from 7 to 9 since the plan" in res.message
    assert replan(ctx, plan).plan_hash != plan.plan_hash


# ---------------------------------------------------------------- restore points


def _kafka_tool(*args: str) -> str:
    result = subprocess.run([str(ROOT / "scripts" / "services"), "kafka-class", CONSUMER_GROUPS,
                             "--bootstrap-server", KAFKA, *args],
                            capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-500:]
    return result.stdout


def test_restore_point_csv_is_kafkas_export_format(ctx: ActionContext, topic: str, unique: str,
                                                   made: dict[str, list[str]], tmp_path: Path) -> None:
    other = f"reset-other-{unique}"
    kf.create_topic(other, 2)
    made["topics"].append(other)
    kf.produce(other, {0: 3, 1: 3})
    group = _group(made, unique)
    kf.commit(group, {(topic, 0): 5, (topic, 1): 7, (other, 1): 2})
    point = restore_points.export_offsets(ctx, "local", group)
    exported = _kafka_tool("--reset-offsets", "--group", group, "--all-topics", "--to-current", "--export",
                           "--dry-run")
    # Kafka prints the CSV with println: the same lines (its order is a hash map's), one more newline.
    assert exported.endswith("\n\n") and point.csv.endswith("\n") and not point.csv.endswith("\n\n")
    assert sorted(exported[:-1].splitlines()) == point.csv.splitlines()
    assert point.csv == "".join(sorted([f"{other},1,2\n", f"{topic},0,5\n", f"{topic},1,7\n"]))
    # The brief's own reference command: the CSV of a planned reset, same shape.
    earliest = _kafka_tool("--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--export",
                           "--dry-run")
    assert sorted(earliest[:-1].splitlines()) == [f"{topic},0,0", f"{topic},1,0", f"{topic},2,0"]
    # And Kafka's tool reads the bot's file back.
    path = tmp_path / point.filename
    path.write_text(point.csv)
    table = _kafka_tool("--reset-offsets", "--group", group, "--from-file", str(path), "--dry-run")
    rows = sorted(tuple(line.split()[1:]) for line in table.splitlines() if line.startswith(group))
    assert rows == sorted([(other, "1", "2"), (topic, "0", "5"), (topic, "1", "7")])


def test_restore_puts_the_offsets_back(ctx: ActionContext, topic: str, unique: str,
                                       made: dict[str, list[str]]) -> None:
    group = _group(made, unique)
    original = {(topic, 0): 8, (topic, 1): 15, (topic, 2): 3}
    kf.commit(group, original)
    res = execute(ctx, reset_offsets.plan(ctx, "local", f"{group} --topic {topic} --to-latest"))
    assert res.status == "executed"
    assert _committed(group) == {(topic, 0): 10, (topic, 1): 20, (topic, 2): 5}
    restore = reset_offsets.plan_restore(ctx, res.details["restore_point_id"].lower())
    assert restore.kind == "restore_offsets" and not restore.refusals
    assert restore.totals["reprocessed"] == 2 + 5 + 2
    back = execute(ctx, restore)
    assert back.status == "executed", back.message
    assert _committed(group) == original
    assert verify(ctx, restore, back).ok
    assert back.details["restore_point_id"] != res.details["restore_point_id"]  # the restore saved one too
    saved = restore_points.get(ctx.engine, back.details["restore_point_id"])
    assert saved is not None and saved.group == group
    assert {(o.topic, o.partition): o.offset for o in saved.offsets} == {(topic, 0): 10, (topic, 1): 20, (topic, 2): 5}


def test_export_refuses_a_group_without_offsets(ctx: ActionContext, unique: str) -> None:
    with pytest.raises(reset_offsets.ActionError, match="no committed offsets"):
        restore_points.export_offsets(ctx, "local", f"nobody-{unique}")
