"""The watch's in-memory lag samples: spaced a minute apart plus the newest, trimmed
to the window, seeded from the stored ones, forgetting partitions that are gone."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.health.lag_trend import Sample
from bot.probes.lag_models import GroupLag, LagSnapshot, PartitionLag
from bot.watch.samples import LagMemory


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
        history = memory.add(snap(1000 + 10 * i, 5, 10 + i))
    assert times(history) == [1000, 1060, 1120]
    history = memory.add(snap(1125, 5, 30))
    assert times(history) == [1000, 1060, 1120, 1125]  # the newest rides along until spaced enough


def test_the_window_is_trimmed() -> None:
    memory = LagMemory(window_s=120, spacing_s=60)
    for at in (1000, 1060, 1120, 1180, 1240):
        history = memory.add(snap(at, 5, 10))
    assert times(history) == [1120, 1180, 1240]


def test_seeded_samples_come_first_and_gone_partitions_are_forgotten() -> None:
    memory = LagMemory(window_s=900, spacing_s=60)
    assert not memory.seeded("local")
    memory.seed("local", {("g", "t", 0): [Sample(900, 1, 5), Sample(930, 2, 6), Sample(960, 3, 7)],
                          ("gone", "t", 0): [Sample(900, 1, 5)]})
    assert memory.seeded("local")
    history = memory.add(snap(1000, 4, 8, partitions=2))
    assert times(history) == [900, 960, 1000] and times(history, ("g", "t", 1)) == [1000]
    assert ("gone", "t", 0) not in history
    assert [s.committed for s in history[("g", "t", 0)]] == [1, 3, 4]
