"""The two-person rule as Teleport tests its access requests: tables of review
sequences on a fake clock, the state and what each reviewer is told checked after
every step. Pure: the rules decide, and a request moves only where they allow it
(the store's compare-and-set is tested against a database in tests/)."""

from __future__ import annotations

import dataclasses

import pytest

from bot.actions.base import Plan
from bot.approvals.rules import may_approve, may_deny
from bot.approvals.store import Request

T0 = 1_800_000_000.0  # 08:00:00 UTC
TTL = 15 * 60  # expires 08:15:00 UTC
APPROVERS = {"U0BOB", "U0CAROL"}  # U0ALICE asks; U0DAVE is neither
LABEL = "<!subteam^S0APPROVERS>"

Step = tuple[str, str, float]  # (approve | deny, who, seconds after T0)


def fresh() -> Request:
    plan = Plan(kind="purge_dlq", cluster="local", target="orders.dlq", summary="Purge orders.dlq: 12 messages.")
    return Request(id="AR-7F3K2", incident_id=None, plan=plan, requester="U0ALICE", requested_at=T0,
                   expires_at=T0 + TTL, state="requested", decided_by=None, decided_at=None, reason=None,
                   channel=None, card_ts=None, thread_ts=None, result=None, verification=None)


def review(request: Request, step: Step, approvers: set[str] = APPROVERS) -> tuple[Request, str]:
    """One press: what the person is told ("ok" when it goes through) and the request after it."""
    verb, actor, after = step
    now = T0 + after
    rule = may_approve if verb == "approve" else may_deny
    refusal = rule(request, actor, now, is_approver=actor in approvers, approvers=LABEL)
    if refusal is not None:
        return request, refusal
    state = "approved" if verb == "approve" else "denied"
    return dataclasses.replace(request, state=state, decided_by=actor, decided_at=now), "ok"


EXPIRED = "This request expired at 08:15:00 UTC. Run the command again for a fresh plan."
SEQUENCES: list[tuple[str, list[Step], list[str], str, str | None]] = [
    ("an approver approves", [("approve", "U0BOB", 10)], ["ok"], "approved", "U0BOB"),
    ("the requester cannot approve their own", [("approve", "U0ALICE", 10)],
     ["You cannot approve your own request: a second person has to."], "requested", None),
    ("a non-approver is refused", [("approve", "U0DAVE", 10)], [f"Only {LABEL} may approve this."], "requested", None),
    ("refused, then a real approver", [("approve", "U0DAVE", 10), ("approve", "U0ALICE", 20),
                                       ("approve", "U0CAROL", 30)],
     [f"Only {LABEL} may approve this.", "You cannot approve your own request: a second person has to.", "ok"],
     "approved", "U0CAROL"),
    ("approval a second before expiry", [("approve", "U0BOB", TTL - 1)], ["ok"], "approved", "U0BOB"),
    ("approval at the expiry instant is refused", [("approve", "U0BOB", TTL)], [EXPIRED], "requested", None),
    ("approval after expiry is refused", [("approve", "U0BOB", TTL + 60)], [EXPIRED], "requested", None),
    ("deny after expiry is refused too", [("deny", "U0BOB", TTL + 60)], [EXPIRED], "requested", None),
    ("deny wins over a later approval", [("deny", "U0CAROL", 10), ("approve", "U0BOB", 20)],
     ["ok", "This request is already denied by <@U0CAROL>; it cannot be acted on any more."], "denied", "U0CAROL"),
    ("an approval cannot be denied afterwards", [("approve", "U0BOB", 10), ("deny", "U0CAROL", 20)],
     ["ok", "This request is already approved by <@U0BOB>; it cannot be acted on any more."], "approved", "U0BOB"),
    ("a second approval is refused", [("approve", "U0BOB", 10), ("approve", "U0CAROL", 11)],
     ["ok", "This request is already approved by <@U0BOB>; it cannot be acted on any more."], "approved", "U0BOB"),
    ("the requester may withdraw", [("deny", "U0ALICE", 5)], ["ok"], "denied", "U0ALICE"),
    ("an outsider may not deny", [("deny", "U0DAVE", 5)], [f"Only {LABEL} (or whoever asked) may deny this."],
     "requested", None),
    ("a withdrawn request cannot be approved", [("deny", "U0ALICE", 5), ("approve", "U0BOB", 6)],
     ["ok", "This request is already denied by <@U0ALICE>; it cannot be acted on any more."], "denied", "U0ALICE"),
]


@pytest.mark.parametrize(("steps", "told", "state", "decided_by"), [c[1:] for c in SEQUENCES],
                         ids=[c[0] for c in SEQUENCES])
def test_review_sequence(steps: list[Step], told: list[str], state: str, decided_by: str | None) -> None:
    request = fresh()
    heard = []
    for step in steps:
        request, said = review(request, step)
        heard.append(said)
    assert heard == told
    assert (request.state, request.decided_by) == (state, decided_by)


def test_a_requester_who_is_an_approver_still_needs_a_second_person() -> None:
    request, said = review(fresh(), ("approve", "U0ALICE", 10), approvers=APPROVERS | {"U0ALICE"})
    assert said == "You cannot approve your own request: a second person has to."
    assert request.state == "requested"


@pytest.mark.parametrize("state", ["expired", "executing", "executed", "failed"])
def test_a_closed_request_says_what_it_is(state: str) -> None:
    closed = dataclasses.replace(fresh(), state=state)
    told = f"This request is already {state}; it cannot be acted on any more."
    assert may_approve(closed, "U0BOB", T0 + 1, is_approver=True, approvers=LABEL) == told
    assert may_deny(closed, "U0BOB", T0 + 1, is_approver=True, approvers=LABEL) == told
