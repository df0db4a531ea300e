"""Consumer lag judged against the operations guide: a snapshot plus its stored
samples become, per group, a verdict, the trend and scaling advice."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.config import Thresholds
from bot.health import lag_trend
from bot.health.lag_trend import Sample, Status
from bot.health.verdict import Level, Verdict, verdict
from bot.probes.lag_models import GroupLag, PartitionLag
from bot.text import plural

PartitionKey = tuple[str, str, int]
# Group states in which no member reads (Kafka's tool shows them without consumers).
INACTIVE = ("Empty", "Dead")


class BehindSource(StrEnum):
    """Where a "seconds behind" comes from, as the report names it."""

    RECORD = "oldest unread record"  # now − the timestamp of the record at the committed offset
    SAMPLES = "from samples"  # interpolated from stored log-end samples: an estimate


@dataclass
class PartitionTrend:
    row: PartitionLag
    status: Status | None
    seconds_behind: float | None
    behind_source: BehindSource | None = None


@dataclass
class GroupAssessment:
    group: GroupLag
    verdict: Verdict
    partitions: list[PartitionTrend]
    growth_per_minute: float | None
    seconds_behind: float | None  # the worst partition's
    catch_up_seconds: float | None  # None: not catching up, or no history
    catching_up: bool | None  # None: not enough history to say
    advice: list[str] = field(default_factory=list)
    behind_source: BehindSource | None = None  # the worst partition's
    total_lag: int = 0  # counted once: sorting and judging read it many times


def _n(value: float) -> str:
    return f"{value:,.0f}"


def partition_behind(row: PartitionLag, lag: int, samples: list[Sample],
                     now: float) -> tuple[float | None, BehindSource | None]:
    """Seconds the next unread message has waited: from its own timestamp when it
    was read and usable (not -1, not in the future), else estimated from samples.
    A partition with nothing waiting has nothing behind."""
    if lag <= 0:
        return None, None
    ts = row.oldest_unread_ms
    if ts is not None and 0 <= ts <= now * 1000:
        return now - ts / 1000, BehindSource.RECORD
    estimate = lag_trend.seconds_behind(samples, row.committed, now)
    return (estimate, BehindSource.SAMPLES) if estimate is not None else (None, None)


def assess(group: GroupLag, history: dict[PartitionKey, list[Sample]], partitions_per_topic: dict[str, int],
           thresholds: Thresholds, now: float) -> GroupAssessment:
    """Judge one group; `history` holds its stored samples, the current one included.
    Runs once per group per look at every group: each row's lag is read once."""
    has_members = bool(group.members)
    trends: list[PartitionTrend] = []
    lags: list[int] = []
    firsts: list[Sample] = []
    lasts: list[Sample] = []
    catch_ups: list[float | None] = []  # of lagging partitions with history
    history_seen = False
    worst: PartitionTrend | None = None  # the partition whose next message waited longest
    name = group.group
    # The loop below runs for every partition of every group at each look (tens of
    # thousands): the row's lag and the window's ends are worked out once, inline.
    for row in group.partitions:
        committed = row.committed
        lag = 0 if committed is None else row.log_end - (committed if committed > row.log_start else row.log_start)
        samples = history.get((name, row.topic, row.partition), ())
        if lag > 0:
            behind, source = partition_behind(row, lag, samples, now)  # type: ignore[arg-type]
        else:
            behind, source = None, None
        trend = PartitionTrend(row=row, status=lag_trend.status(samples, has_members),  # type: ignore[arg-type]
                               seconds_behind=behind, behind_source=source)
        trends.append(trend)
        if behind is not None and (worst is None or behind > (worst.seconds_behind or 0.0)):
            worst = trend
        lags.append(lag)
        if len(samples) >= 2:
            first, last = samples[0], samples[-1]
            if first.committed is None or last.committed is None:  # rare: trim to the committed ones
                points = [s for s in samples if s.committed is not None]
                if len(points) < 2:
                    continue
                first, last = points[0], points[-1]
            history_seen = True
            firsts.append(first)
            lasts.append(last)
            if lag > 0:
                catch_ups.append(lag_trend.catch_up_between(first, last))
    growth = lag_trend.growth_per_minute(firsts, lasts)
    if not history_seen:
        catching_up, eta = None, None
    elif any(c is None for c in catch_ups):
        catching_up, eta = False, None
    else:
        catching_up, eta = True, max((c for c in catch_ups if c is not None), default=0.0)
    order = sorted(range(len(trends)), key=lags.__getitem__, reverse=True)
    assessment = GroupAssessment(
        group=group, verdict=_PENDING, partitions=[trends[i] for i in order], growth_per_minute=growth,
        seconds_behind=worst.seconds_behind if worst else None, catch_up_seconds=eta, catching_up=catching_up,
        behind_source=worst.behind_source if worst else None, total_lag=sum(lags),
    )
    assessment.advice = scaling_advice(group, partitions_per_topic, persistent=_persistent(assessment, thresholds))
    assessment.verdict = judge(assessment, thresholds)
    return assessment


_PENDING = Verdict()  # until judged; one shared instance, never changed


def _persistent(a: GroupAssessment, t: Thresholds) -> bool:
    return a.total_lag > t.lag_warning or (a.growth_per_minute or 0) > t.lag_growth_per_minute


