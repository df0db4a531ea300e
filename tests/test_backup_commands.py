"""/backup, /restore and /recovery as people type them: the backup's summary, the
restore's dry-run card, a second person's approval, the read-back, and the check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app.localbot import LocalBot, Transport
from bot.approvals import store
from bot.localslack.server import LocalSlack
from bot.slack.ids import Action
from tests import kafka_fixtures as kf
from tests.backup_fixtures import World
from tests.conftest import make_settings, start_bot
from tests.test_approvals import card, card_sections, incident_thread, last_request


@pytest.fixture
def bot(tmp_path: Path, local_slack: LocalSlack, brokers: None, transport: Transport) -> Iterator[LocalBot]:
    settings = make_settings(tmp_path, approvals={"approvers": ["U0BOB", "U0CAROL"]},
                             backups={"directory": str(tmp_path / "backups"), "keep": 3})
    running = start_bot(settings, local_slack, transport)
    yield running
    running.close()


@pytest.fixture
def world(brokers: None, unique: str) -> Iterator[World]:
    made = World(prefix=f"bc{unique}")
    try:
        yield made.build()
    finally:
        made.cleanup()


def answer(bot: LocalBot) -> str:
    return str(bot.slack.state.response_url_posts()[-1]["text"])


def test_backup_restore_with_approval_and_recovery_check(bot: LocalBot, world: World) -> None:
    p = world.prefix
    bot.slash(f"/backup topics --only {p}")
    said = answer(bot)
    assert said.startswith("Backup ") and "(topics): 2 topics." in said, said
    backup_id = said.split()[1]
    assert bot.slash("/backup list").json()["text"] == f"1 backup, the newest {backup_id}."

    _, thread = incident_thread(bot, "Topics lost")
    world.topics += [f"r{p}-orders", f"r{p}-audit"]
    bot.slash(f"/restore topics {backup_id} --prefix r --only {p}", thread=thread, user="U0ALICE")
    request_id = last_request(bot)
    shown = card_sections(card(bot, request_id))
    assert f"r{p}-orders" in shown and "create" in shown and "3 partitions, RF 1" in shown, shown
    assert f"r{p}-orders" not in kf.admin().list_topics(timeout=10).topics  # the dry run created nothing
    bot.click(card(bot, request_id), Action.APPROVE, user="U0ALICE")
    assert f"r{p}-orders" not in kf.admin().list_topics(timeout=10).topics  # not by the requester
    bot.click(card(bot, request_id), Action.APPROVE, user="U0BOB")
    final = bot.slack.state.message("C0INCIDENTS", card(bot, request_id).ts)
    assert final.text.endswith("(executed)")
    assert "Verified* :white_check_mark:" in card_sections(final)
    assert store.get(bot.ctx.engine, request_id).state == "executed"  # type: ignore[union-attr]
    assert len(kf.admin().list_topics(timeout=10).topics[f"r{p}-orders"].partitions) == 3

    kf.admin().delete_topics([f"{p}-audit"], operation_timeout=30)[f"{p}-audit"].result(timeout=30)
    bot.slash(f"/recovery check {backup_id}")
    report = answer(bot)
    assert report.startswith(f"Recovery check against backup {backup_id}: CRITICAL: Missing from the clusters: "
                             f"1 topic (first: {p}-audit)."), report


def test_bad_input_gets_a_sentence(bot: LocalBot) -> None:
    assert "Say what to back up" in bot.slash("/backup everything").json()["text"]
    assert "There is no backup in" in bot.slash("/recovery check").json()["text"]
    assert "Usage: `/recovery check [backup]`" in bot.slash("/recovery").json()["text"]
    assert "There is no backup in" in bot.slash("/backup list").json()["text"]
