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

# The keys the actions put in Plan.samples, in the order and with the headers a person
# reads them; a key not listed here still shows, after these, under its own name.
SAMPLE_COLUMNS = {"position": "POSITION", "partition": "PARTITION", "offset": "OFFSET", "message_id": "MESSAGE ID",
                  "key": "KEY", "pattern": "ERROR PATTERN", "error_class": "ERROR CLASS", "error_message": "ERROR",
                  "first_death_reason": "DIED BECAUSE", "first_death_queue": "DIED IN", "to": "GOES TO",
                  "preview": "PREVIEW"}
SAMPLES_SHOWN = 5
SAMPLE_CELL_CHARS = 40
SAMPLES_TITLE = "*A look at what it touches*\n"


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


def _sample_cell(value: Any) -> str:
    if value is None:
        return "-"
    # One line per message, and no backtick: broker data must not end the code block early.
    text = " ".join(_cell(value).split()).replace("`", "'")
    return blocks.clip(text, SAMPLE_CELL_CHARS) or "-"


def samples_table(samples: list[dict[str, Any]]) -> Table:
    """Only the columns some sampled message has a value for: a column of dashes says nothing."""
    present = {k for s in samples for k, v in s.items() if v not in (None, "")}
    keys = [k for k in SAMPLE_COLUMNS if k in present] + sorted(present - SAMPLE_COLUMNS.keys())
    return Table(headers=[SAMPLE_COLUMNS.get(k, k.replace("_", " ").upper()) for k in keys],
                 rows=[[_sample_cell(s.get(k)) for k in keys] for s in samples[:SAMPLES_SHOWN]],
                 total_rows=len(samples))


def samples_section(samples: list[dict[str, Any]]) -> Block:
    """The sampled messages as a table; format_table counts rows at their escaped
    length, so the fences stay inside the section ("+N more" for the rest)."""
    budget = blocks.SECTION_LIMIT - len(SAMPLES_TITLE) - len("``````")
    return blocks.section(f"{SAMPLES_TITLE}```{blocks.escape(format_table(samples_table(samples), budget))}```")


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
    if request.why:
        out.append(blocks.section(f"*Reason*: {blocks.escape(request.why)}"))
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
        out.append(samples_section(plan.samples))
    who = "A second person" if request.needed == 1 else f"{request.needed} different people"
    out.append(blocks.context(f"{request.id} · requested by {user(request.requester)} at {clock(request.requested_at)}"
                              f" · expires {clock(request.expires_at)} · plan {plan.plan_hash}",
                              f"{who} from {approvers} {'approves' if request.needed == 1 else 'approve'}."))
    if request.votes and (request.needed > 1 or request.state == "requested"):
        out.append(blocks.section(f"*{len(request.votes)} of {request.needed} approvals*: "
                                  + ", ".join(user(v) for v in request.votes)))
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
