"""DLQs and queues as Reports. Message contents are data from outside: they
are escaped by the report layout and cut short, never interpreted."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from bot.health.coverage import partial
from bot.health.verdict import Verdict, combine
from bot.probes.dlq_models import came_back
from bot.reports.markup import clip
from bot.reports.report import Report, Table
from bot.text import plural

if TYPE_CHECKING:
    # Types only: the evidence modules build their reports with these builders.
    from bot.evidence.dlq import KafkaDlq, RabbitQueue


def _growth(v: float | None) -> str:
    return "-" if v is None else f"{v:+,.0f}/min"


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f}/s"


def _time(ts: datetime | None) -> str:
    return ts.astimezone(timezone.utc).strftime("%m-%d %H:%M:%S") if ts else "-"


def _one_line(text: str | None, limit: int = 60) -> str:
    return clip(" ".join((text or "-").split()), limit)


def kafka_dlq_report(d: KafkaDlq, bootstrap: str) -> Report:
    s = d.snapshot
    notes = [f"{plural(s.depth, 'message')} in {plural(len(s.partitions), 'partition')}; source topic "
             f"{s.source_topic or (s.derived_source or '?') + ' (not found)'}; growth {_growth(s.growth_per_minute)}"
             + (f"; error rate {s.error_rate_percent:.2f}% of the source's traffic" if s.error_rate_percent is not None
                else "")
             + (f" over {s.window_seconds / 60:.0f} min." if s.window_seconds else ".")]
    tables = []
    if s.patterns:
        tables.append(Table(title="Error patterns in the sample", headers=["COUNT", "PATTERN"],
                            rows=[[str(p.count), _one_line(p.pattern, 110)] for p in s.patterns]))
    if s.samples:
        tables.append(Table(
            title=f"Newest {plural(len(s.samples), 'message')}",
            headers=["PART", "OFFSET", "TIME (UTC)", "KEY", "BYTES", "ORIGIN", "ERROR"],
            rows=[[str(m.partition), str(m.offset), _time(m.timestamp), _one_line(m.key, 20), str(m.size),
                   f"{m.original_topic}[{m.original_partition}]@{m.original_offset}" if m.original_topic else "-",
                   _one_line(m.error_message or m.error_class, 50)] for m in s.samples],
        ))
        notes += [f"Payload at {m.partition}@{m.offset}: {_one_line(m.preview, 200)}" for m in s.samples[:3]]
        back = came_back([m.replays for m in s.samples])
        notes += [back] if back else []
    notes += s.notes
    return Report(title=f"DLQ {s.topic} ({s.cluster})", verdict=d.verdict, tables=tables, notes=notes,
                  taken_at=s.taken_at,
                  cli=[f"kafka-console-consumer.sh --bootstrap-server {bootstrap} --topic {s.topic} "
                       "--from-beginning --max-messages 10 --property print.headers=true",
                       f"kafka-get-offsets.sh --bootstrap-server {bootstrap} --topic {s.topic}"])


def rabbit_queue_report(q: RabbitQueue) -> Report:
    s = q.snapshot
    kind = "Dead-letter queue" if s.is_dead_letter_queue else "Queue"
    notes = [f"{plural(s.depth, 'message')} ({s.messages_ready:,} ready, "
             f"{s.messages_unacknowledged if s.messages_unacknowledged is not None else '?'} unacked), "
             f"{plural(s.consumers, 'consumer')}, publish {_rate(s.publish_rate)}, deliver {_rate(s.deliver_rate)}, "
             f"growth {_growth(s.growth_per_minute)}."]
    if s.dead_letter_sources:
        notes.append(f"Dead letters come from: {', '.join(s.dead_letter_sources)}.")
    if s.dead_letter_exchange:
        notes.append(f"Its own dead letters go to exchange `{s.dead_letter_exchange}`"
                     + (f" with routing key `{s.dead_letter_routing_key}`." if s.dead_letter_routing_key else "."))
    if s.note:
        notes.append(s.note)
    back = came_back([m.replays for m in s.samples])
    if back:
        notes.append(back)
    tables = []
    if s.death_groups:
        tables.append(Table(title="Why the sampled messages died (x-death)", headers=["COUNT", "REASON", "QUEUE", "DEATHS"],
                            rows=[[str(g.count), g.reason, g.queue, str(g.deaths)] for g in s.death_groups]))
    if s.samples:
        tables.append(Table(
            title=f"Oldest {plural(len(s.samples), 'message')} (head of the queue, put back in order)",
            headers=["#", "TIME (UTC)", "ROUTING KEY", "BYTES", "DEATH", "PREVIEW"],
            rows=[[str(n), _time(m.timestamp), _one_line(m.routing_key, 30), str(m.size),
                   f"{m.deaths[0].reason}×{m.deaths[0].count}" if m.deaths else "-", _one_line(m.preview, 50)]
                  for n, m in enumerate(s.samples, start=1)],
        ))
    return Report(title=f"{kind} {s.name} ({s.cluster})", verdict=q.verdict, tables=tables, notes=notes,
                  taken_at=s.taken_at,
                  cli=["rabbitmqctl list_queues name messages_ready messages_unacknowledged consumers",
                       f"rabbitmqadmin get queue={s.name} count=10 ackmode=ack_requeue_true"])


def overview_report(kafka: list[KafkaDlq], rabbit: list[RabbitQueue], unseen: list[str], taken_at: datetime,
                    bootstrap: str | None, *, saw_anything: bool = True) -> Report:
    """``unseen``: a sentence for each broker that could not be read; they head the
    report and keep its verdict from OK."""
    rows = [[d.snapshot.topic, "kafka", f"{d.snapshot.depth:,}", _growth(d.snapshot.growth_per_minute),
             d.snapshot.source_topic or "-", d.verdict.level.name] for d in kafka]
    rows += [[q.snapshot.name, "rabbitmq", f"{q.snapshot.depth:,}", _growth(q.snapshot.growth_per_minute),
              ", ".join(q.snapshot.dead_letter_sources) or "-", q.verdict.level.name] for q in rabbit]
    rows.sort(key=lambda r: (["CRITICAL", "WARNING", "OK"].index(r[5]), -int(r[2].replace(",", ""))))
    verdicts = [d.verdict for d in kafka] + [q.verdict for q in rabbit]
    verdict = combine(*verdicts) if verdicts else Verdict(reasons=["no dead-letter queues found"])
    verdict = partial(verdict, unseen, saw_anything=saw_anything)
    return Report(title="Dead-letter queues", verdict=verdict,
                  tables=[Table(headers=["DLQ", "BROKER", "DEPTH", "GROWTH", "SOURCE", "VERDICT"], rows=rows)],
                  notes=["Name one to see its messages and error patterns: `/dlq <name>`."], taken_at=taken_at,
                  cli=[f"kafka-topics.sh --bootstrap-server {bootstrap} --list"] if bootstrap else [])
