"""What of an incident a person looks at in the chat: its card (the thread's parent
message, edited in place) and its runbook checklist. The chat decides the look."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.chat import View
from bot.incidents.correlation import Affected
from bot.incidents.model import Incident
from bot.runbooks import Runbook


@dataclass(frozen=True)
class IncidentCard(View):
    incident: Incident
    runbook: Runbook
    next_step: str | None = None
    buttons: bool = True  # False: a read-only copy (in `/incident status`)
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
