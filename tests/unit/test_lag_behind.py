"""Seconds behind per partition and per group: exact from the oldest unread
record's timestamp when it is usable, else estimated from samples, and marked so."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from bot.config import Thresholds
from bot.evidence.lag import LagReport
from bot.health.lag import BehindSource, assess, partition_behind
from bot.health.lag_trend import Sample
from bot.health.verdict import Verdict
from bot.probes.lag_models import GroupLag, LagSnapshot, PartitionLag
from bot.reports import lag as render

NOW = 1_000_000.0  # unix seconds
SAMPLES = [Sample(NOW - 120, 100, 100), Sample(NOW - 60, 100, 700), Sample(NOW, 100, 1300)]


def row(committed: int = 100, log_end: int = 1300, ts: int | None = None) -> PartitionLag:
    return PartitionLag(topic="orders", partition=0, committed=committed, log_start=0, log_end=log_end,
                        oldest_unread_ms=ts, oldest_unread_type="CreateTime" if ts is not None else None)


CASES: list[tuple[str, PartitionLag, list[Sample], float | None, BehindSource | None]] = [
    ("the record's timestamp, exactly", row(ts=int((NOW - 42) * 1000)), SAMPLES, 42.0, BehindSource.RECORD),
    ("the record wins over the samples", row(ts=int((NOW - 5) * 1000)), SAMPLES, 5.0, BehindSource.RECORD),
    ("a record timestamped now waited 0 s", row(ts=int(NOW * 1000)), [], 0.0, BehindSource.RECORD),
    # offset 100 was the log end at NOW-120 (the first sample): it has waited 120 s
    ("no record read: from samples", row(), SAMPLES, 120.0, BehindSource.SAMPLES),
    ("timestamp -1 is unusable: from samples", row(ts=-1), SAMPLES, 120.0, BehindSource.SAMPLES),
    ("a future timestamp is unusable: from samples", row(ts=int((NOW + 30) * 1000)), SAMPLES, 120.0,
     BehindSource.SAMPLES),
    ("unusable and no samples: unknown", row(ts=-1), [], None, None),
    ("lag 0 shows nothing behind", row(committed=1300, ts=int((NOW - 42) * 1000)), SAMPLES, None, None),
    ("never committed: nothing to measure", row(committed=None), SAMPLES, None, None),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("found", "samples", "seconds", "source"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_partition_behind(found: PartitionLag, samples: list[Sample], seconds: float | None,
                          source: BehindSource | None) -> None:
    got, got_source = partition_behind(found, found.lag or 0, samples, NOW)
    assert got_source is source
    assert got == (pytest.approx(seconds) if seconds is not None else None)


def report_of(*rows: PartitionLag, missed: int = 0) -> LagReport:
    g = GroupLag(cluster="local", group="billing", state="Stable", partitions=list(rows))
    history = {("billing", "orders", r.partition): SAMPLES for r in rows}
    a = assess(g, history, {"orders": len(rows)}, Thresholds(), NOW)
    snap = LagSnapshot(cluster="local", taken_at=datetime.fromtimestamp(NOW, timezone.utc), groups=[g],
                       oldest_unread_missed=missed)
    return LagReport(snapshot=snap, groups=[a], verdict=Verdict())


def test_the_group_shows_its_worst_partition_with_its_source() -> None:
    exact = row(ts=int((NOW - 42) * 1000))
    estimated = replace(row(committed=100), partition=1)
    shown = render.group_report(report_of(exact, estimated), "127.0.0.1:9092")
    # partition 1 (≈ 120 s from samples) is worse than partition 0 (42 s read)
    assert "behind ≈ 2m 00s (from samples)" in shown.notes[0]
    assert {r[1]: r[6] for r in shown.tables[0].rows} == {"0": "42s", "1": "≈2m 00s"}
    assert shown.notes[1] == ("BEHIND: now − the timestamp (CreateTime) of the first unread record; "
                              "≈: estimated from stored samples.")
    only_exact = render.group_report(report_of(exact), "127.0.0.1:9092")
    assert "behind 42s (oldest unread record)" in only_exact.notes[0]


def test_partitions_left_unread_are_said() -> None:
    shown = render.group_report(report_of(row(ts=int((NOW - 42) * 1000)), missed=3), "127.0.0.1:9092")
    assert ("The first unread record of 3 lagging partitions was not read (only the worst by lag are read, "
            "within the request timeout): there BEHIND is estimated from samples, or unknown.") in shown.notes


def test_all_groups_marks_estimates() -> None:
    shown = render.all_groups_report(report_of(row()), "127.0.0.1:9092")
    assert shown.tables[0].rows[0][5] == "≈2m 00s"
