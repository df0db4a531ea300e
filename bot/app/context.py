"""What a running bot holds: settings, database, broker clients, the chat (and,
for bot.slack alone, the Slack client under it), the background work pool, the
short-lived results its threads share and its caches. Built once at start-up and
passed to every handler."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot import db, runbooks
from bot.app import duties, logs, readiness
from bot.app.readiness import Readiness
from bot.app.work import WorkPool
from bot.approvals.running import Running
from bot.chat import Chat
from bot.config import Settings
from bot.escalation import ownership
from bot.escalation.scheduler import Escalator
from bot.evidence.lag_memory import LagMemory
from bot.incidents.ingest import SeenGroups
from bot.oncall.lookup import Cache as OncallCache
from bot.probes.clients import Clients
from bot.recent import Recent
from bot.reports.report import Report
from bot.runbooks import Runbook
from bot.singleflight import SingleFlight
from bot.slack.chat import SlackChat
from bot.slack.client import make_client
from bot.watch.round import Watcher


@dataclass
class Caches:
    """What the running bot remembers to save a database or Slack read, and may lose
    at any moment (a restart, another replica). One field per cache, of a type from
    the module that fills it, which also makes it safe for the threads sharing it."""

    alert_groups: SeenGroups = field(default_factory=SeenGroups)  # bot.incidents.ingest: repeated deliveries
    # bot.evidence.checks: reports by (check, subject), so that incidents reaching a
    # ladder step together share one probe.
    reports: Recent[Any, Report] = field(default_factory=Recent)
    oncall: OncallCache = field(default_factory=OncallCache)  # bot.oncall.lookup: vendors' on-call answers
    # bot.slack.app: the replies of read-only commands (CommandSpec.shared) by command and text.
    answers: SingleFlight[Any, Any] = field(default_factory=SingleFlight)


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
    caches: Caches = field(default_factory=Caches)
    # Lag samples between looks (/lag, the ladder's checks): trends without reading the window back.
    lag_memory: LagMemory = field(default_factory=LagMemory)
    watcher: Watcher = field(default_factory=Watcher)  # watch rounds, run while this process holds the timers
    running: Running = field(default_factory=Running)  # destructive actions executing in this process
    socket_link: Callable[[], str] | None = None  # Slack's Socket Mode link, when Slack comes that way
    # Who is on call for a cluster now (Slack user ids), when an on-call source is set up;
    # approval cards name on-call approvers first (bot.approvals.policy).
    oncall: Callable[[str], Iterable[str]] | None = None

    def start_timers(self) -> None:
        """Take part in the escalation lease; while this process holds it, it runs the
        ladder's timers and the duties (bot.app.duties)."""
        password = self.engine.url.password  # the timer process's own secret, besides the bot's
        hide = logs.Redact(logs.secrets_of(self.settings) + ([str(password)] if password else []))
        self.escalator = Escalator(self, duties.DUTIES, log_filter=hide)
        self.escalator.start()

    def readiness(self) -> Readiness:
        """Whether the bot can work now: its brokers, its database and its timers."""
        return readiness.probe_dependencies(self.clients, self.engine,
                                            self.escalator.status if self.escalator else None,
                                            socket_link=self.socket_link)

    def close(self) -> None:
        if self.escalator is not None:
            self.escalator.stop()
        self.watcher.stop()
        self.work.shutdown(wait=True)
        self.clients.close()
        db.dispose(self.engine)


def build(settings: Settings) -> BotContext:
    books = runbooks.load_all(extra=settings.runbooks_dir)  # a broken runbook stops start-up, not an incident
    engine = db.create(settings.database_url)
    db.migrate(engine)
    token = settings.slack.bot_token
    slack = make_client(token.get_secret_value() if token else "", settings.slack.api_url)
    ctx = BotContext(
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
    schedule = settings.escalation.platform_oncall
    if schedule:
        # The platform schedule is who is on call for the clusters: its approvers go first on approval cards.
        ctx.oncall = lambda _cluster: ownership.on_call(ctx, schedule)[0]
    return ctx
