"""The digests' arithmetic and parsing on known inputs: percentiles, rates from
offset deltas, projections, pattern ranking, due times, duplicate finding."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.config import load
from bot.config.digests import DigestTimes
from bot.digests import duplicates, stats
from bot.digests.monthly import _idle_since
from bot.digests.schedule import last_due
from bot.digests.stats import DAY, Fit

UTC = timezone.utc


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() if "+" not in text \
        else datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(("values", "expected"), [
    ([], None),
    ([7], 7),
    (list(range(1, 21)), 19),  # nearest rank: ceil(0.95 * 20) = 19th value
    (list(range(1, 101)), 95),
    ([5, 1, 3, 2, 4], 5),  # ceil(4.75) = 5th of five
    ([0, 0, 0, 1000], 1000),
])
def test_p95_is_the_nearest_rank(values: list[float], expected: float | None) -> None:
    assert stats.p95(values) == expected


@pytest.mark.parametrize(("points", "expected"), [
    ([], None),
    ([(0.0, 10.0)], None),
    ([(0.0, 10.0), (0.0, 20.0)], None),  # no time between them
    ([(0.0, 0.0), (3600.0, 3600.0)], 1.0),
    ([(0.0, 100.0), (10.0, 150.0), (20.0, 200.0)], 5.0),
    ([(0.0, 100.0), (10.0, 0.0), (20.0, 50.0)], 2.5),  # a reset counts as no progress, not negative
])
def test_counter_rate(points: list[tuple[float, float]], expected: float | None) -> None:
    assert stats.counter_rate(points) == expected


def test_per_day_rates_credit_each_step_to_its_later_day() -> None:
    d0 = 100 * DAY
    points = [(d0 + 0.5 * DAY, 0), (d0 + 1.5 * DAY, 8640), (d0 + 2.0 * DAY, 8640), (d0 + 2.5 * DAY, 8640 + 43200)]
    assert stats.per_day_rates(points) == [(d0 + DAY, 0.1), (d0 + 2 * DAY, 43200 / (DAY))]


@pytest.mark.parametrize(("points", "slope", "intercept"), [
    ([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)], 2.0, 1.0),
    ([(0.0, 4.0), (10.0, 4.0)], 0.0, 4.0),
    ([(0.0, 0.0), (1.0, 1.0), (2.0, 0.0), (3.0, 1.0)], 0.2, 0.2),
])
def test_linear_fit(points: list[tuple[float, float]], slope: float, intercept: float) -> None:
    fit = stats.linear_fit(points)
    assert fit is not None
    assert fit.slope == pytest.approx(slope) and fit.intercept == pytest.approx(intercept)


def test_linear_fit_needs_two_times() -> None:
    assert stats.linear_fit([(1.0, 2.0)]) is None
    assert stats.linear_fit([(1.0, 2.0), (1.0, 3.0)]) is None


@pytest.mark.parametrize(("fit", "limit", "expected"), [
    (Fit(slope=10 / DAY, intercept=200.0), 600.0, 40.0),  # at now=0: 200/s growing 10/s a day
    (Fit(slope=10 / DAY, intercept=700.0), 600.0, 0.0),  # already over
    (Fit(slope=0.0, intercept=200.0), 600.0, None),  # flat: never
    (Fit(slope=-1.0, intercept=200.0), 600.0, None),  # falling: never
])
def test_days_until(fit: Fit, limit: float, expected: float | None) -> None:
    got = stats.days_until(fit, 0.0, limit)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_rank_patterns_adds_up_ties_by_name_and_cuts() -> None:
    ranked = stats.rank_patterns([("B: x", 3), ("A: y", 3), ("C: z", 1), ("B: x", 1), ("D", 2)], top=3)
    assert ranked == [("B: x", 4, 40.0), ("A: y", 3, 30.0), ("D", 2, 20.0)]
    assert stats.rank_patterns([], top=3) == []


@pytest.mark.parametrize(("first", "last", "idle"), [
    ([0, 0, 0], [5, 0, 3], [1]),
    ([0, 0], [0, 0], []),  # no traffic at all: the topic is unused, not skewed
    ([4, 4], [9, 9], []),
])
def test_idle_partitions(first: list[int], last: list[int], idle: list[int]) -> None:
    assert stats.idle_partitions(first, last) == idle


@pytest.mark.parametrize(("now", "then", "text"), [(10, 4, "+6"), (4, 10, "-6"), (5, 5, "0"), (1500, None, "unknown"),
                                                   (2500, 1000, "+1,500")])
def test_change(now: float, then: float | None, text: str) -> None:
    assert stats.change(now, then) == text


@pytest.mark.parametrize(("seconds", "text"), [(17, "17 s"), (42 * 60, "42 min"), (5 * 3600 + 12 * 60, "5 h 12 min"),
                                               (3 * DAY + 4 * 3600, "3 d 4 h")])
def test_duration(seconds: float, text: str) -> None:
    assert stats.duration(seconds) == text


def test_nearest_within_tolerance() -> None:
    points = [(100.0, 1.0), (200.0, 2.0), (400.0, 4.0)]
    assert stats.nearest(points, 290.0, 100.0) == (200.0, 2.0)
    assert stats.nearest(points, 700.0, 100.0) is None


@pytest.mark.parametrize(("kind", "now", "zone", "due"), [
    ("daily", "2026-11-30T07:59:00", "UTC", "2026-11-29T08:00:00"),
    ("daily", "2026-11-30T08:00:00", "UTC", "2026-11-30T08:00:00"),
    ("weekly", "2026-11-30T09:00:00", "UTC", "2026-11-30T08:30:00"),  # a Monday
    ("weekly", "2026-11-29T09:00:00", "UTC", "2026-11-23T08:30:00"),  # the Sunday before
    ("monthly", "2026-11-30T09:00:00", "UTC", "2026-11-01T09:00:00"),
    ("monthly", "2026-01-01T08:00:00", "UTC", "2025-12-01T09:00:00"),
    ("quarterly", "2026-11-30T09:00:00", "UTC", "2026-10-01T09:30:00"),
    ("quarterly", "2026-03-31T09:00:00", "UTC", "2026-01-01T09:30:00"),
    # 08:00 in Berlin is 07:00 UTC in winter and 06:00 UTC in summer.
    ("daily", "2026-11-30T12:00:00", "Europe/Berlin", "2026-11-30T07:00:00"),
    ("daily", "2026-07-01T12:00:00", "Europe/Berlin", "2026-07-01T06:00:00"),
])
def test_last_due(kind: str, now: str, zone: str, due: str) -> None:
    assert last_due(kind, DigestTimes(), zone, ts(now)) == ts(due)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("daily", "8am", "must be HH:MM"),
    ("weekly", "funday 08:00", "must be a weekday and HH:MM"),
    ("monthly", "31 09:00", "day of the month (1-28)"),
])
def test_bad_times_are_named(field: str, value: str, message: str) -> None:
    with pytest.raises(Exception) as err:
        load(digests={"times": {field: value}})
    assert f"digests.times.{field}" in str(err.value) and message in str(err.value)


def test_bad_timezone_is_named() -> None:
    with pytest.raises(Exception) as err:
        load(digests={"timezone": "Mars/Olympus"})
    assert "digests.timezone: must be an IANA time zone" in str(err.value)


@pytest.mark.parametrize(("text", "kind", "name"), [
    (None, "message-key", ""), ("message-key", "message-key", ""), ("header:event-id", "header", "event-id"),
    ("json:meta.id", "json", "meta.id"),
])
def test_parse_key(text: str | None, kind: str, name: str) -> None:
    assert duplicates.parse_key(text) == duplicates.KeySpec(kind, name)


@pytest.mark.parametrize("text", ["header:", "body:id", "json", "key"])
def test_bad_key_says_the_shapes(text: str) -> None:
    with pytest.raises(duplicates.BadKey) as err:
        duplicates.parse_key(text)
    assert "header:<name> | json:<path> | message-key" in str(err.value)


@pytest.mark.parametrize(("text", "seconds"), [(None, 3600.0), ("90s", 90.0), ("30m", 1800.0), ("1h", 3600.0),
                                               ("2d", 172800.0), ("1h30m", 5400.0), ("1w", 604800.0)])
def test_parse_window(text: str | None, seconds: float) -> None:
    assert duplicates.parse_window(text) == seconds


@pytest.mark.parametrize("text", ["0h", "h", "1.5h", "soon"])
def test_bad_window(text: str) -> None:
    with pytest.raises(duplicates.BadKey, match="is not a duration"):
        duplicates.parse_window(text)


@pytest.mark.parametrize(("spec", "key", "value", "headers", "expected"), [
    ("message-key", b"k1", b"{}", None, "k1"),
    ("message-key", None, b"{}", None, None),
    ("header:event-id", None, b"", [("event-id", b"e-1")], "e-1"),
    ("header:event-id", None, b"", [("event-id", b"e-1"), ("event-id", b"e-2")], "e-2"),
    ("header:event-id", None, b"", [("other", b"x")], None),
    ("json:meta.id", None, b'{"meta": {"id": 42}}', None, "42"),
    ("json:items.1.id", None, b'{"items": [{"id": "a"}, {"id": "b"}]}', None, "b"),
    ("json:meta.id", None, b'{"meta": {}}', None, None),
    ("json:meta.id", None, b"not json", None, None),
    ("json:meta", None, b'{"meta": {"b": 1, "a": 2}}', None, '{"a": 2, "b": 1}'),
])
def test_extract(spec: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None,
                 expected: str | None) -> None:
    assert duplicates.extract(duplicates.parse_key(spec), key, value, headers) == expected


def test_find_duplicates_orders_by_copies_then_id() -> None:
    records = [("a", 0, 1, 1000), ("b", 1, 5, 2000), ("a", 2, 9, 61000), ("c", 0, 2, 0), ("b", 1, 6, 2500),
               ("b", 0, 3, 1500), ("d", 0, 4, 0)]
    found = duplicates.find_duplicates(records)
    assert [(d.event_id, len(d.copies)) for d in found] == [("b", 3), ("a", 2)]
    assert [(c.partition, c.offset) for c in found[0].copies] == [(0, 3), (1, 5), (1, 6)]  # arrival order
    assert found[0].apart_s == 1.0 and found[1].apart_s == 60.0
    assert duplicates.find_duplicates([("x", 0, 0, 0)]) == []


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-30T15:50:10.163+00:00", "2026-11-30T15:50:10.163+00:00"),
    ("2026-10-01 10:00:00", "2026-10-01T10:00:00+00:00"),
])
def test_idle_since_formats(value: str, expected: str) -> None:
    assert _idle_since(value) == datetime.fromisoformat(expected).timestamp()
    assert _idle_since(None) is None and _idle_since("") is None and _idle_since("garbage") is None


def test_distribution_rows_name_capped_groups_and_idle_members() -> None:
    from bot.digests.monthly import distribution_rows
    from bot.probes.lag_models import GroupLag, LagSnapshot, Member, PartitionLag

    def group(name: str, assigned: list[list[int]], topic: str = "orders") -> GroupLag:
        return GroupLag(cluster="local", group=name, state="Stable",
                        members=[Member(member_id=f"m{i}", client_id=f"c{i}", host="h",
                                        partitions=[(topic, p) for p in parts]) for i, parts in enumerate(assigned)],
                        partitions=[PartitionLag(topic=topic, partition=p, committed=0, log_start=0, log_end=0)
                                    for p in range(3)])

    snap = LagSnapshot(cluster="local", taken_at=datetime.now(UTC), groups=[
        group("full", [[0], [1], [2], []]), group("room", [[0, 1, 2]]), group("none", [])])
    rows, capped, idle = distribution_rows(snap, {"orders": 3})
    assert rows == [["full", "orders", "3", "3", "cannot scale further: 3 consumers for 3 partitions; "
                                                 "1 member of the group without a partition"],
                    ["room", "orders", "3", "1", ""], ["none", "orders", "3", "0", ""]]
    assert (capped, idle) == (1, 1)
