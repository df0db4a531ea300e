"""bot.db.migrate on SQLite files: every step once, in order, each in a transaction
with its version bump, so a crash inside a step leaves the version before it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, inspect, select, text
from sqlalchemy.engine import Connection

from bot import db
from bot.db.migrations import STEPS


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = db.create(f"sqlite:///{tmp_path / 'bot.db'}")
    yield made
    db.dispose(made)


def version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(db.schema_version.c.version)).scalar_one())


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def creating(name: str) -> db.migrations.Migration:
    def step(conn: Connection) -> None:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY)")
    return step


def test_the_shipped_steps_run_once(engine: Engine) -> None:
    assert db.migrate(engine) == len(STEPS)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert db.migrate(engine) == len(STEPS)
    assert not [s for s in statements if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP", "UPDATE"))]
    assert version(engine) == len(STEPS)


def test_steps_run_in_order_each_seeing_the_version_before_it(engine: Engine) -> None:
    seen: list[int] = []

    def note(conn: Connection) -> None:
        seen.append(int(conn.execute(select(db.schema_version.c.version)).scalar_one()))

    assert db.migrate(engine, [note, note]) == 2
    assert db.migrate(engine, [note, note, note]) == 3  # a release that appends a step runs only that one
    assert seen == [0, 1, 2]


def test_an_error_inside_a_step_leaves_the_version_and_schema_of_the_step_before(engine: Engine) -> None:
    def half_done(conn: Connection) -> None:
        creating("b")(conn)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        db.migrate(engine, [creating("a"), half_done])
    assert version(engine) == 1
    assert {"a", "b"} & tables(engine) == {"a"}  # the DDL of the failed step was rolled back with it
    assert db.migrate(engine, [creating("a"), creating("b")]) == 2


def test_a_process_dying_inside_a_step_leaves_the_step_before(tmp_path: Path, engine: Engine) -> None:
    # os._exit: no exception handler, no rollback, no atexit; only the transaction protects the file.
    child = f"""
import os
from bot import db
engine = db.create({str(engine.url)!r})
def dies(conn):
    conn.exec_driver_sql("CREATE TABLE b (id INTEGER PRIMARY KEY)")
    os._exit(3)
db.migrate(engine, [lambda conn: conn.exec_driver_sql("CREATE TABLE a (id INTEGER PRIMARY KEY)"), dies])
"""
    assert subprocess.run([sys.executable, "-c", child], timeout=60).returncode == 3
    assert version(engine) == 1
    assert {"a", "b"} & tables(engine) == {"a"}


def test_a_database_of_a_newer_release_is_left_alone(engine: Engine) -> None:
    assert db.migrate(engine, [creating("a"), creating("b")]) == 2
    assert db.migrate(engine, [creating("a")]) == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schema_version")).scalar_one() == 1
