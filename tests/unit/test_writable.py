"""bot.db.writable: which database errors mean the storage cannot take writes, and
the remembered state readiness reads."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.db import writable

CASES = [
    ("sqlite full", OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")),
     "its disk is full"),
    ("sqlite read-only", OperationalError("INSERT", {}, sqlite3.OperationalError(
        "attempt to write a readonly database")), "it is read-only"),
    ("postgres full", OperationalError("INSERT", {}, Exception('could not extend file "base/1/2": No space left '
                                                                "on device")), "its disk is full"),
    ("postgres read-only", OperationalError("INSERT", {}, Exception(
        "cannot execute INSERT in a read-only transaction")), "it is read-only"),
    ("I/O", OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error")), "its disk gives I/O errors"),
    ("locked is not storage", OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")), None),
    ("a constraint is not storage", IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), None),
]


@pytest.mark.parametrize(("exc", "said"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_storage_problem(exc: Exception, said: str | None) -> None:
    assert writable.storage_problem(exc) == said


def test_a_refused_write_is_remembered_until_one_goes_through() -> None:
    engine = create_engine("sqlite://")
    assert writable.problem(engine) is None
    writable.record(engine, OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")))
    assert (writable.problem(engine) or "").startswith("the database cannot take writes: its disk is full")
    writable.record(engine, OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")))
    assert writable.problem(engine) is not None  # another error says nothing about the disk
    writable.record(engine, None)
    assert writable.problem(engine) is None


IO_ERROR = OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))


@pytest.mark.parametrize(("file_writable", "said"), [(True, "its disk gives I/O errors"), (False, "it is read-only")])
def test_an_io_error_on_a_sqlite_file_that_refuses_writes_is_read_only(
        monkeypatch: pytest.MonkeyPatch, file_writable: bool, said: str) -> None:
    # A file SQLite holds open that turns read-only is "disk I/O error" to it (the kernel's EPERM or EROFS).
    monkeypatch.setattr(writable.os, "access", lambda path, mode: file_writable)
    assert writable.storage_problem(IO_ERROR, "/data/bot.db") == said
    assert writable.storage_problem(IO_ERROR) == "its disk gives I/O errors"  # no file to look at


def test_the_diagnosis_recorded_is_the_one_answers_give() -> None:
    engine = create_engine("sqlite://")
    exc = OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))
    exc.storage_problem = "it is read-only"  # type: ignore[attr-defined] - what record() found with the file
    assert writable.storage_problem(exc) == "it is read-only"
    assert writable.refused(exc) == "it is read-only"
    assert writable.refused(RuntimeError("read-only")) is None  # not the database's answer
    assert writable.problem(engine) is None


def _invalidated() -> OperationalError:
    exc = OperationalError("SELECT 1", {}, Exception("SSL SYSCALL error: EOF detected"))
    exc.connection_invalidated = True  # what SQLAlchemy sets when the dialect calls it a disconnect
    return exc


UNREACHABLE = [
    ("refused", OperationalError(None, None, Exception(
        'connection failed: connection to server at "127.0.0.1", port 5433 failed: Connection refused')), True),
    ("stopping", OperationalError("SELECT 1", {}, Exception(
        "terminating connection due to administrator command")), True),
    ("starting", OperationalError(None, None, Exception("FATAL:  the database system is starting up")), True),
    ("closed under a query", OperationalError("SELECT 1", {}, Exception(
        "server closed the connection unexpectedly")), True),
    ("invalidated", _invalidated(), True),
    ("disk full is reachable", OperationalError("INSERT", {}, Exception("No space left on device")), False),
    ("a constraint", IntegrityError("INSERT", {}, Exception("duplicate key value")), False),
    ("not a database error", ConnectionRefusedError("connection refused"), False),
]


@pytest.mark.parametrize(("exc", "away"), [c[1:] for c in UNREACHABLE], ids=[c[0] for c in UNREACHABLE])
def test_unreachable(exc: Exception, away: bool) -> None:
    assert writable.unreachable(exc) is away
