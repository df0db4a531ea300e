"""Who may do what to an approval request, and when: pure functions on a request,
an actor and a clock, so they can be tested as tables of steps."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.approvals.store import Request


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S UTC")


def _closed(request: Request, now: float) -> str | None:
    if request.state == "requested" and now >= request.expires_at:
        return f"This request expired at {_clock(request.expires_at)}. Run the command again for a fresh plan."
    if request.state != "requested":
        who = f" by <@{request.decided_by}>" if request.decided_by else ""
        return f"This request is already {request.state}{who}; it cannot be acted on any more."
    return None


def may_approve(request: Request, actor: str, now: float, *, is_approver: bool, approvers: str) -> str | None:
    """None when `actor` may approve, else the sentence to show them."""
    closed = _closed(request, now)
    if closed:
        return closed
    if actor == request.requester:
        return "You cannot approve your own request: a second person has to."
    if not is_approver:
        return f"Only {approvers} may approve this."
    return None


def may_deny(request: Request, actor: str, now: float, *, is_approver: bool, approvers: str) -> str | None:
    """Approvers may deny, and so may the requester (withdrawing it). A deny wins."""
    closed = _closed(request, now)
    if closed:
        return closed
    if actor != request.requester and not is_approver:
        return f"Only {approvers} (or whoever asked) may deny this."
    return None
