"""The console's Slack workspace saved beside its database and read back: the same
messages, threads and direct-message channels, and nothing new colliding with them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.localslack import persist
from bot.localslack.models import Message
from bot.localslack.state import WorkspaceState


def test_a_saved_workspace_comes_back_as_it_was(tmp_path: Path) -> None:
    state = WorkspaceState()
    parent = state.add_message(Message("C0INCIDENTS", state.next_ts(), "INC-1 card", "U0BOT", bot_id="B0BOT"))
    state.add_message(Message("C0INCIDENTS", state.next_ts(), "a reply", "U0BOT", thread_ts=parent.ts))
    dm, _ = state.open_dm("U0CAROL")
    state.add_message(Message(dm.id, state.next_ts(), "you are paged", "U0BOT"))
    saved = tmp_path / "console.db.slack.json"
    persist.save(state, saved)

    again = persist.load(saved)
    assert [(m.channel, m.ts, m.text) for m in again.messages()] == [(m.channel, m.ts, m.text) for m in state.messages()]
    assert again.message("C0INCIDENTS", parent.ts).reply_count == 1  # type: ignore[union-attr]
    assert again.open_dm("U0CAROL") == (dm, True)  # the same DM, not a second one
    other, existed = again.open_dm("U0DAVE")
    assert not existed and other.id not in {c.id for c in state.channels()}
    assert float(again.next_ts()) > max(float(m.ts) for m in state.messages())


def test_no_file_or_a_broken_one_starts_the_default_workspace(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    assert persist.load(tmp_path / "none.slack.json").messages() == []
    broken = tmp_path / "broken.slack.json"
    broken.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="bot.localslack.persist"):
        state = persist.load(broken)
    assert state.messages() == [] and state.user("U0ALICE") is not None
    assert "cannot be read" in caplog.records[0].getMessage()


@pytest.mark.parametrize(("url", "beside"), [
    ("sqlite:///incidentbot.db", "incidentbot.db.slack.json"),
    ("sqlite:////var/lib/bot/console.db", "/var/lib/bot/console.db.slack.json"),
    ("sqlite:///:memory:", None),
    ("postgresql://bot@db/incidents", None),
])
def test_where_the_workspace_is_kept(url: str, beside: str | None) -> None:
    found = persist.path_beside(url)
    assert (str(found) if found else None) == beside
