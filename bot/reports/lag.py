"""Consumer lag as Reports: one group, every group, a group's membership."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.health.lag import BehindSource, GroupAssessment
from bot.reports.report import Report, Table
from bot.text import plural

if TYPE_CHECKING:
    # Types only: the evidence modules build their reports with these builders.
    from bot.evidence.lag import LagReport


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def behind(seconds: float | None, source: BehindSource | None) -> str:
    """A table cell: exact when read from the oldest unread record, marked ≈ when
    estimated from samples."""
    if seconds is None:
        return "-"
    return ("≈" if source is BehindSource.SAMPLES else "") + duration(seconds)


def behind_summary(a: GroupAssessment) -> str:
    """The group's worst "behind" with where it comes from, for the summary line."""
    if a.seconds_behind is None:
        return "-" if a.total_lag == 0 else "- (needs a readable record or another sample)"
    if a.behind_source is BehindSource.SAMPLES:
        return f"≈ {duration(a.seconds_behind)} ({a.behind_source.value})"
    return f"{duration(a.seconds_behind)} ({BehindSource.RECORD.value})"


def _behind_notes(report: LagReport, a: GroupAssessment) -> list[str]:
    notes = []
    kinds = sorted({t.row.oldest_unread_type or "" for t in a.partitions
                    if t.behind_source is BehindSource.RECORD} - {""})
    if kinds:
        notes.append(f"BEHIND: now − the timestamp ({' and '.join(kinds)}) of the first unread record; "
                     "≈: estimated from stored samples.")
    missed = report.snapshot.oldest_unread_missed
    if missed:
        notes.append(f"The first unread record of {plural(missed, 'lagging partition')} was not read (only the "
                     "worst by lag are read, within the request timeout): there BEHIND is estimated from "
                     "samples, or unknown.")
    return notes


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _growth(value: float | None) -> str:
    return "-" if value is None else f"{value:+,.0f}"


def catch_up(a: GroupAssessment) -> str:
    if a.total_lag == 0:
        return "caught up"
    if a.catching_up is None:
        return "trend needs another sample"
    if not a.catching_up:
        return "not catching up"
    return f"catches up in ~{duration(a.catch_up_seconds)}"


def cli(bootstrap: str, group: str | None) -> str:
    target = f"--group {group}" if group else "--all-groups"
    return f"kafka-consumer-groups.sh --bootstrap-server {bootstrap} --describe {target}"


def group_report(report: LagReport, bootstrap: str) -> Report:
    a = report.groups[0]
    g = a.group
    rows = []
    for t in a.partitions:
        p = t.row
        consumer = f"{p.client_id}@{p.host.lstrip('/')}" if p.client_id and p.host else "-"
        lag = _num(p.lag) + ("*" if p.retention_skipped else "")
        rows.append([p.topic, str(p.partition), _num(p.committed), _num(p.log_end), lag,
                     t.status.value if t.status else "-", behind(t.seconds_behind, t.behind_source), consumer])
    summary = (f"State {g.state} · {plural(len(g.members), 'member')} · "
               f"lag {a.total_lag:,} · growth {_growth(a.growth_per_minute)}/min · "
               f"behind {behind_summary(a)} · {catch_up(a)}")
    notes = [summary, *_behind_notes(report, a)]
    if any(t.row.retention_skipped for t in a.partitions):
        notes.append("* retention deleted messages below the committed offset; lag counts from the log start.")
    notes += a.advice
    return Report(
        title=f"Consumer lag: {g.group} ({report.snapshot.cluster})",
        verdict=a.verdict,
        tables=[Table(headers=["TOPIC", "PART", "CURRENT", "LOG-END", "LAG", "STATUS", "BEHIND", "CONSUMER"],
                      rows=rows)],
        notes=notes, taken_at=report.snapshot.taken_at, cli=[cli(bootstrap, g.group)],
    )


def all_groups_report(report: LagReport, bootstrap: str, topic: str | None = None) -> Report:
    rows = []
    for a in report.groups:
        statuses = [t.status for t in a.partitions if t.status is not None]
        worst = max(statuses, key=lambda s: ["OK", "WARN", "REWIND", "STALL", "STOP"].index(s.value), default=None)
        rows.append([a.group.group, a.group.state, str(len(a.group.members)), f"{a.total_lag:,}",
                     _growth(a.growth_per_minute), behind(a.seconds_behind, a.behind_source), worst.value if worst else "-",
                     a.verdict.level.name])
    scope = f"topic {topic}" if topic else "all groups"
    return Report(
        title=f"Consumer lag: {scope} ({report.snapshot.cluster})",
        verdict=report.verdict,
        tables=[Table(headers=["GROUP", "STATE", "MEMBERS", "LAG", "GROWTH/MIN", "BEHIND", "TREND", "VERDICT"],
                      rows=rows)],
        notes=[f"{plural(len(report.groups), 'group')} read in {report.snapshot.elapsed_ms:.0f} ms."],
        taken_at=report.snapshot.taken_at, cli=[cli(bootstrap, None)],
    )


def membership_report(report: LagReport, bootstrap: str) -> Report:
    """The group's health as the 10-minute step wants it: state, members and their
    assignments, and the signs of a rebalance."""
    a = report.groups[0]
    g = a.group
    rows = [[m.client_id, m.host.lstrip("/"), str(len(m.partitions)),
             ", ".join(f"{t}[{p}]" for t, p in m.partitions[:6]) + (" …" if len(m.partitions) > 6 else "")]
            for m in sorted(g.members, key=lambda m: m.client_id)]
    unassigned = [p for p in g.partitions if p.member_id is None]
    notes = [f"State {g.state}; {plural(len(g.members), 'member')}; assignor {g.assignor or '-'}; "
             f"coordinator broker {g.coordinator if g.coordinator is not None else '-'}."]
    if unassigned and g.members:
        notes.append(f"{plural(len(unassigned), 'partition')} with committed offsets "
                     f"{'has' if len(unassigned) == 1 else 'have'} no member: "
                     "a member left, or the subscription changed.")
    if g.state in ("PreparingRebalance", "CompletingRebalance"):
        notes.append("A rebalance is under way: members are joining or leaving. Repeated rebalances point at "
                     "consumers slower than max.poll.interval.ms or a session timeout that is too short.")
    if not g.members:
        notes.append("No consumer is running in this group: check the deployment (pods, processes) first.")
    notes += a.advice
    return Report(
        title=f"Consumer group health: {g.group} ({report.snapshot.cluster})",
        verdict=a.verdict,
        tables=[Table(headers=["CLIENT", "HOST", "PARTS", "ASSIGNED"], rows=rows)] if rows else [],
        notes=notes, taken_at=report.snapshot.taken_at,
        cli=[cli(bootstrap, g.group) + " --members --verbose"],
    )
