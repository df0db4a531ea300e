"""bot.db: a SQLite connection opened while the file refused writes is opened anew at
checkout once the file takes writes again, and kept meanwhile (no churn)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import db
from bot.db import writable


def _driver_connection(engine) -> object:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.connection.driver_connection


def test_a_connection_opened_read_only_is_reopened_once_the_file_takes_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = db.create(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        monkeypatch.setattr(writable, "takes_writes", lambda path: False)
        opened = _driver_connection(engine)
        assert _driver_connection(engine) is opened  # still read-only: kept
        monkeypatch.setattr(writable, "takes_writes", lambda path: True)
        reopened = _driver_connection(engine)
        assert reopened is not opened
        assert _driver_connection(engine) is reopened  # opened writable: kept from now on
    finally:
        db.dispose(engine)
