"""Maintenance windows in the database, and the silences each one makes: the noise
the guide's broker maintenance is expected to cause on its scope.

A broker's window silences alerts naming that broker, the cluster's under-replicated,
offline-partition and leadership alerts (while one broker restarts, its partitions
are), and consumer lag on the cluster; a cluster's window silences every broker-health
alert of the cluster and its lag. `runbook` is the runbook routing picks for an
alert (bot.silences.alerts), so the silences cover every rule set's names for these.
The timer owner polls and finishes windows under claims in their rows (the end under
an owner and a lease, like an incident's announcement).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from bot import db
from bot.db import owners
from bot.silences import store
from bot.silences.matchers import Matcher
from bot.silences.model import Silence, Window
from bot.silences.tables import maintenance_windows

LAG_RUNBOOKS = "high-consumer-lag|consumer-group-stuck|rebalancing"
REPLICATION_NAMES = r"(?i).*(under.?replicated|under.?min.?isr|isr|offline|replica|leader).*"

_w = maintenance_windows.c


def noise(scope: str, cluster: str, broker: str | None, *, default_cluster: bool) -> list[list[Matcher]]:
    """The matcher sets of a window's silences (one silence each)."""
    on = Matcher(name="cluster", value=cluster, subject=True, absent_ok=default_cluster)
    lag = [on, Matcher(name="runbook", op="=~", value=LAG_RUNBOOKS)]
    if scope == "cluster":
        return [[on, Matcher(name="runbook", value="broker-health")], lag]
    assert broker is not None
    return [[on, Matcher(name="broker", value=broker, subject=True)],
            [on, Matcher(name="runbook", value="broker-health"),
             Matcher(name="alertname", op="=~", value=REPLICATION_NAMES)],
            lag]


def create(engine: Engine, *, scope: str, cluster: str, broker: str | None, seconds: float, reason: str,
           created_by: str, now: float, default_cluster: bool) -> tuple[Window, list[Silence]]:
    """The window and its silences, in one transaction: in force at once."""
    with db.write(engine) as conn:
        pk = int(conn.execute(insert(maintenance_windows).values(
            scope=scope, cluster=cluster, broker=broker, reason=reason, created_by=created_by, starts_at=now,
            ends_at=now + seconds)).inserted_primary_key[0])
        made = [store.create(engine, matchers=m, seconds=seconds, reason=f"maintenance M-{pk}: {reason}",
                             created_by=created_by, now=now, maintenance_id=pk, conn=conn)
                for m in noise(scope, cluster, broker, default_cluster=default_cluster)]
        row = conn.execute(select(maintenance_windows).where(_w.id == pk)).one()
    return Window.from_row(row), made


def get(engine: Engine, pk: int) -> Window | None:
    with engine.connect() as conn:
        row = conn.execute(select(maintenance_windows).where(_w.id == pk)).first()
    return Window.from_row(row) if row else None


def unfinished(engine: Engine) -> list[Window]:
    with engine.connect() as conn:
        rows = conn.execute(select(maintenance_windows).where(_w.finished_at.is_(None)).order_by(_w.id))
        return [Window.from_row(r) for r in rows]


def overlapping(engine: Engine, *, scope: str, cluster: str, broker: str | None, now: float) -> Window | None:
    """An unfinished window in force on the same scope."""
    return next((w for w in unfinished(engine) if w.ends_at > now and w.cluster == cluster and w.scope == scope
                 and w.broker == broker), None)


def set_thread(engine: Engine, pk: int, *, channel: str, thread_ts: str, baseline: dict[str, Any],
               next_poll_at: float) -> None:
    with db.write(engine) as conn:
        conn.execute(update(maintenance_windows).where(_w.id == pk).values(
            channel=channel, thread_ts=thread_ts, baseline=baseline, last=baseline, next_poll_at=next_poll_at))


def claim_poll(engine: Engine, pk: int, *, now: float, lease: float) -> bool:
    """Take the next poll of a window: its due time moves forward by `lease`, which
    the poll sets properly when done (a poll that died is retried after the lease)."""
    with db.write(engine) as conn:
        return bool(conn.execute(update(maintenance_windows).where(
            (_w.id == pk) & _w.finished_at.is_(None) & (_w.next_poll_at <= now)
        ).values(next_poll_at=now + lease)).rowcount)


def polled(engine: Engine, pk: int, *, next_poll_at: float, last: dict[str, Any] | None = None) -> None:
    values: dict[str, Any] = {"next_poll_at": next_poll_at}
    if last is not None:
        values["last"] = last
    with db.write(engine) as conn:
        conn.execute(update(maintenance_windows).where(_w.id == pk).values(**values))


def end_early(engine: Engine, pk: int, *, by: str, now: float) -> bool:
    """Bring a window's end to now (and its silences'); False when it had ended."""
    with db.write(engine) as conn:
        ended = conn.execute(update(maintenance_windows).where(
            (_w.id == pk) & (_w.ends_at > now) & _w.finished_at.is_(None)).values(ends_at=now, ended_by=by)).rowcount
    if ended:
        store.expire_window(engine, pk, by=by, now=now)
    return bool(ended)


DONE = 3  # the end's posts: the verdict, what fired while silenced, the parent's edit


def to_finish(engine: Engine, now: float) -> list[Window]:
    """Windows that ended and whose end is not all posted yet (claimed or not)."""
    with engine.connect() as conn:
        rows = conn.execute(select(maintenance_windows).where(
            (_w.ends_at <= now) & (_w.finish_step.is_(None) | (_w.finish_step < DONE))).order_by(_w.id))
        return [Window.from_row(r) for r in rows]


def claim_finish(engine: Engine, pk: int, *, owner: str, now: float, lease: float) -> bool:
    """Take the end of a window nobody alive is posting: never claimed, its lease run
    out, or its owner a dead process of this host. False while a live process (this
    one included: its work is queued) holds it, or once it is all posted."""
    pending = (_w.id == pk) & (_w.ends_at <= now) & (_w.finish_step.is_(None) | (_w.finish_step < DONE))
    with db.write(engine) as conn:
        return owners.claim(conn, maintenance_windows, pending, owner_col="finish_owner", until_col="finish_until",
                            owner=owner, now=now, ttl=lease, mine_too=False,
                            values={"finished_at": func.coalesce(_w.finished_at, now)})


def renew_finish(engine: Engine, pk: int, *, owner: str, now: float, lease: float) -> bool:
    """Before each post: the claim is still ours (False: taken over meanwhile)."""
    with db.write(engine) as conn:
        return bool(conn.execute(update(maintenance_windows).where((_w.id == pk) & (_w.finish_owner == owner))
                                 .values(finish_until=now + lease)).rowcount)


def finished_step(engine: Engine, pk: int, *, owner: str, step: int) -> None:
    """Right after a post went out: a take-over starts after it."""
    values: dict[str, Any] = {"finish_step": step}
    if step >= DONE:
        values["finish_until"] = None
    with db.write(engine) as conn:
        conn.execute(update(maintenance_windows).where((_w.id == pk) & (_w.finish_owner == owner)).values(**values))
