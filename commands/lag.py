"""`/lag [group] [topic]`: consumer lag, per group or for all groups, worst first."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.chat import Attachment
from bot.evidence import lag, lag_history
from bot.probes import kafka_lag
from bot.reports import lag as render_lag
from bot.text import plural
from commands import args, common
from commands.base import CommandSpec, Deferred, Invocation, Reply, UsageError

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/lag [group] [topic] [--cluster NAME] [--chart]"
CHART_HOURS = 6


class LagArgs(BaseModel):
    group: str | None = None
    topic: str | None = None
    cluster: str | None = None
    chart: bool = False


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    a = args.parse(inv.text, LagArgs, positional=["group", "topic"], usage=USAGE)
    if a.chart and a.group is None:
        raise UsageError(f"`--chart` draws one group's lag: name the group. Usage: `{USAGE}`")
    cluster = common.kafka_cluster(ctx, a.cluster)
    settings = ctx.settings.kafka[cluster]

    def run() -> Reply:
        admin = ctx.clients.kafka_admin(cluster)
        try:
            if a.group is not None:
                known = kafka_lag.list_groups(admin, settings.request_timeout_s)
                if a.group not in known:
                    return common.problem(str(args.not_found("consumer group", a.group, known)))
            report = lag.record_and_assess(ctx.clients, ctx.engine, ctx.settings.thresholds, memory=ctx.lag_memory,
                                           cluster=cluster, groups=[a.group] if a.group else None, topic=a.topic)
        except kafka_lag.KafkaUnavailable as exc:
            return common.kafka_unreachable(cluster, settings.bootstrap_servers, exc)
        if a.topic is not None and not any(g.group.partitions for g in report.groups):
            topics = list(admin.list_topics(timeout=settings.request_timeout_s).topics)
            if a.topic not in topics:
                return common.problem(str(args.not_found("topic", a.topic, topics)))
            whose = f"`{a.group}`" if a.group else "any group"
            return common.problem(f"Topic `{a.topic}` exists, but {whose} has no committed offsets or members on it.")
        if a.group is not None:
            reply = common.report_reply(render_lag.group_report(report, settings.bootstrap_servers))
            if a.chart:
                reply = replace(reply, attachment=_chart(ctx, cluster, a.group, report.snapshot.taken_at.timestamp()))
            return reply
        return common.report_reply(render_lag.all_groups_report(report, settings.bootstrap_servers, a.topic))

    what = f"`{a.group}`" if a.group else "every consumer group"
    return Deferred(run=run, ack=Reply(text=f"Reading the lag of {what} on `{cluster}`…"))


def _chart(ctx: BotContext, cluster: str, group: str, now: float) -> Attachment:
    from bot.evidence import charts  # matplotlib is heavy: loaded when someone asks for a chart

    history = lag_history.window(ctx.engine, cluster, [group], now - CHART_HOURS * 3600)
    samples = max((len(v) for v in history.values()), default=0)
    return Attachment(filename=f"lag-{group}.png", content=charts.lag_chart(group, history), title=f"Lag of {group}",
                      comment=f"Lag of `{group}` over the last {CHART_HOURS} h ({plural(samples, 'stored sample')} per "
                              "partition).")


SPEC = CommandSpec(
    name="lag",
    summary="consumer lag per partition with trend, seconds behind and scaling advice; all groups worst first",
    usage=[USAGE, "/lag billing", "/lag billing orders", "/lag billing --chart"],
    handle=handle,
    shared=True,
)
