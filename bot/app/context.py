"""What a running bot holds: settings, database, broker clients, Slack client and
the background work pool. Built once at start-up and passed to every handler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot import db, runbooks
from bot.app.work import WorkPool
from bot.config import Settings
from bot.probes.clients import Clients
from bot.runbooks import Runbook
from bot.slack.client import make_client

if TYPE_CHECKING:
    from bot.escalation.scheduler import Escalator


@dataclass
class BotContext:
    settings: Settings
    engine: Engine
    clients: Clients
    slack: WebClient
    work: WorkPool
    runbooks: dict[str, Runbook]
    escalator: Escalator | None = None

    def start_timers(self) -> None:
        from bot.escalation.scheduler import Escalator

        self.escalator = Escalator(self)
        self.escalator.start()

    def close(self) -> None:
        if self.escalator is not None:
            self.escalator.stop()
        self.work.shutdown(wait=True)
        db.dispose(self.engine)


def build(settings: Settings) -> BotContext:
    books = runbooks.load_all(extra=settings.runbooks_dir)  # a broken runbook stops start-up, not an incident
    engine = db.create(settings.database_url)
    db.migrate(engine)
    token = settings.slack.bot_token
    return BotContext(
        settings=settings,
        engine=engine,
        clients=Clients(settings),
        slack=make_client(token.get_secret_value() if token else "", settings.slack.api_url),
        # The Slack posts of an alert storm and of a burst of escalation steps get
        # threads of their own, few, so that the webhook and slash commands stay quick.
        work=WorkPool(workers=8, lanes={"alerts": 1, "evidence": 2}),
        runbooks=books,
    )
