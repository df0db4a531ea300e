"""What a running bot holds: settings, database, broker clients, Slack client, the
background work pool and its caches. Built once at start-up and passed to every
handler."""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot import db, runbooks
from bot.app import duties, logs
from bot.app.work import WorkPool
from bot.config import Settings
from bot.escalation.scheduler import Escalator
from bot.incidents.ingest import SeenGroups
from bot.probes.clients import Clients
from bot.runbooks import Runbook
from bot.slack.client import make_client


@dataclass
class Caches:
    """What the running bot remembers to save a database or Slack read, and may lose
    at any moment (a restart, another replica). One field per cache, of a type from
    the module that fills it, which also makes it safe for the threads sharing it."""

    alert_groups: SeenGroups = field(default_factory=SeenGroups)  # bot.incidents.ingest: repeated deliveries


@dataclass
class BotContext:
    settings: Settings
    engine: Engine
    clients: Clients
    slack: WebClient
    work: WorkPool
    runbooks: dict[str, Runbook]
    escalator: Escalator | None = None
    caches: Caches = field(default_factory=Caches)

    def start_timers(self) -> None:
        """Take part in the escalation lease; while this process holds it, it runs the
        ladder's timers and the duties (bot.app.duties)."""
        password = self.engine.url.password  # the timer process's own secret, besides the bot's
        hide = logs.Redact(logs.secrets_of(self.settings) + ([str(password)] if password else []))
        self.escalator = Escalator(self, duties.DUTIES, log_filter=hide)
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
