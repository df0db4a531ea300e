"""What every slash command is made of: the invocation it receives, the reply it
gives, and the spec that registers it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel

from bot.chat import Attachment, Content, Form

if TYPE_CHECKING:
    from bot.app.context import BotContext


class UsageError(Exception):
    """Bad input from a person; the message is shown to them as it is."""


class Invocation(BaseModel):
    """A slash command as Slack sent it, after the umbrella command was unwrapped."""

    command: str  # canonical name, e.g. "incident"
    text: str = ""
    user_id: str
    user_name: str | None = None
    channel_id: str
    channel_name: str | None = None
    team_id: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None
    thread_ts: str | None = None  # set when the command was typed in a thread

    @property
    def args(self) -> list[str]:
        return self.text.split()


@dataclass(frozen=True)
class Reply:
    """What a command answers: `text` always (notifications, screen readers, the
    console), `content` when there is more to show (a Report, a Page, a View).
    `in_channel` replies inside an incident's thread go into that thread. An
    `attachment` is uploaded beside the reply; a `form` asks the person a question.
    An `outage` reply says a cluster could not be reached: answered to the person
    alone elsewhere, but inside an incident's thread it goes into the thread and the
    timeline, because what could not be seen, and when, is part of the incident."""

    text: str
    content: Content | None = None
    in_channel: bool = False
    outage: bool = False
    attachment: Attachment | None = None
    form: Form | None = None


@dataclass(frozen=True)
class Deferred:
    """Acknowledge now with `ack` (or nothing), then run `run` after the
    acknowledgement and send what it returns to the person who asked (nothing when
    it returns None: it answered some other way, e.g. by opening a modal)."""

    run: Callable[[], Reply | None]
    ack: Reply | None = None


Outcome = Reply | Deferred
Handler = Callable[[Invocation, "BotContext"], Outcome]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    summary: str
    usage: list[str] = field(default_factory=list)
    handle: Handler | None = None
    # A read-only summary: the same question asked while it is being answered shares that
    # answer, and in a burst one a couple of seconds old (bot.singleflight); its reply
    # shows when it was taken.
    shared: bool = False
