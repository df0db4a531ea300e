"""The escalation ladder of each incident, as rows: which step falls due when, and
what became of it. The row is the truth; APScheduler only wakes the bot at the
right moment. Claiming a step is a compare-and-set, so a step fires once even if
two schedulers (or a retry and a restart) reach it together."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection

from bot import db
from bot.config import LadderStep, Settings
from bot.db import metadata
from bot.runbooks import Runbook

escalation_steps = Table(
    "escalation_steps", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("minute", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("due_at", Float, nullable=False),
    # pending -> firing -> fired | failed; pending -> cancelled (resolved first)
    Column("status", String(16), nullable=False, default="pending"),
    Column("claimed_at", Float),
    Column("claimed_by", String(64)),
    Column("scheduled", Integer, nullable=False, default=0),  # a timer exists for it
    Column("fired_at", Float),
    Column("late_by", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    UniqueConstraint("incident_id", "minute", name="uq_escalation_step"),
)

LABELS = {
    "lag_dlq": "check consumer lag and DLQ depth",
    "consumer_health": "check consumer health and logs",
    "brokers": "check broker health",
    "platform": "escalate to platform if the brokers are at fault",
    "lead": "escalate to the team lead if unresolved",
}


@dataclass(frozen=True)
class Step:
    row_id: int
    incident_id: int
    minute: float
    kind: str
    due_at: float
    status: str
    fired_at: float | None
    late_by: float | None
    attempts: int
    last_error: str | None
    claimed_by: str | None = None
    claimed_at: float | None = None

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)

    @property
    def job_id(self) -> str:
        return job_id(self.incident_id, self.minute)


def job_id(incident_id: int, minute: float) -> str:
    return f"escalate:{incident_id}:{minute:g}"


def ladder_for(settings: Settings, runbook: Runbook | None) -> list[LadderStep]:
    return sorted(runbook.escalation, key=lambda s: s.minute) if runbook and runbook.escalation else \
        settings.escalation.steps


def plan(conn: Connection, *, incident_id: int, opened_at: float, settings: Settings,
         runbook: Runbook | None) -> None:
    """Write the ladder of a new incident (in the transaction that creates it)."""
    rows = [{"incident_id": incident_id, "minute": s.minute, "kind": s.kind, "scheduled": 0,
             "due_at": opened_at + settings.escalation.seconds(s.minute), "status": "pending", "attempts": 0}
            for s in ladder_for(settings, runbook)]
    if rows:
        conn.execute(escalation_steps.insert(), rows)


def _step(row: object) -> Step:
    m = row._mapping  # type: ignore[attr-defined]
    return Step(row_id=m["id"], incident_id=m["incident_id"], minute=m["minute"], kind=m["kind"], due_at=m["due_at"],
                status=m["status"], fired_at=m["fired_at"], late_by=m["late_by"], attempts=m["attempts"],
                last_error=m["last_error"], claimed_by=m["claimed_by"], claimed_at=m["claimed_at"])


def still_claimed(engine: Engine, step: Step) -> bool:
    """Whether `step` is still firing under the claim it was handed over with: after
    a database outage long enough for the timer lease to move, the next owner may
    have made it pending again and claimed it itself."""
    with engine.connect() as conn:
        return conn.execute(select(escalation_steps.c.id).where(
            (escalation_steps.c.id == step.row_id) & (escalation_steps.c.status == "firing")
            & (escalation_steps.c.claimed_by == step.claimed_by)
            & (escalation_steps.c.claimed_at == step.claimed_at))).first() is not None


def steps(conn: Connection, incident_id: int) -> list[Step]:
    rows = conn.execute(select(escalation_steps).where(escalation_steps.c.incident_id == incident_id)
                        .order_by(escalation_steps.c.minute))
    return [_step(r) for r in rows]


def next_pending(engine: Engine, incident_id: int) -> Step | None:
    with engine.connect() as conn:
        row = conn.execute(select(escalation_steps).where(
            (escalation_steps.c.incident_id == incident_id) & (escalation_steps.c.status == "pending"))
            .order_by(escalation_steps.c.minute).limit(1)).first()
    return _step(row) if row else None


def claim(engine: Engine, keys: list[tuple[int, float]], now: float, owner: str) -> list[Step]:
    """Take the steps `(incident_id, minute)` for firing, in one transaction; the
    result leaves out those no longer pending (fired, cancelled, or another
    scheduler has them). A burst of timers costs one write, not one each."""
    if not keys:
        return []
    which = tuple_(escalation_steps.c.incident_id, escalation_steps.c.minute).in_(keys)
    with db.write(engine) as conn:
        conn.execute(update(escalation_steps).where(which & (escalation_steps.c.status == "pending")).values(
            status="firing", claimed_at=now, claimed_by=owner, late_by=now - escalation_steps.c.due_at,
            attempts=escalation_steps.c.attempts + 1))
        rows = conn.execute(select(escalation_steps).where(
            which & (escalation_steps.c.status == "firing") & (escalation_steps.c.claimed_by == owner)
            & (escalation_steps.c.claimed_at == now)).order_by(escalation_steps.c.due_at)).all()
    return [_step(r) for r in rows]


def finish(engine: Engine, step: Step, *, status: str, now: float, late_by: float | None = None,
           error: str | None = None) -> None:
    with db.write(engine) as conn:
        conn.execute(update(escalation_steps).where(
            (escalation_steps.c.incident_id == step.incident_id) & (escalation_steps.c.minute == step.minute)
        ).values(status=status, fired_at=now if status == "fired" else None, late_by=late_by, last_error=error,
                 # a step that failed to post gets a new timer at the next start
                 scheduled=0 if status == "failed" else escalation_steps.c.scheduled))


def recover(engine: Engine, owner: str) -> None:
    """On taking the timers over: steps that failed, or that another (dead) process
    was firing, become pending again, and every pending step gets a new timer.
    `owner`'s timer processes claim as `<owner>/<n>`; those steps are its own."""
    ours = (escalation_steps.c.claimed_by == owner) | escalation_steps.c.claimed_by.startswith(f"{owner}/",
                                                                                             autoescape=True)
    with db.write(engine) as conn:
        conn.execute(update(escalation_steps).where(
            (escalation_steps.c.status == "failed") | ((escalation_steps.c.status == "firing") & ~ours)
        ).values(status="pending"))
        conn.execute(update(escalation_steps).where(escalation_steps.c.status == "pending").values(scheduled=0))


