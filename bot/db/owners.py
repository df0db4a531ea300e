"""Names of the processes that hold something in the database (a lease, a claim):
"host:pid:tag", so that a process of this host can tell that an owner is gone."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from sqlalchemy import ColumnElement, Table, select, update
from sqlalchemy.engine import Connection

_name: tuple[int, str] | None = None


def this_process() -> str:
    """This process's name, the same for all its claims (a forked child gets its own)."""
    global _name
    if _name is None or _name[0] != os.getpid():
        _name = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    return _name[1]


def dead_here(owner: str) -> bool:
    """True when `owner` ("host:pid:tag") was a process of this host that no longer
    runs: a restarted bot need not wait for its own old lease to expire."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim(conn: Connection, table: Table, where: ColumnElement[bool], *, owner_col: str, until_col: str,
          owner: str, now: float, ttl: float, mine_too: bool = True, values: dict[str, Any] | None = None) -> bool:
    """Compare-and-set claim, with a lease, of the row `where` selects: taken when it is
    nobody's, its lease ran out, its owner is a dead process of this host, or (with
    `mine_too`) it is already ours, which renews it. False while a live process holds it,
    or once `where` no longer selects it (done). `values` are set with the claim."""
    holder_c, until_c = table.c[owner_col], table.c[until_col]
    taken = {owner_col: owner, until_col: now + ttl, **(values or {})}
    free = holder_c.is_(None) | (until_c < now)
    if mine_too:
        free = free | (holder_c == owner)
    if conn.execute(update(table).where(where & free).values(**taken)).rowcount:
        return True
    holder = conn.execute(select(holder_c).where(where)).scalar()
    if holder is None or holder == owner or not dead_here(holder):
        return False
    return bool(conn.execute(update(table).where(where & (holder_c == holder)).values(**taken)).rowcount)
