"""Who announces an incident: its parent message, checklist and first checks go
out once, whichever replica and whichever path (the alert's own work, the sweep at
start, the timer owner's take-over duty) gets there. Claimed like a ladder step:
a compare-and-set on the row naming the replica, with a lease; a claim whose lease
ran out, or whose owner is a dead process of this host, may be taken by anyone."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from bot.db import owners
from bot.db.owners import dead_here
from bot.incidents.model import Incident, Status
from bot.incidents.tables import incidents

# Long enough for a parent message and a checklist, with the client's retries.
TTL = 30.0
# After a failed announcement: soon, but not at every sweep while the chat is down.
RETRY_AFTER = 3.0

_c = incidents.c


def _unannounced(incident_id: int):  # type: ignore[no-untyped-def]
    return (_c.id == incident_id) & _c.announced_at.is_(None)


def claim(conn: Connection, *, incident_id: int, owner: str, now: float, ttl: float = TTL) -> bool:
    """Take (or renew) the announcement of an incident not yet announced; False
    while another live replica holds it, or once it is done."""
    return owners.claim(conn, incidents, _unannounced(incident_id), owner_col="announce_owner",
                        until_col="announce_until", owner=owner, now=now, ttl=ttl)


def renew(conn: Connection, *, incident_id: int, owner: str, now: float, ttl: float = TTL) -> bool:
    """Extend our claim before the next post; False if it was taken over meanwhile."""
    return bool(conn.execute(update(incidents).where(_unannounced(incident_id) & (_c.announce_owner == owner))
                             .values(announce_until=now + ttl)).rowcount)


def retry_soon(conn: Connection, *, incident_id: int, owner: str, now: float, after: float = RETRY_AFTER) -> bool:
    """Our announcement failed (the chat refused it): shorten our claim so the sweep
    takes it again in `after` seconds instead of when the lease would have run out."""
    return bool(conn.execute(update(incidents).where(_unannounced(incident_id) & (_c.announce_owner == owner))
                             .values(announce_until=now + after)).rowcount)


def finish(conn: Connection, *, incident_id: int, owner: str, now: float) -> bool:
    """The announcement is out; the owner stays named on the row."""
    return bool(conn.execute(update(incidents).where(_unannounced(incident_id) & (_c.announce_owner == owner))
                             .values(announced_at=now, announce_until=None)).rowcount)


def waiting(conn: Connection, *, owner: str, now: float) -> list[Incident]:
    """Open incidents not announced whose claim `owner` may take: nobody's, expired,
    or a dead local process's (its own live claims are in its own queue already)."""
    rows = conn.execute(select(incidents).where(_c.announced_at.is_(None) & (_c.status != Status.RESOLVED.value))
                        .order_by(_c.id))
    found = []
    for row in rows:
        holder, until = row.announce_owner, row.announce_until
        if holder is None or until is None or until < now or (holder != owner and dead_here(holder)):
            found.append(Incident.from_row(row))
    return found
