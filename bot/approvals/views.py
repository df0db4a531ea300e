"""What of an approval request a person looks at: its card (the dry-run plan and,
later, its outcome) and the progress of its execution."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.approvals.store import Request
from bot.chat import View


@dataclass(frozen=True)
class ApprovalCard(View):
    request: Request
    approvers: str  # who may approve, as markup
    outcome: list[str] = field(default_factory=list)  # lines shown under the card once it ran


@dataclass(frozen=True)
class ExecutionProgress(View):
    request_id: str
    text: str
    abortable: bool = True
