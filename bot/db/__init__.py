"""The bot's database: engine creation, the writer lock and applying the schema's
migrations (bot.db.migrations).

SQLite (a file) by default, PostgreSQL by URL. Every piece of state lives here so
that restarts and several replicas see the same incidents, timers and approvals.
This package imports no feature: the features declare their tables on `metadata`
(for their queries), and the schema itself is what the migrations' explicit steps
create. The app runs them at start-up (bot.app.context.build).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, event, insert, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError

from bot.db import writable
from bot.db.migrations import STEPS, Migration

metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

# Any fixed number: PostgreSQL's advisory lock that migrating processes take turns on.
_MIGRATION_LOCK = 0x1DB5C4E


class WriterLock:
    """The turn of one writer at a time on a SQLite file: a thread lock for the
    writers of this process and, for a file, an flock on `<file>-writer.lock` for
    the processes sharing it (the escalation timers run in a process of their
    own). Both wait in the kernel and wake at once, unlike SQLite's busy handler."""

    def __init__(self, path: str | None) -> None:
        self._threads = threading.Lock()
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> WriterLock:
        self._threads.acquire()
        if self._path is not None and self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                pass  # no folder for it: the database is not there either, and SQLite will say so
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._threads.release()
                raise
        return self

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


_write_locks: dict[int, WriterLock] = {}
_locks_guard = threading.Lock()


def writer_lock(engine: Engine) -> AbstractContextManager[object]:
    """The lock SQLite writers take turns on (a no-op elsewhere), for code that
    writes through its own connections, such as APScheduler's job store."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _locks_guard:
        found = _write_locks.get(id(engine))
        if found is None:
            database = engine.url.database
            path = f"{os.path.abspath(database)}-writer.lock" if database and database != ":memory:" else None
            found = _write_locks[id(engine)] = WriterLock(path)
        return found


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite writers take turns on the writer lock: SQLite
    allows one writer at a time, and its own busy-wait sleeps up to 100 ms between
    tries, which is what an alert sender would feel. Reads (engine.connect()) never
    wait: WAL lets them run beside the writer. A write the storage refused (disk
    full, read-only) is remembered for readiness (bot.db.writable) until one succeeds."""
    try:
        with writer_lock(engine), engine.begin() as conn:
            yield conn
    except BaseException as exc:
        writable.record(engine, exc)
        raise
    writable.record(engine, None)


def shareable_url(engine: Engine) -> str:
    """The engine's URL for another process, a SQLite path made absolute."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        url = url.set(database=os.path.abspath(url.database))
    return url.render_as_string(hide_password=False)


def dispose(engine: Engine) -> None:
    with _locks_guard:
        lock = _write_locks.pop(id(engine), None)
    if lock is not None:
        lock.close()
    engine.dispose()


def create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    event.listen(engine, "connect", _note_read_only)
    event.listen(engine, "checkout", _reopen_read_only)
    return engine


# A connection opened while the storage was read-only stays read-only once it is
# writable again (SQLite opened the file read-only; a PostgreSQL session keeps the
# default_transaction_read_only it started with), so the bot would refuse work until
# restarted. Such a connection is opened anew at checkout once the file takes writes
# again (SQLite) or once it is a few seconds old (PostgreSQL, which cannot be asked
# cheaply); the read-only drill (tests/test_readonly_drill.py) found it.
READ_ONLY_RECHECK_S = 2.0


def _note_read_only(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
    if _opened_read_only(dbapi_connection):
        record.info["read_only_since"] = time.monotonic()


def _opened_read_only(dbapi_connection) -> bool:  # type: ignore[no-untyped-def]
    path = _sqlite_path(dbapi_connection)
    if path is not None:
        return not writable.takes_writes(path)
    if type(dbapi_connection).__module__.startswith("psycopg"):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SHOW transaction_read_only")  # the database's default, or a standby's
            row = cursor.fetchone()
        finally:
            cursor.close()
        dbapi_connection.rollback()  # SHOW began a transaction; the pool hands connections out without one
        return bool(row) and row[0] == "on"
    return False


def _reopen_read_only(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
    since = record.info.get("read_only_since")
    if since is None:
        return
    path = _sqlite_path(dbapi_connection)
    if (writable.takes_writes(path) if path is not None else time.monotonic() - since > READ_ONLY_RECHECK_S):
        raise DisconnectionError("opened while the database was read-only")  # the pool opens a new one


def _sqlite_path(dbapi_connection) -> str | None:  # type: ignore[no-untyped-def]
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return None
    row = dbapi_connection.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else None


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the console, the web server threads and the scheduler read while one writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a power cut may
    # lose the last commits but never corrupts the file; an application crash loses nothing.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def migrate(engine: Engine, steps: Sequence[Migration] = STEPS) -> int:
    """Bring the schema up to date; returns the version now in force. Each step runs
    once, in a transaction of its own with its version bump, so a crash half-way
    leaves the schema and the version of the step before. Processes starting
    together on one database take turns, and the later ones find the work done."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # pysqlite opens no transaction before DDL, so a CREATE would commit on
            # its own: on this connection the transactions are begun by hand (_step).
            conn.execution_options(isolation_level="AUTOCOMMIT")
        while True:
            with _step(engine, conn):
                current = _version(conn)
                if current >= len(steps):
                    return current
                steps[current](conn)
                conn.execute(update(schema_version).values(version=current + 1))


@contextmanager
def _step(engine: Engine, conn: Connection) -> Iterator[None]:
    if engine.dialect.name != "sqlite":
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            yield
        return
    with writer_lock(engine):
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # IMMEDIATE: the version read below stays true until COMMIT
        try:
            yield
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


def _version(conn: Connection) -> int:
    schema_version.create(conn, checkfirst=True)
    current = conn.execute(select(schema_version.c.version)).scalar()
    if current is None:
        conn.execute(insert(schema_version).values(version=0))
        return 0
    return int(current)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
