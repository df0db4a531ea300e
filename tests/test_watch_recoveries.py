"""A recovery the watch decided is finished once by the next round when the process
that decided it died before posting "Recovered", or right after (issue #12)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot import db
from bot.incidents import flows
from bot.localslack.server import LocalSlack
from bot.watch import recoveries
from bot.watch.tables import watch_recoveries
from tests import kafka_fixtures as kf
from tests.conftest import start_bot
from tests.test_announce_claims import dead_local_owner
from tests.test_watch import incidents_of, lagging, round_, thread_texts, watch_settings

LAG = 3_405
RECOVERED = ":white_check_mark: Recovered:"


@pytest.mark.parametrize("posted", [False, True], ids=["killed-before-the-post", "killed-after-the-post"])
def test_a_recovery_left_by_a_dead_process_is_finished_once_by_the_next_round(
        tmp_path: Path, local_slack: LocalSlack, brokers: None, unique: str, monkeypatch: pytest.MonkeyPatch,
        posted: bool) -> None:
    with start_bot(watch_settings(tmp_path, unique), local_slack) as bot:
        topic, group = lagging(unique, LAG)
        round_(bot)
        round_(bot)
        [incident] = incidents_of(bot, group)
        kf.commit(group, {(topic, 0): LAG})
        with monkeypatch.context() as m:  # the round decides, and its process dies before any post
            m.setattr(recoveries, "submit", lambda *a, **k: None)
            round_(bot)
        if posted:  # …or right after Slack took "Recovered"
            flows.post(bot.ctx, incident, "(posted before the kill)")
        with db.write(bot.ctx.engine) as conn:
            conn.execute(update(watch_recoveries).values(owner=dead_local_owner(),
                                                         posted_at=time.time() if posted else None))
        round_(bot)
        round_(bot)
        texts = thread_texts(bot, incident)
        assert sum(t.startswith(RECOVERED) for t in texts) == (0 if posted else 1)
        assert texts[-1].startswith("Every alert of this incident is resolved.")  # the alert resolved either way
        with bot.ctx.engine.connect() as conn:
            assert conn.execute(select(watch_recoveries)).all() == []
