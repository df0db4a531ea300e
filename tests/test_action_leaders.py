"""Preferred leader election on the real (single-node) Kafka: every partition is led
by its only replica, so the plan is empty and says so, and executing it is a no-op."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import db
from bot.actions import ActionContext, ActionError, SpecError, execute, leaders, replan, verify
from bot.probes.clients import Clients
from tests import kafka_fixtures as kf
from tests.conftest import make_settings

NOTHING = "nothing to do: every partition is led by its preferred replica"


@pytest.fixture
def ctx(tmp_path: Path, brokers: None) -> Iterator[ActionContext]:
    settings = make_settings(tmp_path)
    engine = db.create(settings.database_url)
    db.migrate(engine)
    yield ActionContext(clients=Clients(settings), engine=engine, actor="U0REQUESTER")
    engine.dispose()


@pytest.fixture
def topic(brokers: None, unique: str) -> Iterator[str]:
    name = f"lead-{unique}"
    kf.create_topic(name, 3)
    yield name
    kf.admin().delete_topics([name], operation_timeout=30)[name].result(timeout=30)


@pytest.mark.parametrize("selector", ["{topic}", "{topic}:1", "{topic}:0,2", None])
def test_single_node_plan_is_empty_and_says_so(ctx: ActionContext, topic: str, selector: str | None) -> None:
    plan = leaders.plan(ctx, "local", selector.format(topic=topic) if selector else None)
    assert plan.rows == [] and not plan.refusals and plan.nothing_to_do
    assert plan.summary.lower() == NOTHING + "."
    checked = {"{topic}": 3, "{topic}:1": 1, "{topic}:0,2": 2}
    if selector:
        assert plan.totals["partitions_checked"] == checked[selector]
    else:  # every topic of the cluster, this one among them
        assert plan.totals["partitions_checked"] >= 3
    assert replan(ctx, plan).plan_hash == plan.plan_hash
    res = execute(ctx, plan)
    assert res.status == "nothing_to_do" and res.message.lower() == NOTHING + "."
    check = verify(ctx, plan, res)
    assert check.ok and check.message.lower() == NOTHING + "."


def test_unknown_topic_or_partition(ctx: ActionContext, topic: str, unique: str) -> None:
    with pytest.raises(ActionError, match="There is no Kafka topic"):
        leaders.plan(ctx, "local", f"nope-{unique}")
    with pytest.raises(SpecError, match="has no partition 7"):
        leaders.plan(ctx, "local", f"{topic}:7")
