"""One watched cluster's probes, turned into observations with the guide's thresholds
(a team's own where it owns the group, topic or queue). Reads the existing probes and
verdicts; judges numbers itself only where an open breach needs its recovery mark."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from bot.config import Settings, Thresholds
from bot.config.watch import WatchSettings
from bot.escalation.ownership import thresholds_for
from bot.evidence.dlq import KafkaDlq, RabbitQueue
from bot.evidence.lag_history import PartitionKey
from bot.health import lag_trend
from bot.health.brokers import kafka_cluster_verdict, rabbit_nodes_verdict
from bot.health.lag import INACTIVE
from bot.health.lag_trend import Sample, Status
from bot.health.verdict import Level
from bot.probes.kafka_cluster import KafkaClusterSnapshot
from bot.probes.lag_models import GroupLag
from bot.probes.rabbitmq_nodes import RabbitNodesSnapshot
from bot.probes.schema_registry import SubjectSnapshot
from bot.text import plural
from bot.watch.judge import Observation

REBALANCE_WINDOW_S = 600.0


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _level(value: float, warning: float, critical: float) -> Level:
    return Level.CRITICAL if value > critical else Level.WARNING if value > warning else Level.OK


def watched(name: str, patterns: Iterable[str], exclude: Iterable[str] = ()) -> bool:
    return any(fnmatchcase(name, p) for p in patterns) and not any(fnmatchcase(name, p) for p in exclude)


@dataclass
class Membership:
    """Each group's membership and state as last seen, and when they changed: a
    rebalance shows between two rounds as a different set of members or a state
    other than Stable. Held by the watching process; a new timer owner starts afresh."""

    seen: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    changes: dict[str, deque[float]] = field(default_factory=dict)

    def note(self, key: str, state: str, members: frozenset[str], now: float) -> int:
        """Records this round's look; returns the changes within the last 10 minutes."""
        before = self.seen.get(key)
        self.seen[key] = (state, members)
        times = self.changes.setdefault(key, deque())
        changed = before is not None and (before[1] != members or (state != before[0] and state != "Stable"))
        if changed or (before is not None and state in ("PreparingRebalance", "CompletingRebalance")):
            times.append(now)
        while times and times[0] < now - REBALANCE_WINDOW_S:
            times.popleft()
        return len(times)


def _group_labels(cluster: str, g: GroupLag, alertname: str) -> dict[str, str]:
    labels = {"alertname": alertname, "cluster": cluster, "consumergroup": g.group}
    topics = sorted({p.topic for p in g.partitions})
    if len(topics) == 1:
        labels["topic"] = topics[0]
    return labels


def trend(g: GroupLag, history: dict[PartitionKey, list[Sample]]) -> tuple[int, float, int]:
    """Total lag, its growth per minute over the window, and how many lagging partitions
    stand still (Burrow's STALL and STOP). Leaner than /lag's assessment, which also
    works out seconds behind and advice for every partition: a round judges thousands
    of groups, nearly all caught up."""
    total, stalled = 0, 0
    firsts: list[Sample] = []
    lasts: list[Sample] = []
    has_members = bool(g.members)
    for row in g.partitions:
        lag = row.lag or 0
        total += lag
        samples = history.get((g.group, row.topic, row.partition))
        if not samples or len(samples) < 2:
            continue
        committed = [s for s in samples if s.committed is not None]
        if len(committed) >= 2:
            firsts.append(committed[0])
            lasts.append(committed[-1])
        if lag > 0 and lag_trend.status(samples, has_members) in (Status.STALL, Status.STOP):
            stalled += 1
    return total, lag_trend.growth_per_minute(firsts, lasts) or 0.0, stalled


