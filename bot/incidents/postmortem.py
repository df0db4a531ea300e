"""A postmortem draft in Markdown, from what the database recorded: the facts,
the timeline, every check's result as it was posted, approvals and escalations."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.incidents import linking, store
from bot.incidents.model import REPEATS, Incident, collapsed
from bot.incidents.roles import SECTIONS, UPDATE_KIND
from bot.incidents.tables import incident_alerts
from bot.reports.lag import duration
from bot.runbooks import Runbook


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(conn: Connection, incident: Incident, runbook: Runbook) -> str:
    i = incident
    events = store.timeline(conn, incident_id=i.id)
    alerts = conn.execute(select(incident_alerts).where(incident_alerts.c.incident_id == i.id)
                          .order_by(incident_alerts.c.first_seen)).all()
    out = [f"# {i.ref}: {i.title}", "", "## Summary", "", "| | |", "|---|---|",
           f"| Severity | {i.severity.value} |", f"| Status | {i.status.value} |",
           f"| Runbook | {runbook.title} (`{runbook.id}`) |", f"| Subject | {_cell(i.subject.describe())} |",
           f"| Source | {i.source} |", f"| Commander | {i.commander or '-'} |",
           f"| Comms | {i.comms or '-'} |", f"| Scribe | {i.scribe or '-'} |",
           f"| Opened | {_when(i.created_at)} |",
           f"| Acknowledged | {_when(i.acknowledged_at)}"
           + (f" (after {duration(i.acknowledged_at - i.created_at)})" if i.acknowledged_at else "") + " |",
           f"| Resolved | {_when(i.resolved_at)}"
           + (f" (after {duration(i.resolved_at - i.created_at)}) by {i.resolved_by}" if i.resolved_at else "") + " |",
           ""]
    affected = linking.affected_in(conn, i)
    if affected:
        out += ["## Affected subjects", "", "Attached to this incident as likely the same cause, or merged into it:", ""]
        out += [f"- {a.line()}" for a in affected]
        out.append("")
    if alerts:
        out += ["## Alerts", "", "| alert | status | severity | first seen | deliveries |", "|---|---|---|---|---|"]
        out += [f"| {_cell(a.name)} | {a.status} | {a.severity} | {_when(a.first_seen)} | {a.deliveries} |"
                for a in alerts]
        out.append("")
    out += ["## Timeline", ""]
    out += [f"- {REPEATS.format(n=e)}" if isinstance(e, int) else f"- {_when(e.at)}, {e.actor}: {e.text}"
            for e in collapsed(events)]
    updates = [e for e in events if e.kind == UPDATE_KIND]
    if updates:
        out += ["", "## Status updates", ""]
        for e in updates:
            parts = e.data or {}
            out.append(f"### {_when(e.at)}, {e.actor}")
            out += [f"- **{name.capitalize()}**: {parts[name]}" for name in SECTIONS if parts.get(name)]
            out.append("")
    checks = [e for e in events if e.kind == "check" and e.data and e.data.get("report")]
    if checks:
        out += ["", "## Checks, as posted", ""]
        for e in checks:
            out += [f"### {_when(e.at)}: {e.text.split(':', 1)[0]}", "", "```", str(e.data["report"]), "```", ""]  # type: ignore[index]
    for title, prefix in (("Approvals and actions", "approval"), ("Escalations", "escalation")):
        found = [e for e in events if e.kind.startswith(prefix)]
        out += ["", f"## {title}", ""]
        out += [f"- {_when(e.at)}, {e.actor}: {e.text}" for e in found] or ["- none"]
    out += ["", "## What happened, why, and what we change", "", "_To be written by the team._", ""]
    return "\n".join(out)
