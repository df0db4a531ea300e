"""The two-person rule as Teleport tests its access requests: tables of review
sequences on a fake clock, the state and what each reviewer is told checked after
every step. Pure: the rules decide, and a request moves only where they allow it
(the store's compare-and-set is tested against a database in tests/)."""

from __future__ import annotations

import dataclasses

import pytest

from bot.actions.base import Plan
from bot.approvals.rules import completes, may_approve, may_deny, progress, reason_problem
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


# ---------------------------------------------------------------- approval counts

def review_counted(request: Request, step: Step, approvers: set[str] = APPROVERS | {"U0ERIN"}) -> tuple[Request, str]:
    """As review(), for a request needing `request.needed` approvals: an approval short
    of the count is recorded and the request keeps waiting."""
    verb, actor, after = step
    now = T0 + after
    rule = may_approve if verb == "approve" else may_deny
    refusal = rule(request, actor, now, is_approver=actor in approvers, approvers=LABEL)
    if refusal is not None:
        return request, refusal
    if verb == "deny":
        return dataclasses.replace(request, state="denied", decided_by=actor, decided_at=now), "ok"
    done = completes(request)
    request = dataclasses.replace(request, votes=(*request.votes, actor))
    if done:
        request = dataclasses.replace(request, state="approved", decided_by=actor, decided_at=now)
    return request, progress(request)


AGAIN = "You already approved this (1 of 2 approvals): it needs 1 more, from a different approver."
COUNTED: list[tuple[str, int, list[Step], list[str], str, tuple[str, ...]]] = [
    ("one approval of two keeps it waiting", 2, [("approve", "U0BOB", 10)], ["1 of 2 approvals"], "requested",
     ("U0BOB",)),
    ("two different approvers approve it", 2, [("approve", "U0BOB", 10), ("approve", "U0CAROL", 20)],
     ["1 of 2 approvals", "2 of 2 approvals"], "approved", ("U0BOB", "U0CAROL")),
    ("the same approver twice counts once", 2, [("approve", "U0BOB", 10), ("approve", "U0BOB", 11)],
     ["1 of 2 approvals", AGAIN], "requested", ("U0BOB",)),
    ("the requester never counts", 2, [("approve", "U0BOB", 10), ("approve", "U0ALICE", 20)],
     ["1 of 2 approvals", "You cannot approve your own request: a second person has to."], "requested", ("U0BOB",)),
    ("an outsider never counts", 2, [("approve", "U0DAVE", 5), ("approve", "U0BOB", 10)],
     [f"Only {LABEL} may approve this.", "1 of 2 approvals"], "requested", ("U0BOB",)),
    ("a denial after one approval ends it", 2, [("approve", "U0BOB", 10), ("deny", "U0CAROL", 20),
                                                ("approve", "U0CAROL", 30)],
     ["1 of 2 approvals", "ok", "This request is already denied by <@U0CAROL>; it cannot be acted on any more."],
     "denied", ("U0BOB",)),
    ("the requester may withdraw after one approval", 2, [("approve", "U0BOB", 10), ("deny", "U0ALICE", 20)],
     ["1 of 2 approvals", "ok"], "denied", ("U0BOB",)),
    ("expiry still applies between approvals", 2, [("approve", "U0BOB", 10), ("approve", "U0CAROL", TTL)],
     ["1 of 2 approvals", EXPIRED], "requested", ("U0BOB",)),
    ("three needed: a third after two", 3, [("approve", "U0BOB", 1), ("approve", "U0CAROL", 2),
                                           ("approve", "U0ERIN", 3)],
     ["1 of 3 approvals", "2 of 3 approvals", "3 of 3 approvals"], "approved", ("U0BOB", "U0CAROL", "U0ERIN")),
    ("a fourth after the count is reached is refused", 2,
     [("approve", "U0BOB", 1), ("approve", "U0CAROL", 2), ("approve", "U0ERIN", 3)],
     ["1 of 2 approvals", "2 of 2 approvals",
      "This request is already approved by <@U0CAROL>; it cannot be acted on any more."],
     "approved", ("U0BOB", "U0CAROL")),
]


@pytest.mark.parametrize(("needed", "steps", "told", "state", "votes"), [c[1:] for c in COUNTED],
                         ids=[c[0] for c in COUNTED])
def test_counted_review_sequence(needed: int, steps: list[Step], told: list[str], state: str,
                                 votes: tuple[str, ...]) -> None:
    request = dataclasses.replace(fresh(), needed=needed)
    heard = []
    for step in steps:
        request, said = review_counted(request, step)
        heard.append(said)
    assert heard == told
    assert (request.state, request.votes) == (state, votes)


REASONS = [(None, "missing"), ("", "missing"), ("   ", "missing"), ("ok", "too short"), (" ok ", "too short"),
           ("bug", None), ("consumer fixed in 2.4.1", None)]


@pytest.mark.parametrize(("reason", "problem"), REASONS)
def test_a_destructive_request_needs_a_reason(reason: str | None, problem: str | None) -> None:
    assert reason_problem(reason) == problem