def release_unreceived(engine: Engine, claimed_by: str, received: set[tuple[int, float]]) -> int:
    """A timer process ended: the steps it claimed but never handed over become
    pending again (the others are being posted). Returns how many."""
    with db.write(engine) as conn:
        firing = conn.execute(select(escalation_steps.c.id, escalation_steps.c.incident_id, escalation_steps.c.minute)
                              .where((escalation_steps.c.status == "firing")
                                     & (escalation_steps.c.claimed_by == claimed_by))).all()
        lost = [row.id for row in firing if (row.incident_id, row.minute) not in received]
        if lost:
            conn.execute(update(escalation_steps).where(escalation_steps.c.id.in_(lost))
                         .values(status="pending", scheduled=0))
    return len(lost)


def unscheduled(engine: Engine, limit: int = 5000) -> list[Step]:
    with engine.connect() as conn:
        rows = conn.execute(select(escalation_steps).where(
            (escalation_steps.c.status == "pending") & (escalation_steps.c.scheduled == 0)).limit(limit))
        return [_step(r) for r in rows]


def mark_scheduled(engine: Engine, found: list[Step]) -> None:
    if not found:
        return
    with db.write(engine) as conn:
        conn.execute(update(escalation_steps).where(escalation_steps.c.id.in_([s.row_id for s in found]))
                     .values(scheduled=1))
