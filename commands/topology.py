"""`/topology [--cluster NAME]`: which consumer groups read which topics, with their
lag, state and owning team (the guide's "consumer topology")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.escalation import ownership
from bot.evidence import lag
from bot.probes import kafka_lag
from bot.reports.report import Report, Table
from bot.text import plural
from commands import args, common
from commands.base import CommandSpec, Deferred, Invocation, Reply

if TYPE_CHECKING:
    from bot.app.context import BotContext

USAGE = "/topology [--cluster NAME]"


class TopologyArgs(BaseModel):
    cluster: str | None = None


def handle(inv: Invocation, ctx: BotContext) -> Deferred:
    a = args.parse(inv.text, TopologyArgs, positional=[], usage=USAGE)
    cluster = common.kafka_cluster(ctx, a.cluster)
    settings = ctx.settings.kafka[cluster]

    def run() -> Reply:
        try:
            report = lag.record_and_assess(ctx.clients, ctx.engine, ctx.settings.thresholds, memory=ctx.lag_memory,
                                           cluster=cluster)
        except kafka_lag.KafkaUnavailable as exc:
            return common.kafka_unreachable(cluster, settings.bootstrap_servers, exc)
        rows = []
        for assessment in report.groups:
            g = assessment.group
            for topic, total in sorted(g.topic_lag().items()):
                members = sum(1 for m in g.members if any(t == topic for t, _ in m.partitions))
                rows.append([topic, g.group, g.state, str(members), f"{total:,}",
                             ownership.owner(ctx.settings, g.group, topic) or "-"])
        # Worst first: topics by their total lag, then each topic's groups by theirs.
        by_topic: dict[str, int] = {}
        for r in rows:
            by_topic[r[0]] = by_topic.get(r[0], 0) + int(r[4].replace(",", ""))
        rows.sort(key=lambda r: (-by_topic[r[0]], r[0], -int(r[4].replace(",", ""))))
        topics = len({r[0] for r in rows})
        return common.report_reply(Report(
            title=f"Consumer topology: {cluster}",
            verdict=report.verdict,
            tables=[Table(headers=["TOPIC", "GROUP", "STATE", "MEMBERS", "LAG", "OWNER"], rows=rows)],
            notes=[f"{plural(len(report.groups), 'group')} read {plural(topics, 'topic')}."],
            taken_at=report.snapshot.taken_at,
            cli=[f"kafka-consumer-groups.sh --bootstrap-server {settings.bootstrap_servers} --describe --all-groups"],
        ))

    return Deferred(run=run, ack=Reply(text=f"Mapping the consumer groups of `{cluster}`…"))


SPEC = CommandSpec(
    name="topology",
    summary="which consumer groups read which topics, with lag and owning team",
    usage=[USAGE],
    handle=handle,
    shared=True,
)
