"""Overrides in the database, each one written with its line in the audit trail."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Engine, insert, select

from bot import db
from bot.oncall.rotation import Override
from bot.oncall.tables import audit, overrides


def add_override(engine: Engine, *, schedule: str, team: str | None, user: str, start: float, end: float,
                 actor: str, now: float) -> Override:
    with db.write(engine) as conn:
        pk = conn.execute(insert(overrides).values(
            schedule=schedule, team=team, user_id=user, starts_at=start, ends_at=end, added_by=actor,
            added_at=now)).inserted_primary_key[0]
        conn.execute(insert(audit).values(
            at=now, actor=actor, action="override.added", schedule=schedule,
            detail=f"{user} covers {schedule}{f' (team {team})' if team else ''} from {_utc(start)} until {_utc(end)}"))
    return Override(user=user, start=start, end=end, added_by=actor, added_at=now, id=pk)


def overrides_for(engine: Engine, schedule: str, now: float) -> list[Override]:
    """The overrides of a schedule not yet over at `now`."""
    with engine.connect() as conn:
        rows = conn.execute(select(overrides).where((overrides.c.schedule == schedule) & (overrides.c.ends_at > now))
                            .order_by(overrides.c.id))
        return [Override(user=r.user_id, start=r.starts_at, end=r.ends_at, added_by=r.added_by, added_at=r.added_at,
                         id=r.id) for r in rows]


def audit_trail(engine: Engine, schedule: str | None = None) -> list[tuple[float, str, str, str]]:
    """(at, actor, action, detail), oldest first."""
    query = select(audit.c.at, audit.c.actor, audit.c.action, audit.c.detail).order_by(audit.c.at, audit.c.id)
    if schedule is not None:
        query = query.where(audit.c.schedule == schedule)
    with engine.connect() as conn:
        return [(r.at, r.actor, r.action, r.detail) for r in conn.execute(query)]


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
