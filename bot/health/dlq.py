"""Dead-letter queues judged against the operations guide: depth above 100 means
investigate, above 1,000 is critical, and a source dead-lettering more than 1% of
its traffic for the error-rate window is a warning. Pure functions of snapshots."""

from __future__ import annotations

from bot.config import Thresholds
from bot.health.verdict import Level, Verdict, verdict
from bot.probes.dlq_models import KafkaDlqSnapshot, QueueSnapshot
from bot.text import plural


def growth_phrase(per_minute: float | None) -> str:
    """", growing 56/min" and the like, or "" when there is no earlier look to compare with."""
    if per_minute is None:
        return ""
    if per_minute == 0:
        return ", not growing"
    size = abs(per_minute)
    shown = f"{size:,.0f}" if size >= 10 else f"{size:.1f}".removesuffix(".0")
    return f", {'growing' if per_minute > 0 else 'shrinking'} {shown}/min"


def depth_reason(name: str, depth: int, thresholds: Thresholds, growth: float | None,
                 what: str = "message") -> tuple[Level, str]:
    """The depth sentence: "orders.dlq holds 1,234 messages (critical above 1,000), growing 56/min"."""
    if depth > thresholds.dlq_critical:
        level, bound = Level.CRITICAL, f"critical above {thresholds.dlq_critical:,}"
    elif depth > thresholds.dlq_warning:
        level, bound = Level.WARNING, f"investigate above {thresholds.dlq_warning:,}"
    else:
        level, bound = Level.OK, f"investigate above {thresholds.dlq_warning:,}"
    return level, f"{name} holds {plural(depth, what)} ({bound}){growth_phrase(growth)}"


def _next_step(level: Level, command: str) -> str:
    if level == Level.CRITICAL:
        return f": sample it with `{command}`, fix the failing consumer, then replay."
    if level == Level.WARNING:
        return f": sample it with `{command}` to see what fails."
    return "."


def kafka_dlq_verdict(snapshot: KafkaDlqSnapshot, thresholds: Thresholds) -> Verdict:
    level, text = depth_reason(snapshot.topic, snapshot.depth, thresholds, snapshot.growth_per_minute)
    if level > Level.OK and snapshot.patterns:
        top = snapshot.patterns[0]
        text += (f"; {top.count} of {len(snapshot.samples)} sampled {'fails' if top.count == 1 else 'fail'} "
                 f"with “{top.pattern}”"
                 + (". Fix that, then replay." if level == Level.CRITICAL else ". Check the consumer's logs for it."))
    else:
        text += _next_step(level, f"/dlq {snapshot.topic} --sample 20")
    reasons: list[tuple[Level, str]] = [(level, text)]
    rate = snapshot.error_rate_percent
    if rate is not None and snapshot.window_seconds is not None and snapshot.source_topic:
        reasons.append(error_rate_reason(snapshot.source_topic, snapshot.topic, rate,
                                         snapshot.window_seconds, thresholds))
    return verdict(reasons)


def error_rate_reason(source: str, dlq_topic: str, rate: float, window_seconds: float,
                      thresholds: Thresholds) -> tuple[Level, str]:
    """The error-rate sentence; a rate over a window shorter than the configured one is
    shown but not alerted on, since the guide asks for a sustained rate."""
    minutes = window_seconds / 60
    over = f"over the last {int(minutes):,} min" if minutes >= 1 else f"over the last {window_seconds:.0f} s"
    limit = f"{thresholds.error_rate_percent:g}%"
    shown = f"{rate:.2f}".rstrip("0").rstrip(".")
    if rate <= thresholds.error_rate_percent:
        return Level.OK, (f"{source} dead-letters {shown}% of its messages into {dlq_topic} {over} "
                          f"(warning above {limit}).")
    if minutes < thresholds.error_rate_minutes:
        return Level.OK, (f"{source} dead-letters {shown}% of its messages into {dlq_topic} {over}; it warns "
                          f"when that stays above {limit} for {thresholds.error_rate_minutes} min.")
    return Level.WARNING, (f"{source} dead-letters {shown}% of its messages into {dlq_topic} {over} "
                           f"(warning above {limit}): check the consumer's logs for the failing records.")


def rabbit_queue_verdict(snapshot: QueueSnapshot, thresholds: Thresholds, *, as_dlq: bool | None = None) -> Verdict:
    """A dead-letter queue is judged by the DLQ thresholds, any other queue by the
    consumer-lag ones (its depth is its backlog), plus "nobody consumes it".
    ``as_dlq`` overrides the snapshot's own guess."""
    is_dlq = snapshot.is_dead_letter_queue if as_dlq is None else as_dlq
    fallback = snapshot.source == "amqp-fallback"
    what = "ready message" if fallback else "message"
    if is_dlq:
        level, text = depth_reason(snapshot.name, snapshot.depth, thresholds, snapshot.growth_per_minute, what)
        if level > Level.OK and snapshot.death_groups:
            top = snapshot.death_groups[0]
            where = f" in {top.queue}" if top.queue else ""
            text += (f"; {top.count} of {len(snapshot.samples)} sampled {'was' if top.count == 1 else 'were'} "
                     f"{top.reason}{where}"
                     + (". Fix that consumer, then replay." if level == Level.CRITICAL else "."))
        else:
            text += _next_step(level, f"/rabbit {snapshot.name} --sample 20")
        return verdict([(level, text)])
    reasons = [_backlog_reason(snapshot, thresholds, what)]
    if snapshot.messages_ready > 0 and snapshot.consumers == 0:
        reasons.append((Level.WARNING, f"{snapshot.name} has {plural(snapshot.messages_ready, 'ready message')} and no "
                                       f"consumers: check that its consumer service is running."))
    growth = snapshot.growth_per_minute
    if growth is not None and growth > thresholds.lag_growth_per_minute:
        reasons.append((Level.WARNING, f"{snapshot.name} grows {growth:,.0f}/min (warning above "
                                       f"{thresholds.lag_growth_per_minute:,}/min): consumers are not keeping up; "
                                       f"scale them or look for a slow dependency."))
    return verdict(reasons)


def _backlog_reason(snapshot: QueueSnapshot, thresholds: Thresholds, what: str) -> tuple[Level, str]:
    depth = snapshot.depth
    if depth > thresholds.lag_critical:
        level, bound, step = Level.CRITICAL, f"critical above {thresholds.lag_critical:,}", \
            ": scale the consumers now, or pause the producers."
    elif depth > thresholds.lag_warning:
        level, bound, step = Level.WARNING, f"warning above {thresholds.lag_warning:,}", \
            ": check the consumers' throughput and errors."
    else:
        level, bound, step = Level.OK, f"warning above {thresholds.lag_warning:,}", "."
    growth = growth_phrase(snapshot.growth_per_minute)
    return level, f"{snapshot.name} holds {plural(depth, what)} ({bound}){growth}{step}"
