"""Silences in the database: create, expire, find the active one for some labels, and
record what each held back (one row per alert, updated by its later deliveries).

The ends of silences are handled once: the timer owner claims an ended silence with a
lease (a compare-and-set naming the process), hands what it held back to ingestion
again, and marks it released. Handing the same alerts over twice is harmless: the
alert groups' dedup puts a second delivery into the same incident.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot import db
from bot.db import owners
from bot.silences.matchers import Matcher
from bot.silences.model import Held, Silence, match
from bot.silences.tables import silenced_alerts, silences

RELEASE_TTL = 60.0  # long enough to re-deliver a silence's alerts, with the database's retries

_s = silences.c
_h = silenced_alerts.c


# Built once: every alert delivery asks it, and building a statement costs more than
# running it. released_at is NULL for every silence in force: the index on
# (released_at, ends_at) finds them.
_ACTIVE = (select(silences)
           .where(_s.released_at.is_(None) & (_s.ends_at > bindparam("now")) & (_s.starts_at <= bindparam("now"))
                  & _s.expired_at.is_(None))
           .order_by(_s.ends_at.desc(), _s.id))


def create(engine: Engine, *, matchers: Sequence[Matcher], seconds: float, reason: str, created_by: str,
           now: float, maintenance_id: int | None = None, conn: Connection | None = None) -> Silence:
    values = dict(matchers=[m.model_dump() for m in matchers], reason=reason, created_by=created_by, created_at=now,
                  starts_at=now, ends_at=now + seconds, maintenance_id=maintenance_id)
    if conn is not None:
        pk = conn.execute(insert(silences).values(**values)).inserted_primary_key[0]
        return Silence(id=int(pk), matchers=list(matchers), reason=reason, created_by=created_by, created_at=now,
                       starts_at=now, ends_at=now + seconds, maintenance_id=maintenance_id)
    with db.write(engine) as c:
        return create(engine, matchers=matchers, seconds=seconds, reason=reason, created_by=created_by, now=now,
                      maintenance_id=maintenance_id, conn=c)


def get(engine: Engine, silence_id: int) -> Silence | None:
    with engine.connect() as conn:
        row = conn.execute(select(silences).where(_s.id == silence_id)).first()
    return Silence.from_row(row) if row else None


def active(engine: Engine, now: float) -> list[Silence]:
    """The silences in force now, the one ending last first: an alert that several
    cover is held by that one, so it is not handed back while another still covers it."""
    with engine.connect() as conn:
        return [Silence.from_row(r) for r in conn.execute(_ACTIVE, {"now": now})]


def of_window(engine: Engine, maintenance_id: int) -> list[Silence]:
    with engine.connect() as conn:
        rows = conn.execute(select(silences).where(_s.maintenance_id == maintenance_id).order_by(_s.id))
        return [Silence.from_row(r) for r in rows]


def first_match(found: Sequence[Silence], labels: dict[str, str]) -> Silence | None:
    return next((s for s in found if match(s, labels)), None)


def active_silence_for(engine: Engine, labels: dict[str, str], now: float) -> Silence | None:
    """The silence in force now that covers these labels (for the watch's breaches,
    whose labels come from bot.silences.labels_for), or None."""
    return first_match(active(engine, now), labels)


def expire(engine: Engine, silence_id: int, *, by: str, now: float) -> Silence | None:
    """End a silence now; None when there is no such silence in force."""
    with db.write(engine) as conn:
        ended = conn.execute(update(silences).where((_s.id == silence_id) & (_s.ends_at > now)
                                                    & _s.expired_at.is_(None))
                             .values(expired_at=now, expired_by=by)).rowcount
    return get(engine, silence_id) if ended else None


def expire_window(engine: Engine, maintenance_id: int, *, by: str, now: float) -> int:
    with db.write(engine) as conn:
        return int(conn.execute(update(silences).where((_s.maintenance_id == maintenance_id) & (_s.ends_at > now)
                                                       & _s.expired_at.is_(None))
                                .values(expired_at=now, expired_by=by)).rowcount)


# ---------------------------------------------------------------- what a silence held back

def watch_fingerprint(what: str) -> str:
    return hashlib.sha256(what.encode()).hexdigest()[:16]


def hold(conn: Connection, *, silence_id: int, source: str, group_key: str, fingerprint: str, name: str,
         status: str, severity: str | None, labels: dict[str, str], now: float, annotations: dict[str, str] | None = None,
         starts_at: str | None = None, ends_at: str | None = None, generator_url: str | None = None,
         batch: dict[str, Any] | None = None) -> None:
    """Record one alert held back: a new row, or the latest delivery of a known one."""
    key = ((_h.silence_id == silence_id) & (_h.source == source) & (_h.group_key == group_key[:400])
           & (_h.fingerprint == fingerprint[:128]))
    latest: dict[str, Any] = dict(status=status, severity=severity, labels=labels, annotations=annotations or {},
                                  starts_at=starts_at, ends_at=ends_at, generator_url=generator_url, batch=batch,
                                  name=name[:255], last_seen=now)
    if status == "resolved":
        latest["resolved_seen"] = now
    for _ in range(2):
        if conn.execute(update(silenced_alerts).where(key)
                        .values(deliveries=_h.deliveries + 1, **latest)).rowcount:
            return
        row = insert(silenced_alerts).values(silence_id=silence_id, source=source, group_key=group_key[:400],
                                             fingerprint=fingerprint[:128], first_seen=now, deliveries=1, **latest)
        if conn.dialect.name == "sqlite":  # writers take turns (bot.db.write): nobody inserts it meanwhile
            conn.execute(row)
            return
        try:
            with conn.begin_nested():
                conn.execute(row)
            return
        except IntegrityError:
            continue  # another delivery inserted it first: count ours on its row


def record_suppressed(engine: Engine, silence_id: int, what: str, labels: dict[str, str], now: float) -> None:
    """A watch breach that `silence_id` holds back. `what` names the breach (the same
    text each round for the same problem, e.g. "lag local/orders"): one row per breach,
    counted each round. The watch re-opens what still breaches after the silence by
    itself, so these rows are a record, never handed back to ingestion."""
    with db.write(engine) as conn:
        hold(conn, silence_id=silence_id, source="watch", group_key=what, fingerprint=watch_fingerprint(what),
             name=labels.get("alertname") or what, status="firing", severity=labels.get("severity"),
             labels=labels, now=now)


def held(engine: Engine, silence_ids: Sequence[int]) -> list[Held]:
    if not silence_ids:
        return []
    with engine.connect() as conn:
        rows = conn.execute(select(silenced_alerts).where(_h.silence_id.in_(list(silence_ids)))
                            .order_by(_h.first_seen, _h.id))
        return [Held.from_row(r) for r in rows]


def counts(engine: Engine, silence_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """silence id -> (alerts held back, deliveries of them)."""
    if not silence_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(_h.silence_id, func.count(), func.sum(_h.deliveries))
                            .where(_h.silence_id.in_(list(silence_ids))).group_by(_h.silence_id))
        return {int(r[0]): (int(r[1]), int(r[2] or 0)) for r in rows}


# ---------------------------------------------------------------- the end of a silence

def ended_unreleased(engine: Engine, now: float) -> list[Silence]:
    """Silences that ended (ran out or were expired) whose alerts were not handed back yet."""
    with engine.connect() as conn:
        rows = conn.execute(select(silences).where(_s.released_at.is_(None)
                                                   & ((_s.ends_at <= now) | _s.expired_at.is_not(None)))
                            .order_by(_s.id))
        return [Silence.from_row(r) for r in rows]


def claim_release(engine: Engine, silence_id: int, *, owner: str, now: float) -> bool:
    """Take the end of a silence: nobody's, ours, a lease run out, or a dead local process's."""
    with db.write(engine) as conn:
        return owners.claim(conn, silences, (_s.id == silence_id) & _s.released_at.is_(None),
                            owner_col="release_owner", until_col="release_until", owner=owner, now=now,
                            ttl=RELEASE_TTL)


def mark_released(engine: Engine, silence_id: int, *, owner: str, now: float) -> None:
    with db.write(engine) as conn:
        conn.execute(update(silences).where((_s.id == silence_id) & (_s.release_owner == owner))
                     .values(released_at=now, release_until=None))
