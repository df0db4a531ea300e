"""Whether the database takes writes: the last write's outcome, per engine. A full
disk or a read-only file does not stop reads (`SELECT 1` still answers), so readiness
asks this too, and an entry point that could not store something says why."""

from __future__ import annotations

import os
import threading
import time

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

FULL, READ_ONLY, IO_ERRORS = "its disk is full", "it is read-only", "its disk gives I/O errors"
# SQLite's and PostgreSQL's words for storage that cannot take a write, and ours.
_KINDS = (
    ("database or disk is full", FULL),
    ("no space left on device", FULL),
    ("could not extend file", FULL),
    ("readonly database", READ_ONLY),
    ("read-only", READ_ONLY),
    ("disk i/o error", IO_ERRORS),
)

_lock = threading.Lock()
_failed: dict[int, tuple[float, str]] = {}


def storage_problem(exc: BaseException, database: str | None = None) -> str | None:
    """`exc` in a few words when it says the storage cannot take writes, else None.
    `database`: the SQLite file, to tell a read-only one from a failing disk."""
    known = getattr(exc, "storage_problem", None)
    if isinstance(known, str):
        return known
    text = str(getattr(exc, "orig", None) or exc).lower()
    said = next((said for words, said in _KINDS if words in text), None)
    if said == IO_ERRORS and database and not takes_writes(database):
        # A file SQLite holds open that turns read-only (the kernel refuses the write with
        # EPERM or EROFS) is a "disk I/O error" to it; a connection opened after says "readonly".
        return READ_ONLY
    return said


def refused(exc: BaseException) -> str | None:
    """For a loop that logs its failures: the storage problem when `exc` is the database
    refusing a write (said in one line: a traceback adds nothing), else None."""
    return storage_problem(exc) if isinstance(exc, DBAPIError) else None


def takes_writes(path: str) -> bool:
    """Whether a SQLite file and its folder accept writes now (root included: a read-only
    mount or an immutable file refuses root too)."""
    folder = os.path.dirname(os.path.abspath(path))
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK)


def sqlite_file(engine: Engine) -> str | None:
    database = engine.url.database
    return database if engine.dialect.name == "sqlite" and database and database != ":memory:" else None


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
    """After a write: None when it went through, else its error. A refusal's diagnosis
    is kept on the error too, for whoever words the answer (storage_problem)."""
    with _lock:
        if exc is None:
            _failed.pop(id(engine), None)
        elif isinstance(exc, DBAPIError) and (problem := storage_problem(exc, sqlite_file(engine))):
            exc.storage_problem = problem  # type: ignore[attr-defined]
            _failed[id(engine)] = (time.time(), problem)


def problem(engine: Engine) -> str | None:
    """Why the last write failed, when the storage refused it and no write went through since."""
    with _lock:
        found = _failed.get(id(engine))
    return None if found is None else f"the database cannot take writes: {found[1]} (last write failed at " \
        f"{time.strftime('%H:%M:%S', time.gmtime(found[0]))} UTC)"
