"""The two-person rule as rows: a request and its audit trail. Every transition is
a compare-and-set UPDATE on the state, so two approvers pressing at once, a double
click, Slack's retried deliveries or a restart can never execute a plan twice.

    requested -> approved -> executing -> executed | failed
    requested -> denied | expired
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Engine, Float, Integer, String, Table, Text, insert, select, update

from bot import db
from bot.actions.base import Plan, short_id
from bot.approvals.rules import MOVES, State
from bot.db import metadata

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


def _request(row: Any) -> Request:
    m = row._mapping
    return Request(id=m["id"], incident_id=m["incident_id"], plan=Plan.model_validate(m["plan"]),
                   requester=m["requester"], requested_at=m["requested_at"], expires_at=m["expires_at"],
                   state=State(m["state"]), decided_by=m["decided_by"], decided_at=m["decided_at"], reason=m["reason"],
                   channel=m["channel"], card_ts=m["card_ts"], thread_ts=m["thread_ts"], result=m["result"],
                   verification=m["verification"])


def create(engine: Engine, *, plan: Plan, requester: str, incident_id: int | None, now: float,
           ttl_seconds: float) -> Request:
    with db.write(engine) as conn:
        request_id = short_id("AR")
        conn.execute(insert(requests_table).values(
            id=request_id, incident_id=incident_id, kind=plan.kind, cluster=plan.cluster, target=plan.target,
            plan=plan.model_dump(mode="json"), plan_hash=plan.plan_hash, requester=requester, requested_at=now,
            expires_at=now + ttl_seconds, state=State.REQUESTED))
        conn.execute(insert(audit).values(request_id=request_id, at=now, actor=requester, transition=State.REQUESTED,
                                          plan_hash=plan.plan_hash, detail=plan.summary))
    found = get(engine, request_id)
    assert found is not None
    return found


def get(engine: Engine, request_id: str) -> Request | None:
    with engine.connect() as conn:
        row = conn.execute(select(requests_table).where(requests_table.c.id == request_id.upper())).first()
    return _request(row) if row else None


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
        return [_request(r) for r in conn.execute(select(requests_table).where(requests_table.c.state == state))]
