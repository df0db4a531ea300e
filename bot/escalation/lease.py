"""Who runs the timers: one process per database holds a lease row and renews it;
when it stops renewing (it died), another takes the lease over after `ttl` seconds.
A plain row rather than PostgreSQL's advisory locks, so SQLite behaves the same."""

from __future__ import annotations

import time

from sqlalchemy import Column, Engine, Float, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot import db
from bot.db import metadata
from bot.db.owners import dead_here

__all__ = ["dead_here", "hold", "leases", "release"]

leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)


def hold(engine: Engine, name: str, owner: str, ttl: float, now: float | None = None) -> bool:
    """Take or renew the lease; True while `owner` holds it."""
    now = now or time.time()
    with db.write(engine) as conn:
        taken = conn.execute(update(leases).where(
            (leases.c.name == name) & ((leases.c.owner == owner) | (leases.c.expires_at < now))
        ).values(owner=owner, expires_at=now + ttl)).rowcount
        if taken:
            return True
        current = conn.execute(select(leases.c.owner).where(leases.c.name == name)).first()
        if current is not None:
            if not dead_here(current[0]):
                return False
            return bool(conn.execute(update(leases).where((leases.c.name == name) & (leases.c.owner == current[0]))
                                     .values(owner=owner, expires_at=now + ttl)).rowcount)
        try:
            with conn.begin_nested():
                conn.execute(insert(leases).values(name=name, owner=owner, expires_at=now + ttl))
        except IntegrityError:  # another process created it a moment ago
            return False
        return True


def release(engine: Engine, name: str, owner: str) -> None:
    with db.write(engine) as conn:
        conn.execute(update(leases).where((leases.c.name == name) & (leases.c.owner == owner))
                     .values(expires_at=0.0))
