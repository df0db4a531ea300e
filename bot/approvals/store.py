"""The two-person rule as rows: a request and its audit trail. Every transition is
a compare-and-set UPDATE on the state, so two approvers pressing at once, a double
click, Slack's retried deliveries or a restart can never execute a plan twice.

    requested -> approved -> executing -> executed | failed
    requested -> denied | expired
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Float,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)

from bot import db
from bot.actions.base import Plan, short_id
from bot.approvals.rules import MOVES, State
from bot.db import metadata, owners

requests_table = Table(
    "approval_requests", metadata,
    Column("id", String(16), primary_key=True),  # AR-7F3K2
    Column("incident_id", Integer),
    Column("kind", String(32), nullable=False),
    Column("cluster", String(100), nullable=False),
    Column("target", String(255), nullable=False),
    Column("plan", JSON, nullable=False),
    Column("plan_hash", String(32), nullable=False),
    Column("requester", String(64), nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", Float),
    Column("reason", Text),
    Column("channel", String(64)),
    Column("card_ts", String(32)),
    Column("thread_ts", String(32)),
    Column("result", JSON),
    Column("verification", JSON),
    Column("request_reason", Text),  # why the requester asks (the denial's reason is `reason`)
    Column("approvals_needed", Integer),  # different approvers needed; NULL (older rows): 1
    # The process executing it ("host:pid:tag") and until when that holds unless renewed.
    Column("executor", String(64)),
    Column("executor_until", Float),
)

# One row per approval an approver gave: the unique key is what keeps one person from
# counting twice, whatever path (a button, a modal, a replayed payload) their press took.
votes = Table(
    "approval_votes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", Float, nullable=False),
    UniqueConstraint("request_id", "actor", name="uq_approval_vote"),
)

audit = Table(
    "approval_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(16), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("transition", String(16), nullable=False),
    Column("plan_hash", String(32), nullable=False),
    Column("detail", Text),
)


@dataclass
class Request:
    id: str
    incident_id: int | None
    plan: Plan
    requester: str
    requested_at: float
    expires_at: float
    state: State
    decided_by: str | None
    decided_at: float | None
    reason: str | None
    channel: str | None
    card_ts: str | None
    thread_ts: str | None
    result: dict[str, Any] | None
    verification: dict[str, Any] | None
    why: str | None = None  # the requester's reason
    needed: int = 1  # approvals from different approvers before it runs
    votes: tuple[str, ...] = ()  # who approved so far, in order


def _request(row: Any, conn: Any) -> Request:
    m = row._mapping
    given = tuple(conn.execute(select(votes.c.actor).where(votes.c.request_id == m["id"])
                               .order_by(votes.c.at, votes.c.id)).scalars())
    return Request(id=m["id"], incident_id=m["incident_id"], plan=Plan.model_validate(m["plan"]),
                   requester=m["requester"], requested_at=m["requested_at"], expires_at=m["expires_at"],
                   state=State(m["state"]), decided_by=m["decided_by"], decided_at=m["decided_at"], reason=m["reason"],
                   channel=m["channel"], card_ts=m["card_ts"], thread_ts=m["thread_ts"], result=m["result"],
                   verification=m["verification"], why=m["request_reason"], needed=m["approvals_needed"] or 1,
                   votes=given)


def create(engine: Engine, *, plan: Plan, requester: str, incident_id: int | None, now: float,
           ttl_seconds: float, why: str | None = None, needed: int = 1) -> Request:
    with db.write(engine) as conn:
        request_id = short_id("AR")
        conn.execute(insert(requests_table).values(
            id=request_id, incident_id=incident_id, kind=plan.kind, cluster=plan.cluster, target=plan.target,
            plan=plan.model_dump(mode="json"), plan_hash=plan.plan_hash, requester=requester, requested_at=now,
            expires_at=now + ttl_seconds, state=State.REQUESTED, request_reason=why, approvals_needed=needed))
        detail = f"{plan.summary} Reason: {why}" if why else plan.summary
        conn.execute(insert(audit).values(request_id=request_id, at=now, actor=requester, transition=State.REQUESTED,
                                          plan_hash=plan.plan_hash, detail=detail))
    found = get(engine, request_id)
    assert found is not None
    return found


def get(engine: Engine, request_id: str) -> Request | None:
    with engine.connect() as conn:
        row = conn.execute(select(requests_table).where(requests_table.c.id == request_id.upper())).first()
        return _request(row, conn) if row else None


def move(engine: Engine, request: Request, *, frm: State, to: State, actor: str, now: float,
         detail: str | None = None, **values: Any) -> bool:
    """The transition, if the request is still in `frm`; False if someone else moved it."""
    frm, to = State(frm), State(to)  # callers may pass the plain strings
    if to not in MOVES.get(frm, ()):
        raise ValueError(f"an approval request cannot go from {frm} to {to}")
    with db.write(engine) as conn:
        changed = conn.execute(update(requests_table).where(
            (requests_table.c.id == request.id) & (requests_table.c.state == frm)
        ).values(state=to, **values)).rowcount
        if changed:
            conn.execute(insert(audit).values(request_id=request.id, at=now, actor=actor, transition=to,
                                              plan_hash=request.plan.plan_hash, detail=detail))
    return bool(changed)


# How long an executor's claim holds unless renewed (bot.approvals.flow renews it every
# tenth of this while the action runs): past it another process takes the request over.
EXECUTOR_TTL_S = 120.0


def renew_executor(engine: Engine, request_id: str, owner: str, now: float) -> bool:
    with db.write(engine) as conn:
        return bool(conn.execute(update(requests_table).where(
            (requests_table.c.id == request_id) & (requests_table.c.state == State.EXECUTING)
            & (requests_table.c.executor == owner)).values(executor_until=now + EXECUTOR_TTL_S)).rowcount)


def take_over(engine: Engine, request_id: str, owner: str, now: float) -> bool:
    """Claim a request left executing by a process that is gone (its claim ran out, or
    it was a process of this host that no longer runs); False while its executor lives."""
    with db.write(engine) as conn:
        return owners.claim(conn, requests_table, (requests_table.c.id == request_id)
                            & (requests_table.c.state == State.EXECUTING), owner_col="executor",
                            until_col="executor_until", owner=owner, now=now, ttl=EXECUTOR_TTL_S, mine_too=False)


def set_card(engine: Engine, request_id: str, *, channel: str, card_ts: str, thread_ts: str | None) -> None:
    with db.write(engine) as conn:
        conn.execute(update(requests_table).where(requests_table.c.id == request_id)
                     .values(channel=channel, card_ts=card_ts, thread_ts=thread_ts))


def trail(engine: Engine, request_id: str) -> list[tuple[float, str, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit.c.at, audit.c.actor, audit.c.transition, audit.c.detail)
                            .where(audit.c.request_id == request_id).order_by(audit.c.at, audit.c.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def in_state(engine: Engine, state: State) -> list[Request]:
    with engine.connect() as conn:
        rows = conn.execute(select(requests_table).where(requests_table.c.state == state)).all()
        return [_request(r, conn) for r in rows]


def vote(engine: Engine, request: Request, actor: str, now: float) -> int | None:
    """Record `actor`'s approval while the request still waits: the number of approvals
    it has then, or None when it no longer waits or `actor` already approved. The
    no-op UPDATE takes the row's lock first, so concurrent votes count one at a time.
    An approval short of the count is an "approval" row in the trail; the one that
    reaches it is recorded by the caller's move to approved."""
    with db.write(engine) as conn:
        waiting = conn.execute(update(requests_table).where(
            (requests_table.c.id == request.id) & (requests_table.c.state == State.REQUESTED)
        ).values(state=State.REQUESTED)).rowcount
        if not waiting:
            return None
        mine = (votes.c.request_id == request.id) & (votes.c.actor == actor)
        if conn.execute(select(votes.c.id).where(mine)).first():
            return None
        conn.execute(insert(votes).values(request_id=request.id, actor=actor, at=now))
        count = int(conn.execute(select(func.count()).select_from(votes)
                                 .where(votes.c.request_id == request.id)).scalar_one())
        if count < request.needed:
            conn.execute(insert(audit).values(request_id=request.id, at=now, actor=actor, transition="approval",
                                              plan_hash=request.plan.plan_hash,
                                              detail=f"{count} of {request.needed} approvals"))
    return count
