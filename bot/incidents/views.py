"""What of an incident a person looks at in the chat: its card (the thread's parent
message, edited in place) and its runbook checklist. The chat decides the look."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.chat import View
from bot.incidents.correlation import Affected
from bot.incidents.model import Event, Incident
from bot.runbooks import Runbook


@dataclass(frozen=True)
class Paged:
    """A pager that was paged for the incident, and where its page stands."""

    pager: str  # its name under paging.pagers
    vendor: str  # PagerDuty, Opsgenie, Grafana OnCall, webhook
    state: str  # paged, acknowledged, resolved, failed
    by: str | None = None  # who acknowledged or resolved it in the tool


def paged_from(events: list[Event]) -> tuple[Paged, ...]:
    """Each pager's latest state, from the timeline's page.* entries (bot.paging
    writes them): the card shows who was paged and whether it was acknowledged."""
    found: dict[str, Paged] = {}
    for event in events:
        data = event.data or {}
        name = str(data.get("pager") or "")
        if not name or not event.kind.startswith("page."):
            continue
        before = found.get(name)
        vendor = str(data.get("vendor") or (before.vendor if before else ""))
        by = data.get("by")
        if event.kind == "page.sent":
            state = before.state if before and before.state != "failed" else "paged"
            found[name] = Paged(name, vendor, state, before.by if before else None)
        elif event.kind == "page.failed" and data.get("action") == "trigger":
            if before is None or before.state == "failed":
                found[name] = Paged(name, vendor, "failed")
        elif event.kind in ("page.acknowledged", "page.resolved") and before is not None:
            state = "acknowledged" if event.kind == "page.acknowledged" else "resolved"
            found[name] = Paged(name, vendor, state, str(by) if by else before.by)
    return tuple(found.values())


@dataclass(frozen=True)
class IncidentCard(View):
    incident: Incident
    runbook: Runbook
    next_step: str | None = None
    buttons: bool = True  # False: a read-only copy (in `/incident status`)
    paged: tuple[Paged, ...] = ()  # the pagers paged for it (bot.paging)
    affected: tuple[Affected, ...] = ()  # subjects attached to it or merged into it


@dataclass(frozen=True)
class Checklist(View):
    incident: Incident
    runbook: Runbook
    done: dict[str, tuple[str, float]]  # step id -> (who, when)
    values: dict[str, str] = field(default_factory=dict)  # what the steps' commands may mention


@dataclass(frozen=True)
class IncidentList(View):
    incidents: list[tuple[Incident, str | None]]  # each with its next ladder step
    now: float
