"""What a running bot holds: settings, database, broker clients, the chat (and,
for bot.slack alone, the Slack client under it), the background work pool and the
short-lived results its threads share. Built once at start-up and passed to every
handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot import db, runbooks
from bot.app import readiness
from bot.app.readiness import Readiness
from bot.app.work import WorkPool
from bot.approvals.running import Running
from bot.chat import Chat
from bot.config import Settings
from bot.probes.clients import Clients
from bot.recent import Recent
from bot.reports.report import Report
from bot.runbooks import Runbook
from bot.slack.chat import SlackChat
from bot.slack.client import make_client

if TYPE_CHECKING:
    from bot.escalation.scheduler import Escalator


@dataclass
class BotContext:
    settings: Settings
    engine: Engine
    clients: Clients
    slack: WebClient  # only bot.slack uses it; the core talks to `chat`
    chat: Chat
    work: WorkPool
    runbooks: dict[str, Runbook]
    escalator: Escalator | None = None
    # Check reports by (check, subject), so that incidents reaching a ladder step
    # together share one probe.
    recent_reports: Recent[Any, Report] = field(default_factory=Recent)
    running: Running = field(default_factory=Running)  # destructive actions executing in this process
    socket_link: Callable[[], str] | None = None  # Slack's Socket Mode link, when Slack comes that way

    def start_timers(self) -> None:
        from bot.escalation.scheduler import Escalator

        self.escalator = Escalator(self)
        self.escalator.start()

    def readiness(self) -> Readiness:
        """Whether the bot can work now: its brokers, its database and its timers."""
        return readiness.probe_dependencies(self.clients, self.engine,
                                            self.escalator.status if self.escalator else None,
                                            socket_link=self.socket_link)

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
    slack = make_client(token.get_secret_value() if token else "", settings.slack.api_url)
    return BotContext(
        settings=settings,
        engine=engine,
        clients=Clients(settings),
        slack=slack,
        chat=SlackChat(slack),
        # The Slack posts of an alert storm and of a burst of escalation steps get
        # threads of their own, few, so that the webhook and slash commands stay quick.
        work=WorkPool(workers=8, lanes={"alerts": 1, "evidence": 2}),
        runbooks=books,
    )
