"""A recovery posted once, whatever dies when. The round decides it in the same write
that forgets the breach (bot.watch.store.save); from then on it is a row here, claimed
by one process with a lease like an incident's announcement (bot.incidents.claims):
post "Recovered" in the thread of the incident the breach belongs to now, mark it
posted, hand the resolved alert to the incidents, forget the row. A process killed
before the post leaves the row to the next round of whoever owns the timers; one
killed after it, to a take-over that skips the post and finishes the rest."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from bot import db
from bot.db import owners
from bot.db.owners import dead_here, this_process
from bot.health.verdict import Level
from bot.incidents import flows, service
from bot.incidents import store as incident_store
from bot.incidents.model import Incident, Status
from bot.incidents.tables import alert_dedup
from bot.reports.markup import escape
from bot.watch.alert import SOURCE, batch
from bot.watch.judge import Observation, State
from bot.watch.tables import watch_recoveries

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)
LEASE_S = 60.0  # a post and a resolved alert, with the chat client's retries

_r = watch_recoveries.c


def text(seen: Observation | None, state: State, minutes: float) -> str:
    return (f":white_check_mark: Recovered: {escape(seen.text if seen else state.last_text)} "
            f"— below the recovery mark for {minutes:g} min (watch).")


def record(conn: Connection, state: State, seen: Observation | None, message: str, now: float) -> int:
    """Inside the round's write: the recovery, claimed by this process."""
    kept = {**asdict(state), "level": int(state.level), "opened_level": int(state.opened_level),
            "value": seen.value if seen else None}
    return int(conn.execute(insert(watch_recoveries).values(
        key=state.key, incident_id=state.incident_id, state=kept, text=message, decided_at=now,
        owner=this_process(), lease_until=now + LEASE_S)).inserted_primary_key[0])


def _state(row: Any) -> tuple[State, Observation]:
    s = dict(row.state)
    value = s.pop("value", None)
    state = State(**{**s, "level": Level(s["level"]), "opened_level": Level(s["opened_level"])})
    seen = Observation(key=state.key, kind=state.kind, runbook=state.runbook, level=Level.OK, recovered=True,
                       text=state.last_text, labels=state.labels, value=value)
    return state, seen


def now_in(conn: Connection, key: str) -> int | None:
    """The open incident a watched key's alerts belong to now: a split or a merge
    moves them (bot.incidents.regroup), and the dedup row follows."""
    return conn.execute(select(alert_dedup.c.incident_id).where(alert_dedup.c.key == f"{SOURCE}:{key}")).scalar()


def all_now_in(conn: Connection, keys: list[str]) -> dict[str, int]:
    """now_in() for many keys, a few queries for a whole round's breaches."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        wanted = [f"{SOURCE}:{k}" for k in keys[start:start + 500]]
        rows = conn.execute(select(alert_dedup.c.key, alert_dedup.c.incident_id).where(alert_dedup.c.key.in_(wanted)))
        found.update({key.removeprefix(f"{SOURCE}:"): pk for key, pk in rows})
    return found


def target(ctx: BotContext, key: str, fallback: int | None) -> Incident | None:
    with ctx.engine.connect() as conn:
        pk = now_in(conn, key) or fallback
        return incident_store.get(conn, pk=pk) if pk is not None else None


def _claim(conn: Connection, rid: int, owner: str, now: float) -> Any:
    if not owners.claim(conn, watch_recoveries, _r.id == rid, owner_col="owner", until_col="lease_until",
                        owner=owner, now=now, ttl=LEASE_S):
        return None
    return conn.execute(select(watch_recoveries).where(_r.id == rid)).one()


def post(ctx: BotContext, rid: int) -> None:
    """The work of one recovery (on the work pool, queued behind its incident's other work)."""
    me = this_process()
    with db.write(ctx.engine) as conn:
        row = _claim(conn, rid, me, time.time())
    if row is None:
        return  # done, or another live process holds it
    state, seen = _state(row)
    incident = target(ctx, row.key, row.incident_id)
    if row.posted_at is None:
        if incident is not None and incident.status is not Status.RESOLVED:
            flows.post(ctx, incident, row.text)
        with db.write(ctx.engine) as conn:
            conn.execute(update(watch_recoveries).where((_r.id == rid) & (_r.owner == me))
                         .values(posted_at=time.time()))
    outcome = flows.take_alerts(ctx, batch(state, seen, firing=False))
    fresh = outcome.incident
    if (ctx.settings.watch.resolve_on_recovery and fresh is not None and fresh.alerts_resolved
            and fresh.status is not Status.RESOLVED):
        change = service.resolve(ctx.engine, fresh, actor=SOURCE, now=time.time(),
                                 note="every watched breach recovered (watch.resolve_on_recovery)")
        flows.announce_change(ctx, fresh, change.message)
    with db.write(ctx.engine) as conn:
        conn.execute(delete(watch_recoveries).where(_r.id == rid))


def submit(ctx: BotContext, rid: int, key: str, fallback: int | None) -> None:
    """Queue one recovery behind the other work of its incident: "Recovered" before
    the resolved alert's own lines, in the thread it belongs to now."""
    incident = target(ctx, key, fallback)
    queue = flows.key(incident) if incident is not None else f"watch-recovery:{rid}"
    ctx.work.submit(lambda: post(ctx, rid), key=queue, lane="alerts")


def take_over(ctx: BotContext) -> int:
    """At each round: queue the recoveries nobody alive is posting (their process died,
    or their lease ran out). This process's own live claims are queued already."""
    me, now = this_process(), time.time()
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(_r.id, _r.key, _r.incident_id, _r.owner, _r.lease_until)
                            .order_by(_r.id)).all()
    left = [r for r in rows if r.owner is None or r.lease_until is None or r.lease_until < now
            or (r.owner != me and dead_here(r.owner))]
    for r in left:
        submit(ctx, r.id, r.key, r.incident_id)
    if left:
        log.info("watch: posting %d recovery(ies) a stopped process had decided", len(left))
    return len(left)
