"""Who may do what to an approval request, and when: its states and the moves
between them, and pure functions on a request, an actor and a clock, so they can be
tested as tables of steps."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.approvals.store import Request  # the store imports State from here


class State(StrEnum):
    """A request's state. A StrEnum equals its value, so the rows, the audit trail and
    the words on the card are these very strings."""

    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"


# Every move the store makes; anything else is a bug, refused before it reaches the database.
MOVES: dict[State, frozenset[State]] = {
    State.REQUESTED: frozenset({State.APPROVED, State.DENIED, State.EXPIRED}),
    State.APPROVED: frozenset({State.EXECUTING}),
    State.EXECUTING: frozenset({State.EXECUTED, State.FAILED}),
}


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S UTC")


def _closed(request: Request, now: float) -> str | None:
    if request.state == State.REQUESTED and now >= request.expires_at:
        return f"This request expired at {_clock(request.expires_at)}. Run the command again for a fresh plan."
    if request.state != State.REQUESTED:
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
    if actor in request.votes:
        return (f"You already approved this ({progress(request)}): it needs "
                f"{request.needed - len(request.votes)} more, from a different approver.")
    return None


def progress(request: Request, extra: int = 0) -> str:
    """'1 of 2 approvals', as the card and the timeline say it."""
    return f"{len(request.votes) + extra} of {request.needed} approvals"


def completes(request: Request) -> bool:
    """Whether one more approval reaches the count the request needs."""
    return len(request.votes) + 1 >= request.needed


MIN_REASON = 3


def reason_problem(reason: str | None) -> str | None:
    """None for a usable reason for a destructive request, else the sentence to show."""
    if reason is None or not reason.strip():
        return "missing"
    if len(reason.strip()) < MIN_REASON:
        return "too short"
    return None


def may_deny(request: Request, actor: str, now: float, *, is_approver: bool, approvers: str) -> str | None:
    """Approvers may deny, and so may the requester (withdrawing it). A deny wins."""
    closed = _closed(request, now)
    if closed:
        return closed
    if actor != request.requester and not is_approver:
        return f"Only {approvers} (or whoever asked) may deny this."
    return None
