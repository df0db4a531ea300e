"""Digests as people see them: `/digest` posts a summary with its sections in the
thread and the charts uploaded there; the timer owner's duty posts each due digest
once, even with two replicas on one database, and none it finds past catching up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.app.localbot import LocalBot
from bot.digests import run, tables
from bot.digests.schedule import last_due
from bot.localslack.server import LocalSlack
from tests.conftest import make_settings, start_bot
from tests.digest_fixtures import topic_row

HOUR = 3600.0


@pytest.fixture
def prefix(unique: str) -> str:
    return f"dgp{unique}"


def test_digest_command_posts_summary_thread_and_chart(tmp_path: Path, local_slack: LocalSlack, brokers: None,
                                                       prefix: str) -> None:
    running = start_bot(make_settings(tmp_path, digests={"include": [prefix]},
                                      backups={"directory": str(tmp_path / "backups")}), local_slack)
    try:
        now = time.time()
        topic_row(running.ctx.engine, f"{prefix}-t", now - 2 * HOUR, [0])
        topic_row(running.ctx.engine, f"{prefix}-t", now - HOUR, [360])
        running.slash("/digest weekly", channel="C0GENERAL")
        answer = local_slack.state.response_url_posts()[-1]["text"]
        assert answer.startswith("The weekly digest is posted: ")
        parents = [m for m in local_slack.state.messages("C0GENERAL") if not m.is_reply]
        assert len(parents) == 1 and parents[0].text.startswith("Weekly digest ")
        replies = local_slack.state.messages("C0GENERAL", parents[0].ts)
        replies = [r for r in replies if r.text]  # the chart upload is a reply of its own
        assert [r.text.split(":")[0] for r in replies] == [
            "DLQs", "Consumer lag over the week (p95)", "Produce and consume rates over the week",
            "Schema changes this week (local)", "Backups"]
        assert "0.10/s" in replies[2].text  # 360 messages in an hour
        uploads = [f for f in local_slack.state.files() if f.filename == "rates-local.png"]
        assert len(uploads) == 1 and uploads[0].data and uploads[0].data.startswith(b"\x89PNG")
        [(channel, ts)] = uploads[0].shares
        shared = local_slack.state.message(channel, ts)
        assert shared is not None and shared.thread_ts == parents[0].ts  # in the digest's thread

        assert replies[4].text.startswith(f"Backups: WARNING: No backup in {tmp_path / 'backups'}: nothing to "
                                          "restore from. Take one with `/backup all`, and set backups.every_hours")

        # Asked inside a thread, the summary and its sections stay in that thread.
        running.slash("/digest daily", channel="C0GENERAL", thread=parents[0].ts)
        assert [m.text.split(":")[0] for m in local_slack.state.messages("C0GENERAL", parents[0].ts)
                if m.text][5:] == ["Daily digest " + parents[0].text[len("Weekly digest "):].split(":")[0],
                                   "Consumer lag (local)", "DLQ depth", "Error-rate leaders (last 24 h)",
                                   "Broker health (local)", "Incidents (last 24 h)"]
        assert len([m for m in local_slack.state.messages("C0GENERAL") if not m.is_reply]) == 1

        said = running.slash("/digest yearly").json()
        assert said["response_type"] == "ephemeral"
        assert said["text"] == ("`yearly` is not a digest. "
                                "Usage: `/digest daily|weekly|monthly|quarterly [--cluster NAME]`")
        assert running.slash("/digest").json()["text"] == ("Usage: "
                                                           "`/digest daily|weekly|monthly|quarterly [--cluster NAME]`")
    finally:
        running.close()


@pytest.fixture
def replicas(tmp_path: Path, local_slack: LocalSlack, brokers: None, postgres: str,
             prefix: str) -> Iterator[tuple[LocalBot, LocalBot]]:
    """Two bots on one PostgreSQL database, posting digests to #incidents."""
    settings = {"database_url": postgres, "digests": {"channel": "C0INCIDENTS", "include": [prefix]}}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_bot(make_settings(tmp_path / "a", **settings), local_slack)
    second = start_bot(make_settings(tmp_path / "b", **settings), local_slack)
    yield first, second
    second.close()
    first.close()


def daily_parents(slack: LocalSlack) -> list[str]:
    return [m.ts for m in slack.state.messages("C0INCIDENTS") if not m.is_reply and m.text.startswith("Daily digest")]


def test_due_digest_is_posted_once_by_two_replicas(replicas: tuple[LocalBot, LocalBot],
                                                   local_slack: LocalSlack) -> None:
    first, second = replicas
    settings = first.ctx.settings.digests
    # A Wednesday, five seconds after the daily time (08:00): the weekly one (Monday), the
    # monthly and the quarterly are further back than catching up allows.
    at = datetime(2026, 11, 25, 8, 0, 5, tzinfo=timezone.utc).timestamp()
    due = last_due("daily", settings.times, settings.timezone, at)
    assert due == at - 5
    claimed: list[list[str]] = []
    threads = [threading.Thread(target=lambda b=b: claimed.append(run.due_digests(b.ctx, at)))
               for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first.ctx.work.wait_idle(120)
    second.ctx.work.wait_idle(120)
    assert sorted(claimed) == [[], ["daily"]]
    assert len(daily_parents(local_slack)) == 1
    [row] = tables.runs(first.ctx.engine, "daily")
    assert row["due_at"] == due and row["posted_at"] is not None and row["error"] is None

    assert run.due_digests(first.ctx, at + 60) == [] and run.due_digests(second.ctx, at + 60) == []
    assert run.due_digests(first.ctx, due + settings.catch_up_s + 1) == []  # missed by more than catch_up_s
    assert run.due_digests(second.ctx, at + 86400) == ["daily"]  # the next day's is due again
    second.ctx.work.wait_idle(120)
    assert len(daily_parents(local_slack)) == 2


def test_weekly_digest_lists_the_backups_and_attaches_the_newest(tmp_path: Path, local_slack: LocalSlack,
                                                                 brokers: None, prefix: str) -> None:
    import io
    import json
    import tarfile

    from bot.backups import run as backups

    settings = make_settings(tmp_path, digests={"include": [prefix]}, backups={"directory": str(tmp_path / "b")})
    with start_bot(settings, local_slack) as running:
        older = backups.take(running.ctx.clients, ["topics"], created_by="test", only=prefix)
        newest = backups.take(running.ctx.clients, ["topics"], created_by="test", only=prefix)
        running.slash("/digest weekly", channel="C0GENERAL")
        parent = [m for m in local_slack.state.messages("C0GENERAL") if not m.is_reply][-1]
        [kept] = [r.text for r in local_slack.state.messages("C0GENERAL", parent.ts) if r.text.startswith("Backups")]
        assert kept.startswith(f"Backups: OK: 2 backups kept; the newest, {newest.id}, is ")
        assert older.id in kept and f"attached to this thread as {newest.id}.tar.gz" in kept
        [upload] = [f for f in local_slack.state.files() if f.filename == f"{newest.id}.tar.gz"]
        [(channel, ts)] = upload.shares
        assert local_slack.state.message(channel, ts).thread_ts == parent.ts  # type: ignore[union-attr]
        with tarfile.open(fileobj=io.BytesIO(upload.data), mode="r:gz") as tar:
            manifest = json.load(tar.extractfile(f"{newest.id}/manifest.json"))  # type: ignore[arg-type]
        assert manifest["id"] == newest.id and manifest["kinds"] == ["topics"]