def group(settings: Settings, cluster: str, g: GroupLag, history: dict[PartitionKey, list[Sample]],
          memory: Membership, now: float) -> Observation:
    """A group's lag, growth, stuck-ness and rebalancing: one key per group, so a group
    that is both stuck and lagging is one problem (named by the worse diagnosis)."""
    t = thresholds_for(settings, g.group, *(p.topic for p in g.partitions[:1]))
    w = settings.watch
    total, growth, stalled = trend(g, history)
    reasons: list[tuple[Level, str, str]] = []  # level, kind, sentence
    lag_level = _level(total, t.lag_warning, t.lag_critical)
    if lag_level:
        edge = t.lag_critical if lag_level is Level.CRITICAL else t.lag_warning
        reasons.append((lag_level, "lag", f"{g.group} lags {plural(total, 'message')} "
                                          f"({lag_level.name.lower()} above {_n(edge)})"))
    if growth > t.lag_growth_per_minute:
        reasons.append((Level.WARNING, "lag", f"{g.group}'s lag grows {_n(growth)} messages/minute "
                                              f"(warning above {_n(t.lag_growth_per_minute)})"))
    if g.state in INACTIVE and total > 0:
        reasons.append((max(Level.WARNING, lag_level), "stuck",
                        f"{g.group}: nobody is reading: the group is {g.state} with "
                        f"{plural(total, 'message')} waiting"))
    if stalled and g.state not in INACTIVE:
        reasons.append((max(Level.WARNING, lag_level), "stuck",
                        f"{g.group}: committed offsets stand still on {plural(stalled, 'lagging partition')}"))
    changes = memory.note(f"{cluster}:{g.group}", g.state, frozenset(m.member_id for m in g.members), now)
    if changes > w.rebalances_per_10min:
        reasons.append((Level.WARNING, "rebalancing", f"{g.group} changed members or state {changes} times in "
                                                      f"10 minutes (more than {w.rebalances_per_10min})"))
    kinds = {kind for _, kind, _ in reasons}
    kind = "stuck" if "stuck" in kinds else "rebalancing" if "rebalancing" in kinds else "lag"
    runbook, alertname = {"stuck": ("consumer-group-stuck", "WatchConsumerGroupStuck"),
                          "rebalancing": ("rebalancing", "WatchConsumerGroupRebalancing"),
                          "lag": ("high-consumer-lag", "WatchConsumerLagHigh")}[kind]
    level = max((lv for lv, _, _ in reasons), default=Level.OK)
    recovered = (total < w.recover_ratio * t.lag_warning and growth <= t.lag_growth_per_minute
                 and kinds <= {"lag"})
    reasons.sort(key=lambda r: r[0], reverse=True)
    text = "; ".join(r[2] for r in reasons) or f"{g.group} lags {plural(total, 'message')}"
    return Observation(key=f"group:{cluster}:{g.group}", kind=kind, runbook=runbook, level=level,
                       recovered=recovered, text=text, labels=_group_labels(cluster, g, alertname), value=f"{total:,}")


def _dlq(key: str, name: str, depth: int, rate: float | None, t: Thresholds, w: WatchSettings,
         labels: dict[str, str], what: str) -> Observation:
    level = _level(depth, t.dlq_warning, t.dlq_critical)
    text = f"{what} `{name}` holds {plural(depth, 'message')}"
    if level:
        edge = t.dlq_critical if level is Level.CRITICAL else t.dlq_warning
        text += f" ({level.name.lower()} above {_n(edge)})"
    if rate is not None and rate > t.error_rate_percent:
        level = max(level, Level.WARNING)
        text += f"; {rate:.1f}% of its source's messages fail (warning above {t.error_rate_percent:g}%)"
    recovered = depth < w.recover_ratio * t.dlq_warning and (rate is None or rate <= t.error_rate_percent)
    return Observation(key=key, kind="dlq", runbook="dlq-filling", level=level, recovered=recovered, text=text,
                       labels=labels, value=f"{depth:,}")


def kafka_dlq(settings: Settings, cluster: str, d: KafkaDlq) -> Observation:
    s = d.snapshot
    t = thresholds_for(settings, s.source_topic, s.topic)
    # The error rate counts only when it has lasted the guide's minutes: the window
    # between two observations must cover them.
    sustained = s.window_seconds is not None and s.window_seconds >= t.error_rate_minutes * 60
    return _dlq(f"dlq:{cluster}:{s.topic}", s.topic, s.depth, s.error_rate_percent if sustained else None, t,
                settings.watch, {"alertname": "WatchDLQDepthHigh", "cluster": cluster, "topic": s.topic},
                "Dead-letter topic")


