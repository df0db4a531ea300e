"""Approval cards: the dry-run plan a second person approves, and its final state."""

from __future__ import annotations

from typing import Any

from bot.actions import title
from bot.actions.base import Plan
from bot.approvals.store import Request
from bot.approvals.views import ApprovalCard, ExecutionProgress
from bot.incidents.text import clock
from bot.reports.markup import user
from bot.reports.report import Table, format_table
from bot.slack import blocks
from bot.slack.blocks import Block
from bot.slack.ids import Action

FINAL = {"approved": ":hourglass_flowing_sand: Approved, executing", "executing": ":hourglass_flowing_sand: Executing",
         "executed": ":white_check_mark: Executed", "failed": ":x: Failed", "denied": ":no_entry: Denied",
         "expired": ":clock3: Expired"}


def _cell(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def plan_table(plan: Plan) -> str:
    columns = plan.columns or sorted({k for r in plan.rows for k in r.values})
    rows = [[r.key, *(_cell(r.values.get(c, "")) for c in columns)] + ([r.note] if r.note else [])
            for r in sorted(plan.rows, key=lambda r: r.severity, reverse=True)]
    width = 1 + len(columns) + (1 if any(r.note for r in plan.rows) else 0)
    rows = [row + [""] * (width - len(row)) for row in rows]
    headers = ["ITEM", *(c.upper() for c in columns)] + (["NOTE"] if width > 1 + len(columns) else [])
    return format_table(Table(headers=headers, rows=rows))


def card_text(request: Request) -> str:
    return f"Approval {request.id}: {title(request.plan.kind)} of {request.plan.target} ({request.state})"


def card_message(view: ApprovalCard) -> tuple[str, list[Block]]:
    return card_text(view.request), card(view.request, view.approvers, view.outcome)


def progress_message(view: ExecutionProgress) -> tuple[str, list[Block]]:
    out = [blocks.section(blocks.escape(view.text))]
    if view.abortable:
        out.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Abort"}, "style": "danger",
             "action_id": Action.ABORT, "value": view.request_id}]})
    return view.text, out


def card(request: Request, approvers: str, extra: list[str] | None = None) -> list[Block]:
    plan = request.plan
    out: list[Block] = [blocks.header(f"{title(plan.kind)}: {plan.target}"),
                        blocks.section(f"*Dry run* on `{plan.cluster}`: {blocks.escape(plan.summary)}")]
    if plan.rows:
        out.append(blocks.section(f"```{blocks.escape(plan_table(plan))}```"))
    if plan.totals:
        out.append(blocks.section("*Totals*: " + ", ".join(f"{k.replace('_', ' ')} {_cell(v)}"
                                                             for k, v in plan.totals.items())))
    for warning in plan.warnings:
        out.append(blocks.section(f":warning: {blocks.escape(warning)}"))
    for refusal in plan.refusals:
        where = f"{refusal.item}: " if refusal.item else ""
        out.append(blocks.section(f":no_entry_sign: {blocks.escape(where + refusal.reason)}"))
    if plan.samples:
        lines = "\n".join(blocks.escape(str(s))[:200] for s in plan.samples[:5])
        out.append(blocks.section(f"*A look at what it touches*\n```{lines}```"))
    out.append(blocks.context(f"{request.id} · requested by {user(request.requester)} at {clock(request.requested_at)}"
                              f" · expires {clock(request.expires_at)} · plan {plan.plan_hash}",
                              f"A second person from {approvers} approves."))
    if request.state == "requested" and not plan.refused and not plan.nothing_to_do:
        out.append({"type": "actions", "block_id": f"approval-{request.id}", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "style": "primary",
             "action_id": Action.APPROVE, "value": request.id},
            {"type": "button", "text": {"type": "plain_text", "text": "Deny"}, "style": "danger",
             "action_id": Action.DENY, "value": request.id},
        ]})
    elif request.state != "requested" or plan.refused or plan.nothing_to_do:
        state = FINAL.get(request.state, request.state)
        if request.state == "requested":
            state = ":no_entry_sign: Nothing to approve" if plan.refused else ":white_check_mark: Nothing to do"
        by = f" by {user(request.decided_by)}" if request.decided_by else ""
        reason = f": {blocks.escape(request.reason)}" if request.reason else ""
        out.append(blocks.section(f"*{state}*{by}{reason}"))
    for line in extra or []:
        out.append(blocks.section(line))
    return blocks.limit_blocks(out)