def judge(a: GroupAssessment, t: Thresholds) -> Verdict:
    g = a.group
    total = a.total_lag
    reasons: list[tuple[Level, str]] = []
    if total > t.lag_critical:
        reasons.append((Level.CRITICAL, f"{g.group} lags {plural(total, 'message')} "
                                        f"(critical above {_n(t.lag_critical)})"))
    elif total > t.lag_warning:
        reasons.append((Level.WARNING, f"{g.group} lags {plural(total, 'message')} "
                                       f"(warning above {_n(t.lag_warning)})"))
    growth = a.growth_per_minute
    if growth is not None and growth > t.lag_growth_per_minute:
        reasons.append((Level.WARNING, f"{g.group}'s lag grows {_n(growth)} messages/minute "
                                       f"(warning above {_n(t.lag_growth_per_minute)})"))
    # Burrow's STOP at a glance: an inactive group with messages waiting is stuck
    # whatever the size of its lag; no trend is needed to see that nobody reads.
    nobody = g.state in INACTIVE and total > 0
    if nobody:
        reasons.append((Level.WARNING, f"{g.group}: nobody is reading: the group is {g.state} with "
                                       f"{plural(total, 'message')} waiting"))
    stuck = [p for p in a.partitions if p.status is Status.STALL or (p.status is Status.STOP and not nobody)]
    if stuck:
        kind = "no consumer is committing" if stuck[0].status is Status.STOP else "consumers are not advancing"
        reasons.append((Level.WARNING, f"{g.group}: committed offsets stand still on "
                                       f"{plural(len(stuck), 'lagging partition')} — {kind}"))
    rewound = [p for p in a.partitions if p.status is Status.REWIND]
    if rewound:
        reasons.append((Level.WARNING, f"{g.group}: committed offsets went backwards on "
                                       f"{plural(len(rewound), 'partition')} (an offset reset or a replay)"))
    skipped = sum(p.retention_skipped for p in g.partitions)
    if skipped:
        reasons.append((Level.WARNING, f"{g.group}: retention deleted {plural(skipped, 'message')} before the "
                                       "group read them; lag is counted from the log start"))
    if g.error:
        reasons.append((Level.WARNING, f"{g.group}: {g.error}"))
    if g.state not in ("Stable", "Empty", "Dead", "Unknown"):  # Dead is inactive, as reset_offsets.INACTIVE says
        reasons.append((Level.WARNING, f"{g.group} is {g.state}: a rebalance is under way"))
    if not any(level > Level.OK for level, _ in reasons):
        reasons.insert(0, (Level.OK, f"{g.group} lags {plural(total, 'message')}"))
    found = verdict(reasons)
    uneven = slow_partitions(g) if total > 0 else None
    if uneven:  # a diagnosis hint whatever the level: kept after the problems
        found.reasons.append(uneven)
    return found


def slow_partitions(g: GroupLag) -> str | None:
    """The guide's "slow partition" sign: lag far from uniform across partitions."""
    rows = [p for p in g.partitions if p.committed is not None]
    lags = [p.lag or 0 for p in rows]
    total = sum(lags)
    if len(lags) < 2 or total == 0:
        return None
    mean = total / len(lags)
    most = max(lags)
    if most >= 2 * mean and most - mean >= 100:
        worst = rows[lags.index(most)]
        return (f"lag is uneven: {worst.topic}[{worst.partition}] holds {100 * most / total:.0f}% of it "
                f"({_n(most)} of {_n(total)}) — a slow partition")
    return None


def scaling_advice(g: GroupLag, partitions_per_topic: dict[str, int], *, persistent: bool) -> list[str]:
    """The guide's scaling rules, per topic: consumers beyond the partition count
    sit idle; with one consumer per partition only more partitions help."""
    advice: list[str] = []
    topics = sorted({p.topic for p in g.partitions})
    lag_by_topic = g.topic_lag()
    for topic in topics:
        total = partitions_per_topic.get(topic)
        if not total:
            continue
        if lag_by_topic.get(topic, 0) == 0 and not persistent:
            idle = (len(g.members) if len(topics) == 1 else 0) - total
            if idle > 0:
                advice.append(f"{topic}: {plural(idle, 'consumer')} {'sits' if idle == 1 else 'sit'} idle; "
                              f"it has only {plural(total, 'partition')}.")
            continue
        # Idle members have no assignment to tell which topic they wait for; when the
        # group reads one topic they are all its members.
        members = len(g.members) if len(topics) == 1 else sum(
            1 for m in g.members if any(t == topic for t, _ in m.partitions))
        if members == 0:
            advice.append(f"{topic}: no active consumer; up to {total} can work in parallel.")
        elif members < total:
            more = total - members
            advice.append(f"{topic}: {plural(members, 'member')} on {plural(total, 'partition')}: up to "
                          f"{plural(more, 'more consumer')} {'helps' if more == 1 else 'help'}; beyond {total} "
                          f"they sit idle.")
        elif members == total:
            if persistent:
                whose = "its only partition" if total == 1 else f"every one of its {total:,} partitions"
                advice.append(f"{topic}: {whose} already has its own consumer and lag "
                              "persists: only more partitions (or faster consumers) help.")
        else:
            idle = members - total
            advice.append(f"{topic}: {idle} of {members} consumers {'sits' if idle == 1 else 'sit'} idle; "
                          f"it has only {plural(total, 'partition')}.")
    return advice