def rabbit_dlq(settings: Settings, cluster: str, q: RabbitQueue) -> Observation:
    s = q.snapshot
    t = thresholds_for(settings, s.name)
    labels = {"alertname": "WatchDLQDepthHigh", "cluster": cluster, "queue": s.name, "vhost": s.vhost}
    return _dlq(f"dlq:{cluster}:{s.vhost}:{s.name}", s.name, s.depth, None, t, settings.watch, labels,
                "Dead-letter queue")


def kafka_cluster(settings: Settings, snap: KafkaClusterSnapshot) -> Observation:
    v = kafka_cluster_verdict(snap, settings.thresholds)
    alertname = "WatchKafkaClusterUnreachable" if not snap.reachable else "WatchKafkaBrokers"
    labels = {"alertname": alertname, "cluster": snap.cluster}
    if snap.missing_brokers:  # so that a maintenance window's silence on that broker covers it
        labels["broker"] = str(snap.missing_brokers[0].id)
    return Observation(key=f"kafka:{snap.cluster}", kind="kafka-cluster", runbook="broker-health",
                       level=Level.CRITICAL if not snap.reachable else v.level, recovered=v.level is Level.OK,
                       text=v.reasons[0] if v.reasons else "healthy", labels=labels)


def rabbit_nodes(snap: RabbitNodesSnapshot) -> Observation:
    v = rabbit_nodes_verdict(snap)
    return Observation(key=f"rabbit:{snap.cluster}", kind="rabbit-nodes", runbook="broker-health",
                       level=v.level, recovered=v.level is Level.OK,
                       text=v.reasons[0] if v.reasons else "healthy",
                       labels={"alertname": "WatchRabbitMQNodes", "cluster": snap.cluster})


def unreachable(cluster: str, what: str, error: str) -> Observation:
    """A probe that failed: the cluster is a problem of its own (CRITICAL after the
    sustain rounds) and its other keys keep their state until it answers again."""
    return Observation(key=f"kafka:{cluster}" if what == "Kafka" else f"rabbit:{cluster}",
                       kind="kafka-cluster" if what == "Kafka" else "rabbit-nodes", runbook="broker-health",
                       level=Level.CRITICAL, recovered=False,
                       text=f"{what} `{cluster}` could not be probed: {error}",
                       labels={"alertname": f"Watch{what}ClusterUnreachable", "cluster": cluster})


def _needed(compatibility: str | None) -> set[str]:
    level = (compatibility or "").upper()
    if level.startswith("FULL"):
        return {"BACKWARD", "FORWARD"}
    return {d for d in ("BACKWARD", "FORWARD") if level.startswith(d)}


def schema(registry: str, snap: SubjectSnapshot) -> Observation:
    """The latest version against the one before, under the subject's compatibility
    today: a level tightened after a breaking registration, or a registry that let one
    through, leaves consumers unable to read what producers write."""
    needed = _needed(snap.compatibility)
    breaking = [c for c in snap.latest_changes if needed & set(c.breaks)]
    latest = snap.versions[-1] if snap.versions else None
    if breaking:
        text = (f"Subject `{snap.subject}` version {latest} breaks its {snap.compatibility} compatibility: "
                + "; ".join(c.describe() for c in breaking[:3]))
    else:
        text = f"Subject `{snap.subject}` version {latest} keeps {snap.compatibility or 'its'} compatibility"
    return Observation(key=f"schema:{registry}:{snap.subject}", kind="schema", runbook="schema-incompatibility",
                       level=Level.CRITICAL if breaking else Level.OK, recovered=not breaking, text=text,
                       labels={"alertname": "WatchSchemaIncompatible", "registry": registry,
                               "subject": snap.subject, **_topic_of(snap.subject)})


def _topic_of(subject: str) -> dict[str, str]:
    """TopicNameStrategy's subjects name their topic; others do not."""
    for suffix in ("-value", "-key"):
        if subject.endswith(suffix):
            return {"topic": subject.removesuffix(suffix)}
    return {}
