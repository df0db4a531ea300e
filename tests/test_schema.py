"""The schema the migrations build is the schema the features query, on SQLite and on
PostgreSQL: for a fresh database, and for one the previous migration code built
(replayed from tests/data/schema_v6.*.sql). The features' tables are found by
reading bot/, so a table or column added without its migration step fails here."""

from __future__ import annotations

import ast
import importlib
import threading
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, UniqueConstraint, func, inspect, select
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine

import bot
from bot import db
from tests.conftest import postgres_database

DATA = Path(__file__).parent / "data"
NOT_MIGRATED = {"apscheduler_jobs"}  # APScheduler's job store creates its own table


def table_modules() -> list[str]:
    """The modules under bot/ that declare a SQLAlchemy Table (a call `Table("name", ...)`)."""
    root = Path(bot.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Table"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
                found.append(module.removesuffix(".__init__"))
                break
    return found


def declared() -> dict[str, Table]:
    """Every Table the features declare, whichever MetaData it is on."""
    tables: dict[str, Table] = {}
    for name in table_modules():
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, Table):
                tables[value.name] = value
    return tables


def affinity(kind: TypeEngine[Any]) -> str:
    """What a column holds, as both databases report it back (PostgreSQL's FLOAT is a
    DOUBLE PRECISION, SQLite keeps the declared name)."""
    checks: list[tuple[type[TypeEngine[Any]], str]] = [
        (sqltypes.Boolean, "boolean"), (sqltypes.JSON, "json"), (sqltypes.BigInteger, "bigint"),
        (sqltypes.Integer, "integer"), (sqltypes.Float, "float"), (sqltypes.Text, "text"),
    ]
    for cls, name in checks:
        if isinstance(kind, cls):
            return name
    if isinstance(kind, sqltypes.String):
        return f"varchar({kind.length})" if kind.length else "text"
    return type(kind).__name__.lower()


def _default(default: Any) -> str | None:
    return None if default is None else str(getattr(default, "arg", default))


def expected(tables: dict[str, Table], dialect: str) -> dict[str, dict[str, Any]]:
    shape = {}
    for name, table in tables.items():
        serial = table.autoincrement_column
        shape[name] = {
            "columns": {c.name: (affinity(c.type), c.nullable,
                                 "serial" if c is serial and dialect == "postgresql" else _default(c.server_default))
                        for c in table.columns},
            "primary_key": [c.name for c in table.primary_key],
            "indexes": sorted((i.name, tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes),
            "unique": sorted(tuple(c.name for c in u.columns) for u in table.constraints
                             if isinstance(u, UniqueConstraint)),
            "foreign_keys": sorted((tuple(fk.column_keys), fk.referred_table.name,
                                    tuple(e.column.name for e in fk.elements), fk.ondelete)
                                   for fk in table.foreign_key_constraints),
        }
    return shape


def found(engine: Engine) -> dict[str, dict[str, Any]]:
    """The same shape, as the database itself reports it."""
    inspector = inspect(engine)
    shape = {}
    for name in set(inspector.get_table_names()) - NOT_MIGRATED:
        columns = {}
        for c in inspector.get_columns(name):
            default = c.get("default")
            if default is not None and str(default).startswith("nextval("):
                default = "serial"  # PostgreSQL's SERIAL: an integer primary key's sequence
            columns[c["name"]] = (affinity(c["type"]), c["nullable"], default)
        shape[name] = {
            "columns": columns,
            "primary_key": inspector.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(name) if not i.get("duplicates_constraint")),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)),
            "foreign_keys": sorted((tuple(fk["constrained_columns"]), fk["referred_table"],
                                    tuple(fk["referred_columns"]), fk["options"].get("ondelete"))
                                   for fk in inspector.get_foreign_keys(name)),
        }
    return shape


def constraint_names(engine: Engine) -> dict[str, list[str | None]]:
    """Names a database gave its constraints and indexes: equal between a fresh and
    an old database, so that a later step can drop them by name on either."""
    inspector = inspect(engine)
    return {name: sorted([i["name"] for i in inspector.get_indexes(name)]
                         + [u["name"] for u in inspector.get_unique_constraints(name)]
                         + [fk["name"] for fk in inspector.get_foreign_keys(name)], key=str)
            for name in inspector.get_table_names()}


def version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(db.schema_version.c.version)).scalar_one())


def replay(engine: Engine, dump: Path) -> None:
    with engine.begin() as conn:
        for statement in dump.read_text().split(";\n"):
            lines = [line for line in statement.splitlines() if not line.startswith("--")]
            if "".join(lines).strip():
                conn.exec_driver_sql("\n".join(lines))


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one kind: one for the migrations, one for the old schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}", f"sqlite:///{tmp_path / 'old.db'}"
        return
    with postgres_database() as fresh, postgres_database() as old:
        yield fresh, old


def test_migrations_build_the_features_tables_and_the_old_schema_matches(urls: tuple[str, str]) -> None:
    fresh, old = (db.create(url) for url in urls)
    try:
        assert db.migrate(fresh) == len(db.migrations.STEPS)
        dialect = fresh.dialect.name
        tables = declared()
        assert set(tables) == set(found(fresh))  # nothing unmigrated, nothing extra
        assert found(fresh) == expected(tables, dialect)

        replay(old, DATA / f"schema_v6.{dialect}.sql")
        assert version(old) == 6 and db.migrate(old) == len(db.migrations.STEPS)
        assert found(old) == found(fresh)
        assert constraint_names(old) == constraint_names(fresh)
    finally:
        db.dispose(fresh)
        db.dispose(old)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_processes_starting_together_migrate_once(kind: str, tmp_path: Path) -> None:
    """Replicas started together: each migrates on its own engine, they take turns,
    and every step runs once (a second CREATE TABLE would fail)."""
    with (postgres_database() if kind == "postgresql" else nullcontext(f"sqlite:///{tmp_path / 'bot.db'}")) as url:
        engines = [db.create(url) for _ in range(4)]
        start = threading.Barrier(len(engines))
        versions: list[int] = []

        def migrate(engine: Engine) -> None:
            start.wait()
            versions.append(db.migrate(engine))

        threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        try:
            assert versions == [len(db.migrations.STEPS)] * len(engines)
            with engines[0].connect() as conn:
                assert conn.execute(select(func.count()).select_from(db.schema_version)).scalar_one() == 1
        finally:
            for engine in engines:
                db.dispose(engine)
