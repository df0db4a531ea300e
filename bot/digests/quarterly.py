"""The quarterly digest: capacity planning from the stored samples (each topic's and
the cluster's daily throughput, a straight line through it, and when partitions or
consumers run out at that growth) and schema subjects with many old versions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from bot.chat import Attachment
from bot.digests import charts, tables
from bot.digests.model import Digest, missing
from bot.digests.stats import DAY, Fit, counter_rate, days_until, linear_fit, per_day_rates
from bot.health.verdict import Level, Verdict
from bot.probes.schema_registry import SchemaRegistryError
from bot.reports.report import Report, Table
from bot.text import plural

if TYPE_CHECKING:
    from bot.app.context import BotContext

QUARTER = 92 * DAY
SOON_DAYS = 90  # a limit reached within a quarter at today's growth is a warning


def build(ctx: BotContext, cluster: str, rabbit: str, now: datetime | None = None) -> Digest:
    now = now or datetime.now(timezone.utc)
    digest = Digest("quarterly", now)
    capacity, chart = capacity_section(ctx, cluster, now)
    digest.sections = [capacity, *schema_sections(ctx, now)]
    if chart is not None:
        digest.charts.append(chart)
    return digest


def _days(value: float | None) -> str:
    if value is None:
        return "not at this growth"
    return "already" if value == 0 else f"in {value:,.0f} days"


def capacity_section(ctx: BotContext, cluster: str, now: datetime) -> tuple[Report, Attachment | None]:
    settings = ctx.settings.digests
    ts = now.timestamp()
    topics = tables.daily_history(ctx.engine, cluster, ts - QUARTER)
    groups = tables.group_history(ctx.engine, cluster, ts - QUARTER)
    title = f"Capacity planning ({cluster})"
    per_msg = settings.partition_msgs_per_s
    assumption = (f"Assumptions: a partition takes {per_msg:,.0f} messages a second comfortably "
                  "(digests.partition_msgs_per_s; measure yours); a group can use at most one consumer per partition, "
                  "each as fast as its members are today (consumed per second over the last day / members); growth "
                  "stays on the straight line fitted to the daily mean rates.")
    rows, short, series = [], [], {}
    cluster_days: dict[float, float] = {}
    soon = []
    for topic, points in sorted(topics.items()):
        if not settings.covers(topic):
            continue
        daily = per_day_rates([(t, total) for t, total, _ in points])
        for day, rate in daily:
            cluster_days[day] = cluster_days.get(day, 0.0) + rate
        fit = linear_fit(daily) if len(daily) >= 2 else None
        if fit is None:
            short.append(f"{topic} ({plural(len(daily), 'day')} of rates)")
            continue
        series[topic] = (daily, fit)
        partitions = points[-1][2]
        now_rate = max(0.0, fit.at(ts))
        part_days = days_until(fit, ts, partitions * per_msg)
        consumer_days, consumer_note = _consumers_run_out(groups, topic, partitions, fit, ts)
        for value in (part_days, consumer_days):
            if value is not None and value <= SOON_DAYS:
                soon.append(topic)
        rows.append([topic, str(partitions), f"{now_rate:,.2f}/s", f"{fit.slope * DAY * 30:+,.2f}/s",
                     _days(part_days), consumer_note])
    notes = [assumption]
    if short:
        notes.append("A trend needs at least two days of samples; too few for: " + ", ".join(short[:20]) + ".")
    cluster_points = sorted(cluster_days.items())
    cluster_fit = linear_fit(cluster_points)
    if cluster_fit is not None:
        notes.append(f"Cluster: {cluster_fit.at(ts):,.2f} messages/s today by the fit, "
                     f"{cluster_fit.slope * DAY * 30:+,.2f}/s a month.")
    if not rows:
        return Report(title=title, taken_at=now, notes=notes, verdict=missing(
            Level.WARNING, "not enough stored samples for a trend (two days or more per topic are needed)")), None
    shown = dict(sorted(series.items(), key=lambda kv: -kv[1][0][-1][1])[:8])
    if cluster_fit is not None and len(series) > 1:
        shown[f"{cluster} (all topics)"] = (cluster_points, cluster_fit)
    chart = Attachment(filename=f"capacity-{cluster}.png", title=f"Throughput trend ({cluster})",
                       content=charts.trend(shown, f"Daily throughput and its trend ({cluster})"))
    soon = sorted(set(soon))
    verdict = Verdict(level=Level.WARNING if soon else Level.OK,
                      reasons=[f"within {SOON_DAYS} days at today's growth: {', '.join(soon)}"] if soon
                      else [f"{plural(len(rows), 'topic')}, none runs out within {SOON_DAYS} days at today's growth"])
    return Report(title=title, verdict=verdict, taken_at=now, notes=notes,
                  tables=[Table(headers=["topic", "partitions", "rate now", "growth a month", "partitions run out",
                                         "consumers run out"], rows=rows)]), chart


def _consumers_run_out(groups: dict[tuple[str, str], list[tuple[float, int, int]]], topic: str, partitions: int,
                       fit: Fit, ts: float) -> tuple[float | None, str]:
    """The slowest group's limit: its per-member rate over the last day times the
    partitions (the most members it can use); when the produce line reaches that."""
    limits: list[tuple[float, str]] = []
    for (group, t), pts in groups.items():
        if t != topic:
            continue
        recent = [(at, committed) for at, committed, _ in pts if at >= ts - DAY]
        members = pts[-1][2]
        rate = counter_rate(recent)
        if rate and members:
            limits.append((rate / members * partitions, group))
    if not limits:
        return None, "unknown (no group with members and progress in the last day)"
    limit, group = min(limits)
    days = days_until(fit, ts, limit)
    return days, f"{_days(days)} ({group}: at most {limit:,.1f}/s)"


def schema_sections(ctx: BotContext, now: datetime) -> list[Report]:
    keep = ctx.settings.digests.schema_old_versions
    out = []
    for registry in ctx.settings.schema_registry:
        title = f"Schema subjects with many versions ({registry})"
        try:
            probe = ctx.clients.schema_registry(registry)
            counts = {s: probe.versions(s) for s in probe.subjects() if ctx.settings.digests.covers(s)}
        except SchemaRegistryError as exc:
            out.append(Report(title=title, taken_at=now, verdict=missing(Level.WARNING, f"registry unreadable: {exc}")))
            continue
        rows = [[s, str(len(v)), str(min(v)), str(max(v)), str(len(v) - keep)]
                for s, v in sorted(counts.items(), key=lambda kv: (-len(kv[1]), kv[0])) if len(v) > keep]
        out.append(Report(title=title, taken_at=now,
                          verdict=Verdict(level=Level.WARNING if rows else Level.OK,
                                          reasons=[f"{plural(len(rows), 'subject')} with more than {keep} versions: "
                                                   "cleanup candidates"] if rows
                                          else [f"{plural(len(counts), 'subject')}, none with more than {keep} "
                                                "versions"]),
                          tables=[Table(headers=["subject", "versions", "oldest", "newest", f"older than newest {keep}"],
                                        rows=rows)],
                          notes=[f"Check that no other subject references an old version before deleting it "
                                 f"(digests.schema_old_versions = {keep})."]))
    return out



