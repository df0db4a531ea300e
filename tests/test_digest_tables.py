"""The digests' tables on both databases the bot runs on: the day-by-day reading of
the long-lived samples (an integer division each dialect must render), the claim of
a due digest, and the first-round baseline of schema versions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot import db
from bot.digests import tables
from tests.conftest import postgres_database

DAY = 86400.0


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        created = db.create(f"sqlite:///{tmp_path / 'bot.db'}")
        db.migrate(created)
        yield created
        created.dispose()
        return
    with postgres_database() as url:
        created = db.create(url)
        db.migrate(created)
        try:
            yield created
        finally:
            created.dispose()


def test_daily_history_keeps_each_days_last_sample(engine: Engine) -> None:
    start = 20000 * DAY  # a midnight
    rows = [(start + h * 3600 + 0.25, 2, [h * 10, h * 5]) for h in range(72)]  # three days, hourly
    for at, _, ends in rows:
        tables.record_topics(engine, "local", at, [("orders", 2, ends)])
    assert tables.daily_history(engine, "local", 0) == {"orders": [
        (start + 23 * 3600 + 0.25, 23 * 15, 2), (start + 47 * 3600 + 0.25, 47 * 15, 2),
        (start + 71 * 3600 + 0.25, 71 * 15, 2)]}
    assert tables.daily_history(engine, "local", start + DAY) == {"orders": [
        (start + 47 * 3600 + 0.25, 47 * 15, 2), (start + 71 * 3600 + 0.25, 71 * 15, 2)]}


def test_a_due_time_is_claimed_once(engine: Engine) -> None:
    assert tables.claim(engine, "daily", 1000.0, "a", 1001.0)
    assert not tables.claim(engine, "daily", 1000.0, "b", 1002.0)
    assert tables.claim(engine, "weekly", 1000.0, "b", 1002.0)
    tables.finish(engine, "daily", 1000.0, 1010.0)
    tables.finish(engine, "weekly", 1000.0, 1010.0, error="ChatError: channel_not_found")
    [daily] = tables.runs(engine, "daily")
    [weekly] = tables.runs(engine, "weekly")
    assert (daily["claimed_by"], daily["posted_at"], daily["error"]) == ("a", 1010.0, None)
    assert (weekly["posted_at"], weekly["error"]) == (None, "ChatError: channel_not_found")


def test_schema_versions_after_the_first_round_are_changes(engine: Engine) -> None:
    assert tables.record_schemas(engine, "local", 100.0, {"a": [(1, 7), (2, 8)]}) == 2
    assert tables.record_schemas(engine, "local", 200.0, {"a": [(1, 7), (2, 8), (3, 9)], "b": [(1, 10)]}) == 2
    assert tables.schema_changes(engine, "local", 0) == [("a", 3, 200.0), ("b", 1, 200.0)]
    assert tables.schema_watch_start(engine, "local") == 100.0
