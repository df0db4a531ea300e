"""Adding partitions on the real Kafka: the plan's warnings and readers, refusals of
decreases, the re-check, and the described topic afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from bot import db
from bot.actions import ActionContext, ActionError, SpecError, execute, partitions, replan, verify
from bot.probes.clients import Clients
from tests import kafka_fixtures as kf
from tests.conftest import make_settings


@pytest.fixture
def ctx(tmp_path: Path, brokers: None) -> Iterator[ActionContext]:
    settings = make_settings(tmp_path)
    engine = db.create(settings.database_url)
    db.migrate(engine)
    yield ActionContext(clients=Clients(settings), engine=engine, actor="U0REQUESTER")
    engine.dispose()


@pytest.fixture
def topic(brokers: None, unique: str) -> Iterator[str]:
    name = f"grow-{unique}"
    kf.create_topic(name, 2, {"cleanup.policy": "compact"})
    kf.produce(name, {0: 5, 1: 5})
    yield name
    admin = kf.admin()
    for future in admin.delete_consumer_groups([f"readers-{unique}", f"idle-{unique}"], request_timeout=10).values():
        try:
            future.result(timeout=15)
        except KafkaException:
            pass
    admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)


def _count(topic: str) -> int:
    return len(kf.admin().list_topics(topic, timeout=10).topics[topic].partitions)


def test_add_partitions_plan_execute_verify(ctx: ActionContext, topic: str, unique: str) -> None:
    kf.commit(f"idle-{unique}", {(topic, 0): 3})
    with kf.members(f"readers-{unique}", topic, 1):
        plan = partitions.plan(ctx, "local", *partitions.parse_partitions_spec(f"{topic} 5"))
        assert not plan.refusals
        assert plan.totals == {"current": 2, "new_total": 5, "added": 3, "groups": 2}
        assert [r.key for r in plan.rows] == [f"readers-{unique}", f"idle-{unique}"]  # the active one first
        assert plan.rows[0].note == "rebalances now"
        assert "Ordering" in plan.warnings[0] and "over 5 partitions instead of 2" in plan.warnings[0]
        assert any("is compacted" in w for w in plan.warnings)
        assert any(f"will rebalance: readers-{unique}" in w for w in plan.warnings)
        assert _count(topic) == 2  # the plan changed nothing
        res = execute(ctx, plan)
    assert res.status == "executed" and res.counts == {"added": 3}, res.message
    assert _count(topic) == 5
    check = verify(ctx, plan, res)
    assert check.ok and check.message == f"{topic} has 5 partitions, each with a leader."


@pytest.mark.parametrize("total, words", [(1, "Kafka cannot decrease the partitions"),
                                          (2, "already has 2 partitions")])
def test_decrease_or_equal_is_refused(ctx: ActionContext, topic: str, total: int, words: str) -> None:
    plan = partitions.plan(ctx, "local", topic, total)
    assert plan.refused and words in plan.refusals[0].reason
    res = execute(ctx, plan)
    assert res.status == "refused" and words in res.message
    assert _count(topic) == 2


def test_execution_refuses_when_someone_else_added_partitions(ctx: ActionContext, topic: str) -> None:
    plan = partitions.plan(ctx, "local", topic, 4)
    partitions.execute(ctx, partitions.plan(ctx, "local", topic, 3))
    assert replan(ctx, plan).plan_hash != plan.plan_hash
    res = execute(ctx, plan)
    assert res.status == "refused" and "has 3 partitions now, not the 2" in res.message
    assert _count(topic) == 3


def test_unknown_topic_and_bad_text(ctx: ActionContext, unique: str) -> None:
    with pytest.raises(ActionError, match="There is no Kafka topic"):
        partitions.plan(ctx, "local", f"nope-{unique}", 3)
    with pytest.raises(SpecError, match="not a number of partitions"):
        partitions.parse_partitions_spec("orders many")
