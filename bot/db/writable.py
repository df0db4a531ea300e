"""Whether the database takes writes: the last write's outcome, per engine. A full
disk or a read-only file does not stop reads (`SELECT 1` still answers), so readiness
asks this too, and an entry point that could not store something says why."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

# SQLite's and PostgreSQL's words for storage that cannot take a write, and ours.
_KINDS = (
    ("database or disk is full", "its disk is full"),
    ("no space left on device", "its disk is full"),
    ("could not extend file", "its disk is full"),
    ("readonly database", "it is read-only"),
    ("read-only", "it is read-only"),
    ("disk i/o error", "its disk gives I/O errors"),
)

_lock = threading.Lock()
_failed: dict[int, tuple[float, str]] = {}


def storage_problem(exc: BaseException) -> str | None:
    """`exc` in a few words when it says the storage cannot take writes, else None."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return next((said for words, said in _KINDS if words in text), None)


# How a server that is down, stopping or starting answers (PostgreSQL through psycopg).
_AWAY = ("connection failed", "connection refused", "could not connect", "server closed the connection",
         "terminating connection", "the database system is starting up", "the database system is shutting down",
         "connection is closed", "connection timeout expired")


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database server cannot be reached (stopped, restarting,
    the network): a passing outage to retry, not a fault worth a traceback."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(words in text for words in _AWAY)


def record(engine: Engine, exc: BaseException | None) -> None:
    """After a write: None when it went through, else its error."""
    with _lock:
        if exc is None:
            _failed.pop(id(engine), None)
        elif isinstance(exc, DBAPIError) and (problem := storage_problem(exc)):
            _failed[id(engine)] = (time.time(), problem)


def problem(engine: Engine) -> str | None:
    """Why the last write failed, when the storage refused it and no write went through since."""
    with _lock:
        found = _failed.get(id(engine))
    return None if found is None else f"the database cannot take writes: {found[1]} (last write failed at " \
        f"{time.strftime('%H:%M:%S', time.gmtime(found[0]))} UTC)"
