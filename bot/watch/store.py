"""The watch's memory in the database: breach states, pauses, last rounds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.engine import Connection

from bot import db
from bot.health.verdict import Level
from bot.watch.judge import State
from bot.watch.tables import watch_breaches, watch_pauses, watch_rounds


def states(engine: Engine) -> dict[str, State]:
    with engine.connect() as conn:
        rows = conn.execute(select(watch_breaches)).all()
    return {r.key: State(key=r.key, kind=r.kind, runbook=r.runbook, labels=dict(r.labels), streak=r.streak,
                         level=Level(r.level), first_at=r.first_at, last_text=r.last_text, incident_id=r.incident_id,
                         opened_level=Level(r.opened_level), ok_since=r.ok_since) for r in rows}


def save(engine: Engine, kept: dict[str, State], dropped: set[str]) -> None:
    """This round's states in one write: a replica taking over reads them whole."""
    with db.write(engine) as conn:
        save_in(conn, kept, dropped)


def save_in(conn: Connection, kept: dict[str, State], dropped: set[str]) -> None:
    keys = set(kept) | dropped
    if keys:
        conn.execute(delete(watch_breaches).where(watch_breaches.c.key.in_(list(keys))))
    if kept:
        conn.execute(insert(watch_breaches), [dict(
            key=s.key, kind=s.kind, runbook=s.runbook, labels=s.labels, streak=s.streak, level=int(s.level),
            first_at=s.first_at, last_text=s.last_text[:4000], incident_id=s.incident_id,
            opened_level=int(s.opened_level), ok_since=s.ok_since) for s in kept.values()])


@dataclass(frozen=True)
class Pause:
    target: str
    until: float
    reason: str
    actor: str


def pauses(engine: Engine, now: float) -> list[Pause]:
    with engine.connect() as conn:
        rows = conn.execute(select(watch_pauses).where(watch_pauses.c.until > now)).all()
    return [Pause(r.target, r.until, r.reason, r.actor) for r in rows]


def pause(engine: Engine, target: str, until: float, reason: str, actor: str, now: float) -> None:
    with db.write(engine) as conn:
        conn.execute(delete(watch_pauses).where(watch_pauses.c.target == target))
        conn.execute(insert(watch_pauses).values(target=target, until=until, reason=reason, actor=actor,
                                                 created_at=now))


def resume(engine: Engine, target: str, now: float) -> bool:
    with db.write(engine) as conn:
        return bool(conn.execute(delete(watch_pauses).where(
            (watch_pauses.c.target == target) & (watch_pauses.c.until > now))).rowcount)


@dataclass(frozen=True)
class Round:
    cluster: str
    started_at: float
    duration_ms: float
    watched: int
    error: str | None


def record_rounds(engine: Engine, rounds: list[Round]) -> None:
    if not rounds:
        return
    with db.write(engine) as conn:
        conn.execute(delete(watch_rounds).where(watch_rounds.c.cluster.in_([r.cluster for r in rounds])))
        conn.execute(insert(watch_rounds), [vars(r) for r in rounds])


def last_rounds(engine: Engine) -> list[Round]:
    with engine.connect() as conn:
        rows = conn.execute(select(watch_rounds).order_by(watch_rounds.c.cluster)).all()
    return [Round(r.cluster, r.started_at, r.duration_ms, r.watched, r.error) for r in rows]
