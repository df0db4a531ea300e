"""Lag samples in memory: spaced a minute apart plus the newest, trimmed to the window,
seeded from the stored ones; the watch forgets partitions that are gone, /lag keeps
the groups it did not look at until they leave the window."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.evidence.lag_memory import LagMemory
from bot.health.lag_trend import Sample
from bot.probes.lag_models import GroupLag, LagSnapshot, PartitionLag


def snap(at: float, committed: int, log_end: int, partitions: int = 1) -> LagSnapshot:
    group = GroupLag(cluster="local", group="g", state="Stable",
                     partitions=[PartitionLag(topic="t", partition=p, committed=committed, log_start=0,
                                              log_end=log_end) for p in range(partitions)])
    return LagSnapshot(cluster="local", taken_at=datetime.fromtimestamp(at, UTC), groups=[group])


def times(history: dict, key: tuple = ("g", "t", 0)) -> list[float]:  # type: ignore[type-arg]
    return [s.taken_at for s in history[key]]


def test_rounds_ten_seconds_apart_keep_one_sample_a_minute_and_the_newest() -> None:
    memory = LagMemory(window_s=300, spacing_s=60)
    history = {}
    for i in range(13):  # two minutes of 10 s rounds
        history = memory.add(snap(1000 + 10 * i, 5, 10 + i)).history
    assert times(history) == [1000, 1060, 1120]
    history = memory.add(snap(1125, 5, 30)).history
    assert times(history) == [1000, 1060, 1120, 1125]  # the newest rides along until spaced enough


def test_the_window_is_trimmed() -> None:
    memory = LagMemory(window_s=120, spacing_s=60)
    for at in (1000, 1060, 1120, 1180, 1240):
        history = memory.add(snap(at, 5, 10)).history
    assert times(history) == [1120, 1180, 1240]


def test_seeded_samples_come_first_and_gone_partitions_are_forgotten() -> None:
    memory = LagMemory(window_s=900, spacing_s=60)
    assert memory.unseeded("local", ["g", "gone"]) == ["g", "gone"]
    memory.seed("local", ["g", "gone"], {("g", "t", 0): [Sample(900, 1, 5), Sample(930, 2, 6), Sample(960, 3, 7)],
                                         ("gone", "t", 0): [Sample(900, 1, 5)]})
    assert memory.unseeded("local", ["g", "gone", "new"]) == ["new"]
    history = memory.add(snap(1000, 4, 8, partitions=2)).history
    assert times(history) == [900, 960, 1000] and times(history, ("g", "t", 1)) == [1000]
    assert ("gone", "t", 0) not in history
    assert [s.committed for s in history[("g", "t", 0)]] == [1, 3, 4]


def group_snap(at: float, group: str, committed: int) -> LagSnapshot:
    row = PartitionLag(topic="t", partition=0, committed=committed, log_start=0, log_end=100)
    return LagSnapshot(cluster="local", taken_at=datetime.fromtimestamp(at, UTC),
                       groups=[GroupLag(cluster="local", group=group, state="Stable", partitions=[row])])


def test_a_look_at_some_groups_keeps_the_others_and_says_what_to_store() -> None:
    memory = LagMemory(window_s=300, spacing_s=60)
    assert memory.add(group_snap(1000, "a", 1), forget_missing=False).kept == {("a", "t", 0)}
    assert memory.add(group_snap(1010, "b", 1), forget_missing=False).kept == {("b", "t", 0)}
    second = memory.add(group_snap(1030, "a", 2), forget_missing=False)
    assert second.kept == set()  # 30 s after the last kept one: rides along, not stored
    assert times(second.history, ("a", "t", 0)) == [1000, 1030]
    third = memory.add(group_snap(1070, "a", 3), forget_missing=False)
    assert third.kept == {("a", "t", 0)} and times(third.history, ("a", "t", 0)) == [1000, 1070]
    assert times(memory.add(group_snap(1080, "b", 2), forget_missing=False).history, ("b", "t", 0)) == [1010, 1080]


def test_groups_silent_for_a_window_are_swept_and_read_again_from_the_database() -> None:
    memory = LagMemory(window_s=300, spacing_s=60)
    memory.seed("local", ["a", "b"], {})
    memory.add(group_snap(1000, "a", 1), forget_missing=False)
    memory.add(group_snap(1000, "b", 1), forget_missing=False)
    memory.add(group_snap(1400, "a", 2), forget_missing=False)  # b's newest sample left the window
    assert memory.unseeded("local", ["a", "b"]) == ["b"]
    assert times(memory.add(group_snap(1410, "b", 2), forget_missing=False).history, ("b", "t", 0)) == [1410]


def test_a_watch_round_forgets_groups_it_no_longer_sees() -> None:
    memory = LagMemory(window_s=300, spacing_s=60)
    memory.add(group_snap(1000, "a", 1))
    memory.add(group_snap(1010, "b", 1))
    assert memory.unseeded("local", ["a", "b"]) == ["a"]
    assert times(memory.add(group_snap(1070, "a", 2)).history, ("a", "t", 0)) == [1070]
