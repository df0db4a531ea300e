"""What every destructive action shares: the plan shown for approval, the result of
executing it, the read-back verification, and the context they run in.

An action is four plain functions over the broker clients, listed once as an
``ActionKind`` in bot.actions.registry:

- ``plan(ctx, ...) -> Plan`` is a dry run: it reads the world and changes nothing.
- ``execute(ctx, plan, *, progress, abort) -> Result`` re-checks every precondition
  just before acting (the world may have moved since the plan was approved), refuses
  with a sentence when it did, and otherwise acts once.
- ``verify(ctx, plan, result) -> Verification`` reads the world back and compares it
  with the plan.
- ``replan(ctx, plan) -> Plan`` plans the same request again from ``plan.params``,
  just before executing, to see whether the world moved since the approval.

``Plan.plan_hash`` binds an approval to exactly what was shown: it covers what the
action will do (kind, cluster, target, parameters, each row's values, the totals and
the refusals) and leaves out what is only context (row notes and ``info``, warnings,
samples, the creation time), so re-planning an unchanged situation gives the same hash.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, computed_field
from sqlalchemy import Engine

from bot.probes.clients import Clients
from bot.text import plural

Broker = Literal["kafka", "rabbitmq"]
Status = Literal["executed", "nothing_to_do", "refused", "aborted", "failed"]

# Crockford's base32 without I, L, O, U: ids are read aloud and typed at 3 a.m.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class ActionError(Exception):
    """The action cannot even be planned (unknown resource, broker unreachable); the
    message is a sentence for the person who asked."""


def short_id(prefix: str, length: int = 5) -> str:
    """A short human id such as ``RP-7F3K2``: 32^5 = 33 million values, checked for
    collisions by the table's primary key."""
    return f"{prefix}-{''.join(secrets.choice(_ID_ALPHABET) for _ in range(length))}"


def now() -> datetime:
    return datetime.now(UTC)


class Row(BaseModel):
    """One item of a plan's table (a partition, an error pattern, a queue)."""

    key: str  # what the row is about, e.g. "orders[3]"
    values: dict[str, Any] = Field(default_factory=dict)  # column -> value; bound by the plan hash
    info: dict[str, Any] = Field(default_factory=dict)  # context shown but not hashed (log ends, samples)
    note: str | None = None  # a sentence about this row (clamped, refused, ...)
    severity: int = 0  # higher is worse; rows are sorted worst first


class Refusal(BaseModel):
    item: str | None = None  # None: the whole action is refused
    reason: str  # a sentence saying why, and what to do


class Plan(BaseModel):
    kind: str  # an ActionKind.kind of bot.actions.registry, which rejects unknown ones
    broker: Broker = "kafka"
    cluster: str
    target: str  # the group, DLQ, topic ("*" for all topics)
    params: dict[str, Any] = Field(default_factory=dict)  # everything needed to plan again
    summary: str  # one sentence: what will happen
    columns: list[str] = Field(default_factory=list)  # the order of Row.values for display
    rows: list[Row] = Field(default_factory=list)  # worst first
    totals: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)  # sentences
    refusals: list[Refusal] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)  # what execute needs; bound by the hash
    samples: list[dict[str, Any]] = Field(default_factory=list)  # what will be deleted/moved, for a look
    # False when the rows only inform (the groups a partition increase rebalances): an
    # empty table then does not mean there is nothing to do.
    rows_are_work: bool = True
    created_at: datetime = Field(default_factory=now)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def plan_hash(self) -> str:
        bound = {
            "kind": self.kind, "broker": self.broker, "cluster": self.cluster, "target": self.target,
            "params": self.params, "rows": [[r.key, r.values] for r in self.rows], "totals": self.totals,
            "refusals": [[r.item, r.reason] for r in self.refusals], "details": self.details,
        }
        text = json.dumps(bound, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def refused(self) -> bool:
        """The whole plan is refused (a refusal for no particular item)."""
        return any(r.item is None for r in self.refusals)

    @property
    def nothing_to_do(self) -> bool:
        return not self.refused and self.rows_are_work and not self.actionable_rows

    @property
    def actionable_rows(self) -> list[Row]:
        refused_items = {r.item for r in self.refusals}
        return [r for r in self.rows if r.key not in refused_items]


class Progress(BaseModel):
    done: int
    total: int
    message: str


ProgressFn = Callable[[Progress], None]


class Result(BaseModel):
    kind: str
    cluster: str
    target: str
    plan_hash: str
    status: Status
    message: str  # one sentence
    refusals: list[Refusal] = Field(default_factory=list)
    rows: list[Row] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)  # restore point id and CSV, replay id, ...
    started_at: datetime = Field(default_factory=now)
    finished_at: datetime = Field(default_factory=now)

    @property
    def ok(self) -> bool:
        return self.status in ("executed", "nothing_to_do")


class Verification(BaseModel):
    ok: bool
    message: str  # one sentence
    rows: list[Row] = Field(default_factory=list)
    mismatches: list[str] = Field(default_factory=list)  # sentences, one per difference
    checked_at: datetime = Field(default_factory=now)


@dataclass(frozen=True)
class ActionContext:
    """What an action runs with; the approval executor builds one per request."""

    clients: Clients
    engine: Engine
    actor: str = "unknown"  # Slack user id of whoever asked (recorded with restore points, replays)
    incident_id: str | None = None


class Executor(Protocol):
    def __call__(self, ctx: ActionContext, plan: Plan, *, progress: ProgressFn | None = None,
                 abort: threading.Event | None = None) -> Result: ...


@dataclass(frozen=True)
class ActionKind:
    """One destructive action, whole: listed once in bot.actions.registry, it is a
    slash command (built by commands.destructive), the title of its approval cards
    and timeline entries, and what the approval executor replans, executes and
    verifies."""

    kind: str  # stored with every plan and approval request, and named in approvals.disabled: never rename
    title: str  # "Purge a DLQ": the approval card's header and the timeline's words
    command: str  # the slash command without "/", e.g. "purge-dlq"
    summary: str  # the command's line in /ops help
    usage: str  # its words after the command's name; --cluster and --incident are added
    plan: Callable[[ActionContext, str, str], Plan]  # (ctx, cluster, the command's words) -> the dry run
    replan: Callable[[ActionContext, Plan], Plan]  # the same request planned again, from plan.params
    execute: Executor
    verify: Callable[[ActionContext, Plan, Result], Verification]
    needs_words: bool = True  # False when the bare command means something (/elect-leaders: every topic)
    confirm_by_name: bool = False  # the approver types the target's name out (a purge cannot be undone)


def result(plan: Plan, status: Status, message: str, started_at: datetime, **fields: Any) -> Result:
    return Result(kind=plan.kind, cluster=plan.cluster, target=plan.target, plan_hash=plan.plan_hash,
                  status=status, message=message, started_at=started_at, finished_at=now(), **fields)


def refused(plan: Plan, started_at: datetime, refusals: list[Refusal]) -> Result:
    first = refusals[0].reason if refusals else "The plan is refused."
    more = f" ({plural(len(refusals) - 1, 'more reason')} below.)" if len(refusals) > 1 else ""
    return result(plan, "refused", f"Not executed: {first}{more}", started_at, refusals=refusals)

