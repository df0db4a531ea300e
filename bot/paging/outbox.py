"""The paging outbox's rows. A page is a row before it is a request: written after
the ladder step's claim (so never before it), claimed with a compare-and-set naming
one process and a lease (so one sender at a time), and marked sent after the
vendor took it. A process killed between the claim and the mark leaves the row
pending under a dead owner; whoever sees the lease run out (at once, for a dead
process of this host) claims it and sends it. That resend may repeat a request the
vendor already took; the dedup key (the incident's id) makes it land on the same
alert."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.db import owners
from bot.db.owners import dead_here
from bot.paging.tables import pages

_c = pages.c
FOLLOW_UP = "*"  # the step of an acknowledge or resolve: it concerns the pager's alert, whichever step raised it


@dataclass(frozen=True)
class Page:
    id: int
    incident_id: int
    step: str
    pager: str
    action: str
    status: str
    owner: str | None
    lease_until: float | None
    attempts: int
    created_at: float
    sent_at: float | None
    last_error: str | None
    detail: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> "Page":
        m = row._mapping
        return cls(id=m["id"], incident_id=m["incident_id"], step=m["step"], pager=m["pager"], action=m["action"],
                   status=m["status"], owner=m["owner"], lease_until=m["lease_until"], attempts=m["attempts"],
                   created_at=m["created_at"], sent_at=m["sent_at"], last_error=m["last_error"],
                   detail=dict(m["detail"] or {}))


def enqueue(conn: Connection, *, incident_id: int, step: str, pager: str, action: str, owner: str, now: float,
            ttl: float, detail: dict[str, Any] | None = None, status: str = "pending") -> int | None:
    """The row's id, owned by `owner` for `ttl` seconds; None if the page was already
    written (by an earlier run of the step, or another replica): pages are once per
    (incident, step, pager, action)."""
    try:
        with conn.begin_nested():  # a savepoint: PostgreSQL aborts the whole transaction otherwise
            return int(conn.execute(insert(pages).values(
                incident_id=incident_id, step=step, pager=pager, action=action, status=status, owner=owner,
                lease_until=now + ttl, attempts=0, created_at=now, detail=detail or {},
                settled=0)).inserted_primary_key[0])
    except IntegrityError:
        return None


def get(conn: Connection, page_id: int) -> Page | None:
    row = conn.execute(select(pages).where(_c.id == page_id)).first()
    return Page.from_row(row) if row else None


def for_incident(conn: Connection, incident_id: int) -> list[Page]:
    return [Page.from_row(r) for r in conn.execute(select(pages).where(_c.incident_id == incident_id)
                                                   .order_by(_c.id))]


def claim(conn: Connection, *, page_id: int, owner: str, now: float, ttl: float) -> bool:
    """Take (or renew) a pending page; False while another live process holds it, or once it is done."""
    return owners.claim(conn, pages, (_c.id == page_id) & (_c.status == "pending"), owner_col="owner",
                        until_col="lease_until", owner=owner, now=now, ttl=ttl, values={"attempts": _c.attempts + 1})


def renew(conn: Connection, *, page_id: int, owner: str, now: float, ttl: float) -> bool:
    return bool(conn.execute(update(pages).where((_c.id == page_id) & (_c.status == "pending") & (_c.owner == owner))
                             .values(lease_until=now + ttl)).rowcount)


def finish(conn: Connection, *, page_id: int, owner: str, status: str, now: float, error: str | None = None,
           detail: dict[str, Any] | None = None) -> bool:
    """Record the outcome; False if the page was not ours any more (taken over)."""
    values: dict[str, Any] = {"status": status, "lease_until": None, "last_error": error}
    if status == "sent":
        values["sent_at"] = now
    if detail is not None:
        values["detail"] = detail
    return bool(conn.execute(update(pages).where((_c.id == page_id) & (_c.status == "pending") & (_c.owner == owner))
                             .values(**values)).rowcount)


def orphans(conn: Connection, *, owner: str, now: float) -> list[Page]:
    """Pending pages `owner` may take: nobody's, expired, or a dead local process's."""
    rows = conn.execute(select(pages).where(_c.status == "pending").order_by(_c.id))
    found = []
    for row in rows:
        page = Page.from_row(row)
        if (page.owner is None or page.lease_until is None or page.lease_until < now
                or (page.owner != owner and dead_here(page.owner))):
            found.append(page)
    return found


def unsettled(conn: Connection) -> list[Page]:
    """Triggers sent whose pager has not been told of the incident's resolution yet
    (by the index on settled, action, status)."""
    rows = conn.execute(select(pages).where((_c.settled == 0) & (_c.action == "trigger") & (_c.status == "sent")))
    return [Page.from_row(r) for r in rows]


def settle(conn: Connection, *, incident_id: int, pager: str) -> None:
    """The pager's alert for this incident is resolved (a resolve written): its
    triggers need no more looking at."""
    conn.execute(update(pages).where((_c.incident_id == incident_id) & (_c.pager == pager)
                                     & (_c.action == "trigger")).values(settled=1))


def follow_ups(conn: Connection, incident_ids: list[int]) -> set[tuple[int, str, str]]:
    """(incident, pager, action) of the acknowledges and resolves already written."""
    if not incident_ids:
        return set()
    rows = conn.execute(select(_c.incident_id, _c.pager, _c.action).where(
        _c.incident_id.in_(incident_ids) & (_c.step == FOLLOW_UP)))
    return {(r.incident_id, r.pager, r.action) for r in rows}
