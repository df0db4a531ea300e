"""A maintenance window in words: its parent message, the guide's rolling-upgrade
checklist, the changes posted while it lasts, and its end (the verdict as a Report,
and what fired while it silenced). Pure functions, in the core's markup."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

from bot.health.verdict import Level, Verdict, combine, verdict
from bot.probes.kafka_cluster import KafkaClusterSnapshot
from bot.reports.markup import escape, user
from bot.reports.report import Report, Table
from bot.silences.matchers import duration_text
from bot.silences.model import Held, Silence, Window
from bot.silences.reading import Reading
from bot.silences.text import clock, code, until
from bot.text import plural

MAX_HELD_LINES = 20


def parent(w: Window, silences: list[Silence], now: float, *, ended: bool = False) -> str:
    head = (f":white_check_mark: *Maintenance {w.ref} ended*" if ended else f":construction: *Maintenance {w.ref}*")
    shown = "; ".join(f"{s.ref} {code(s.text())}" for s in silences)
    when = f"ended {clock(w.ends_at)}" if ended else f"until {until(w.ends_at, now)}"
    return (f"{head}: {w.what()}, by {user(w.created_by)}, {when}: {escape(w.reason)}\n"
            f"Silenced while it lasts: {shown or 'nothing'}. Follow it in the thread.")


def checklist(w: Window, bootstrap: str, poll_seconds: float) -> str:
    """The guide's broker maintenance (rolling upgrade), step by step."""
    subject = f"broker {w.broker}" if w.scope == "broker" else "each broker in turn"
    steps = [
        f"Upgrade or restart one broker at a time (a rolling upgrade): {subject}, never two together.",
        f"Verify the broker's health once it is back: `/broker --cluster {w.cluster}`, "
        f"or `kafka-broker-api-versions.sh --bootstrap-server {bootstrap}`.",
        "Check under-replicated partitions: none before the next broker; "
        f"`kafka-topics.sh --bootstrap-server {bootstrap} --describe --under-replicated-partitions`.",
        f"Watch consumer lag during the upgrade: `/lag --cluster {w.cluster}`.",
        f"When done, `/maintenance end {w.ref}`; otherwise it ends at {clock(w.ends_at)}.",
    ]
    lines = [f"*Rolling-upgrade checklist for {w.what()}*"]
    lines += [f"{i}. {step}" for i, step in enumerate(steps, start=1)]
    lines.append(f"I read under-replicated partitions and total lag every {duration_text(poll_seconds)} and post "
                 "here when they change; at the end, a health verdict and what fired while silenced.")
    return "\n".join(lines)


def baseline(reading: Reading) -> str:
    return f":clipboard: Before the work: {reading.summary()}."


def change(found: list[str], reading: Reading) -> str:
    return f":arrows_counterclockwise: {clock(reading.at)}: {'; '.join(found)}. Now: {reading.summary()}."


def _number(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def verdict_report(w: Window, start: Reading | None, end: Reading, snap: KafkaClusterSnapshot,
                   cluster_verdict: Verdict, bootstrap: str) -> Report:
    """The health at the end of the window: the brokers' verdict (bot.health.brokers),
    the window's broker back or not, and the numbers at its start and end."""
    extra: list[tuple[Level, str]] = []
    if w.scope == "broker" and end.reachable:
        if w.broker is not None and w.broker.isdigit() and int(w.broker) not in end.brokers:
            extra.append((Level.CRITICAL, f"Broker {w.broker} is not answering at the end of {w.ref}: "
                                          "finish its restart, or check its logs, disk and network."))
        else:
            extra.append((Level.OK, f"Broker {w.broker} answers."))
    overall = combine(verdict(extra), cluster_verdict) if extra else cluster_verdict
    rows = []
    if start is not None:
        rows = [["brokers answering", _number(len(start.brokers) if start.reachable else None),
                 _number(len(end.brokers) if end.reachable else None)],
                ["under-replicated", _number(start.urp), _number(end.urp)],
                ["offline", _number(start.offline), _number(end.offline)],
                ["total lag", _number(start.lag), _number(end.lag)]]
    notes = []
    if start is not None and start.lag is not None and end.lag is not None and end.lag > start.lag:
        notes.append(f"Total lag is {plural(end.lag - start.lag, 'message')} above its level at the start: "
                     "watch that the groups catch up.")
    return Report(title=f"Maintenance {w.ref} ended: health of {w.what().replace('`', '')}", verdict=overall,
                  tables=[Table(headers=["", "start", "end"], rows=rows)] if rows else [], notes=notes,
                  taken_at=snap.taken_at if end.reachable else datetime.now(timezone.utc),
                  cli=[f"kafka-topics.sh --bootstrap-server {bootstrap} --describe --under-replicated-partitions"])


def held_lines(w: Window, held: list[Held]) -> str:
    """What fired while the window silenced it, one line per alert name and subject."""
    if not held:
        return f":mute: Nothing fired while {w.ref} silenced its noise."
    groups: dict[tuple[str, str], list[Held]] = defaultdict(list)
    for h in held:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(h.labels.items())
                          if k not in ("alertname", "severity") and v)[:120]
        groups[(h.name, shown)].append(h)
    lines = [f":mute: *What fired while {w.ref} silenced it* ({plural(len(held), 'alert')}):"]
    for (name, shown), items in list(groups.items())[:MAX_HELD_LINES]:
        firing = [h for h in items if h.status == "firing"]
        deliveries = sum(h.deliveries for h in items)
        state = ("still firing: it opens as an incident now" if firing and items[0].source != "watch" else
                 "still breaching: the watch opens it if it lasts" if firing else
                 f"resolved {clock(max(h.resolved_seen or h.last_seen for h in items))}")
        lines.append(f"• {code(name)}{' ' + code(shown) if shown else ''}: {plural(deliveries, 'delivery', 'deliveries')}, "
                     f"first {clock(min(h.first_seen for h in items))}, last {clock(max(h.last_seen for h in items))}; "
                     f"{state}")
    if len(groups) > MAX_HELD_LINES:
        lines.append(f"… and {len(groups) - MAX_HELD_LINES} more (`/silence list` while the silences last).")
    return "\n".join(lines)
