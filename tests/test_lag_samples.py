"""Lag samples stored and read back on both databases the bot runs on: the
insert goes through the driver's own paramstyle, so each needs its proof."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot import db
from bot.evidence import lag_history
from bot.health.lag_trend import Sample
from bot.probes.lag_models import GroupLag, LagSnapshot, PartitionLag
from tests.conftest import postgres_database


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """An engine on a database of its own on the shared PostgreSQL, dropped afterwards."""
    with postgres_database() as url:
        engine = db.create(url)
        try:
            yield engine
        finally:
            engine.dispose()


def snap(at: float, committed: int | None, log_end: int) -> LagSnapshot:
    rows = [PartitionLag(topic="orders", partition=p, committed=committed, log_start=0, log_end=log_end + p)
            for p in range(2)]
    return LagSnapshot(cluster="local", taken_at=datetime.fromtimestamp(at, timezone.utc),
                       groups=[GroupLag(cluster="local", group="billing", state="Empty", partitions=rows),
                               GroupLag(cluster="local", group="other", state="Empty", partitions=rows[:1])])


def round_trip(engine: Engine) -> None:
    db.migrate(engine)
    lag_history.record(engine, snap(1000.0, None, 10))  # never committed: a NULL
    lag_history.record(engine, snap(1060.5, 7, 20))
    found = lag_history.window(engine, "local", ["billing"], since=1000.0)
    assert found == {
        ("billing", "orders", 0): [Sample(1000.0, None, 10), Sample(1060.5, 7, 20)],
        ("billing", "orders", 1): [Sample(1000.0, None, 11), Sample(1060.5, 7, 21)],
    }
    assert lag_history.window(engine, "local", ["billing"], since=1060.0)[("billing", "orders", 0)] == [
        Sample(1060.5, 7, 20)]
    assert lag_history.total_at(engine, "local", "billing", 1060.0) == 13 + 14


def test_samples_round_trip_on_sqlite(tmp_path: Path) -> None:
    round_trip(db.create(f"sqlite:///{tmp_path / 'bot.db'}"))


def test_samples_round_trip_on_postgresql(pg_engine: Engine) -> None:
    round_trip(pg_engine)
