"""What a watch round makes of what it saw: the guide's thresholds (a team's own where it
owns the group), one problem per group named by its worst diagnosis, the recovery mark."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.health.lag_trend import Sample
from bot.health.verdict import Level
from bot.probes.avro_diff import SchemaChange
from bot.probes.lag_models import GroupLag, Member, PartitionLag
from bot.probes.schema_registry import SubjectSnapshot
from bot.watch import observe

NOW = 1_000_000.0


def group(name: str, lag: int, state: str = "Stable", members: int = 1, topic: str = "orders") -> GroupLag:
    return GroupLag(cluster="local", group=name, state=state,
                    members=[Member(member_id=f"m{i}", client_id=f"c{i}", host="h") for i in range(members)],
                    partitions=[PartitionLag(topic=topic, partition=0, committed=100, log_start=0,
                                             log_end=100 + lag, member_id="m0" if members else None)])


def observe_group(g: GroupLag, settings: Settings | None = None,
                  memory: observe.Membership | None = None) -> observe.Observation:
    s = settings or Settings()
    return observe.group(s, "local", g, {}, memory or observe.Membership(), NOW)


@pytest.mark.parametrize("lag,state,members,kind,level,recovered", [
    (0, "Stable", 1, "lag", Level.OK, True),
    (7_999, "Stable", 1, "lag", Level.OK, True),          # below 80% of 10,000: recovered
    (9_000, "Stable", 1, "lag", Level.OK, False),         # under the threshold, above the recovery mark
    (10_001, "Stable", 1, "lag", Level.WARNING, False),
    (100_001, "Stable", 1, "lag", Level.CRITICAL, False),
    (3_405, "Empty", 0, "stuck", Level.WARNING, False),   # nobody reading: stuck, not OK
    (150_000, "Empty", 0, "stuck", Level.CRITICAL, False),  # stuck and past critical: one problem, critical
    (0, "Empty", 0, "lag", Level.OK, True),               # an idle group with nothing waiting is fine
], ids=["zero", "below-mark", "hysteresis-band", "warning", "critical", "stuck", "stuck-critical", "idle"])
def test_group_levels(lag: int, state: str, members: int, kind: str, level: Level, recovered: bool) -> None:
    o = observe_group(group("orders-svc", lag, state, members))
    assert (o.kind, o.level, o.recovered) == (kind, level, recovered)
    assert o.key == "group:local:orders-svc"
    assert o.labels["consumergroup"] == "orders-svc" and o.labels["topic"] == "orders"
    if level:
        assert f"{lag:,}" in o.text


def test_runbooks_and_alert_names() -> None:
    lag = observe_group(group("a", 20_000))
    stuck = observe_group(group("b", 5, "Empty", 0))
    assert (lag.runbook, lag.labels["alertname"]) == ("high-consumer-lag", "WatchConsumerLagHigh")
    assert (stuck.runbook, stuck.labels["alertname"]) == ("consumer-group-stuck", "WatchConsumerGroupStuck")


def test_team_thresholds_override_the_global_ones() -> None:
    settings = Settings(teams={"payments": {"thresholds": {"lag_warning": 500, "lag_critical": 5_000}}},
                        ownership={"payments-": "payments"})
    assert observe_group(group("payments-svc", 600), settings).level is Level.WARNING
    assert observe_group(group("payments-svc", 6_000), settings).level is Level.CRITICAL
    assert observe_group(group("orders-svc", 6_000), settings).level is Level.OK  # global 10,000 still


def test_rebalancing_counts_membership_changes_within_ten_minutes() -> None:
    settings = Settings(watch={"rebalances_per_10min": 3})
    memory = observe.Membership()
    found = []
    for i in range(6):
        g = group("flappy", 10, members=1 + i % 2)  # a member leaves and rejoins every round
        found.append(observe.group(settings, "local", g, {}, memory, NOW + i * 30))
    assert [o.kind for o in found] == ["lag", "lag", "lag", "lag", "rebalancing", "rebalancing"]
    assert found[-1].level is Level.WARNING and found[-1].runbook == "rebalancing"
    assert "5 times in 10 minutes" in found[-1].text
    # Ten quiet minutes later the count has aged out.
    assert observe.group(settings, "local", group("flappy", 10, members=2), {}, memory, NOW + 1200).kind == "lag"


def test_watched_patterns() -> None:
    assert observe.watched("orders-svc", ["orders-*"]) and not observe.watched("billing", ["orders-*"])
    assert not observe.watched("orders-test", ["*"], ["*-test"])


@pytest.mark.parametrize("compat,breaks,level", [
    ("BACKWARD", ["BACKWARD"], Level.CRITICAL),
    ("BACKWARD_TRANSITIVE", ["BACKWARD"], Level.CRITICAL),
    ("FORWARD", ["BACKWARD"], Level.OK),
    ("FULL", ["FORWARD"], Level.CRITICAL),
    ("NONE", ["BACKWARD", "FORWARD"], Level.OK),
    ("BACKWARD", [], Level.OK),
])
def test_schema_latest_version_against_its_compatibility(compat: str, breaks: list[str], level: Level) -> None:
    change = SchemaChange(change="removed", field="amount", breaks=breaks)
    snap = SubjectSnapshot(subject="orders-value", versions=[1, 2], compatibility=compat,
                           latest_changes=[change])
    o = observe.schema("main", snap)
    assert o.level is level and o.labels["topic"] == "orders" and o.runbook == "schema-incompatibility"
    if level:
        assert "version 2 breaks its" in o.text


def test_committed_offsets_standing_still_with_members_is_stuck() -> None:
    g = group("slow", 500)  # committed 100, log end 600, one member
    history = {("slow", "orders", 0): [Sample(NOW - 120, 100, 400), Sample(NOW - 60, 100, 500),
                                       Sample(NOW, 100, 600)]}
    o = observe.group(Settings(), "local", g, history, observe.Membership(), NOW)
    assert (o.kind, o.level, o.runbook) == ("stuck", Level.WARNING, "consumer-group-stuck")
    assert "committed offsets stand still on 1 lagging partition" in o.text


def test_lag_growing_fast_is_a_warning_below_the_lag_threshold() -> None:
    g = group("growing", 5_000)
    history = {("growing", "orders", 0): [Sample(NOW - 120, 0, 1_000), Sample(NOW, 90, 5_100)]}
    o = observe.group(Settings(), "local", g, history, observe.Membership(), NOW)
    assert (o.kind, o.level) == ("lag", Level.WARNING)
    assert "growing's lag grows 2,005 messages/minute (warning above 1,000)" in o.text
