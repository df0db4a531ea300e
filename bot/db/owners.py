"""Names of the processes that hold something in the database (a lease, a claim):
"host:pid:tag", so that a process of this host can tell that an owner is gone."""

from __future__ import annotations

import os
import socket
import uuid

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
