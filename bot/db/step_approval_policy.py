"""Migration steps of approvals: policies (bot.approvals.policy; a request keeps its
requester's reason and how many approvals it needs; each approval is a row of its own,
one per approver and request), and who executes a request (a process name and a lease)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, UniqueConstraint
from sqlalchemy.engine import Connection


def approval_policy(conn: Connection) -> None:
    for column in ("request_reason TEXT", "approvals_needed INTEGER"):
        conn.exec_driver_sql(f"ALTER TABLE approval_requests ADD COLUMN {column}")
    m = MetaData()
    Table(
        "approval_votes", m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("request_id", String(16), nullable=False),
        Column("actor", String(64), nullable=False),
        Column("at", Float, nullable=False),
        UniqueConstraint("request_id", "actor", name="uq_approval_vote"),
    )
    m.tables["approval_votes"].create(conn, checkfirst=True)


def approval_executors(conn: Connection) -> None:
    for column in ("executor VARCHAR(64)", "executor_until FLOAT"):
        conn.exec_driver_sql(f"ALTER TABLE approval_requests ADD COLUMN {column}")
