"""Lag trend and verdicts on constructed samples: Burrow statuses, growth, seconds
behind, catch-up, the guide's thresholds and its scaling rules."""

from __future__ import annotations

import pytest

from bot.config import Thresholds
from bot.health import lag_trend
from bot.health.lag import assess, scaling_advice, slow_partitions
from bot.health.lag_trend import Sample, Status
from bot.health.verdict import Level
from bot.probes.lag_models import GroupLag, Member, PartitionLag


def samples(*points: tuple[float, int | None, int]) -> list[Sample]:
    return [Sample(taken_at=t, committed=c, log_end=e) for t, c, e in points]


@pytest.mark.parametrize(("points", "members", "expected"), [
    ([(0, 10, 20)], True, None),  # one sample: no trend
    ([(0, 10, 20), (120, 30, 30)], True, Status.OK),  # caught up
    ([(0, 10, 20), (60, 15, 40), (120, 20, 60)], True, Status.WARN),  # lag 10 → 25 → 40
    ([(0, 10, 20), (60, 10, 30), (120, 10, 40)], True, Status.STALL),  # members, offset stands still
    ([(0, 10, 20), (60, 10, 30), (120, 10, 40)], False, Status.STOP),  # nobody commits
    ([(0, 50, 60), (60, 10, 60)], True, Status.REWIND),  # offset reset backwards
    ([(0, 10, 20), (5, 10, 20)], True, Status.OK),  # five seconds of standing still prove nothing
    ([(0, 10, 20), (60, 18, 30), (120, 30, 40)], True, Status.OK),  # lag 10 → 12 → 10: moving
    ([(0, None, 20), (60, None, 30)], True, None),  # never committed
])
def test_burrow_status(points: list[tuple[float, int | None, int]], members: bool, expected: Status | None) -> None:
    assert lag_trend.status(samples(*points), members) == expected


def test_growth_per_minute() -> None:
    first = samples((0, 0, 100), (0, 0, 50))
    last = samples((120, 100, 2300), (120, 50, 50))
    assert lag_trend.growth_per_minute(first, last) == pytest.approx((2200 - 150) / 2)
    assert lag_trend.growth_per_minute(first, samples((0.5, 0, 100))) is None


def test_seconds_behind_interpolates_log_end_samples() -> None:
    history = samples((1000, 0, 100), (1060, 0, 700), (1120, 0, 1300))
    # Offset 400 was the log end halfway between t=1000 and t=1060.
    assert lag_trend.seconds_behind(history, 400, now=1120) == pytest.approx(90)
    assert lag_trend.seconds_behind(history, 1300, now=1120) == 0
    # Older than the oldest sample: extrapolated at the window's produce rate (10/s).
    assert lag_trend.seconds_behind(history, 50, now=1120) == pytest.approx(125)
    assert lag_trend.seconds_behind(history, None, now=1120) is None
    assert lag_trend.seconds_behind(samples((0, 0, 10)), 5, now=10) is None  # no rate to go on


def test_catch_up_estimate() -> None:
    # consumes 20/s, produces 10/s, lag 900 → 90 s
    assert lag_trend.catch_up_seconds(samples((0, 0, 1000), (10, 200, 1100))) == pytest.approx(90)
    assert lag_trend.catch_up_seconds(samples((0, 0, 100), (10, 50, 300))) is None  # losing ground
    assert lag_trend.catch_up_seconds(samples((0, 0, 100), (10, 300, 300))) == 0


def group(lags: list[int], members: int = 0, state: str = "Stable", topic: str = "orders") -> GroupLag:
    rows = [PartitionLag(topic=topic, partition=i, committed=1000, log_start=0, log_end=1000 + lag)
            for i, lag in enumerate(lags)]
    ms = [Member(member_id=f"m{i}", client_id=f"c{i}", host="/10.0.0.1",
                 partitions=[(topic, p) for p in range(len(lags)) if p % max(members, 1) == i])
          for i in range(members)]
    return GroupLag(cluster="local", group="billing", state=state, members=ms, partitions=rows)


@pytest.mark.parametrize(("lags", "level", "reason"), [
    ([100, 100], Level.OK, "billing lags 200 messages"),
    ([6_000, 5_000], Level.WARNING, "billing lags 11,000 messages (warning above 10,000)"),
    ([60_000, 50_000], Level.CRITICAL, "billing lags 110,000 messages (critical above 100,000)"),
])
def test_lag_thresholds_from_the_guide(lags: list[int], level: Level, reason: str) -> None:
    a = assess(group(lags, members=2), {}, {"orders": 2}, Thresholds(), now=0)
    assert a.verdict.level is level
    assert a.verdict.reasons[0] == reason


def test_growth_above_1000_per_minute_warns() -> None:
    g = group([500])
    slow = {("billing", "orders", 0): samples((0, 1000, 1000), (60, 1000, 1500))}  # +500 in a minute
    assert assess(g, slow, {"orders": 1}, Thresholds(), now=60).verdict.level is Level.OK
    fast = {("billing", "orders", 0): samples((0, 1000, 1000), (20, 1000, 1500))}  # +1,500/min
    a = assess(g, fast, {"orders": 1}, Thresholds(), now=20)
    assert a.verdict.level is Level.WARNING
    assert a.verdict.reasons[0] == "billing's lag grows 1,500 messages/minute (warning above 1,000)"


def test_rebalancing_and_retention_are_reasons() -> None:
    g = group([10], state="PreparingRebalance")
    g.partitions[0].retention_skipped = 25
    reasons = " ".join(assess(g, {}, {"orders": 1}, Thresholds(), now=0).verdict.reasons)
    assert "a rebalance is under way" in reasons
    assert "retention deleted 25 messages before the group read them" in reasons


def test_slow_partition_is_named() -> None:
    assert slow_partitions(group([5000, 100, 120, 80])) == (
        "lag is uneven: orders[0] holds 94% of it (5,000 of 5,300) — a slow partition")
    assert slow_partitions(group([100, 110, 90])) is None


@pytest.mark.parametrize(("members", "partitions", "persistent", "advice"), [
    (3, 12, True, "orders: 3 members on 12 partitions: up to 9 more consumers help; beyond 12 they sit idle."),
    (12, 12, True, "orders: every one of its 12 partitions already has its own consumer and lag persists: "
                   "only more partitions (or faster consumers) help."),
    (14, 12, True, "orders: 2 of 14 consumers sit idle; it has only 12 partitions."),
    # one of a kind: no "1 partitions", and the verb agrees
    (1, 2, True, "orders: 1 member on 2 partitions: up to 1 more consumer helps; beyond 2 they sit idle."),
    (1, 1, True, "orders: its only partition already has its own consumer and lag persists: "
                 "only more partitions (or faster consumers) help."),
    (2, 1, True, "orders: 1 of 2 consumers sits idle; it has only 1 partition."),
    (0, 12, True, "orders: no active consumer; up to 12 can work in parallel."),
])
def test_scaling_advice(members: int, partitions: int, persistent: bool, advice: str) -> None:
    g = group([50] * partitions, members=members)
    assert scaling_advice(g, {"orders": partitions}, persistent=persistent) == [advice]
