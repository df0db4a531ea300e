"""What the core asks of a chat service, and nothing more.

The incidents, the ladder and the approvals say *what* a person should see (a
`Report`, a sentence, an incident's card, a file) and *where* (a channel, a thread,
a person); `bot.slack` decides how that looks in Slack and makes the Web API calls.
A second chat (or a web page of the incident) implements the same few methods.

Messages are written in the light markup of `bot.reports.markup`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.reports.report import Report


@dataclass(frozen=True)
class Place:
    """Where a message goes: a channel, and a thread in it when `thread` is set."""

    channel: str
    thread: str | None = None


@dataclass(frozen=True)
class Posted:
    """A message the bot sent and may edit later."""

    channel: str
    ts: str

    def thread(self) -> Place:
        """Replies to this message."""
        return Place(self.channel, self.ts)


class View:
    """A domain object a person looks at (an incident's card, an approval card…):
    each chat renders every kind it is given. Subclasses are plain dataclasses."""


Content = str | Report | View


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes | str
    title: str
    comment: str | None = None


@dataclass(frozen=True)
class Form:
    """A question for one person, answered in a dialog (a modal in Slack). `kind`
    names who reads the answer; `metadata` comes back with it."""

    kind: str
    title: str
    prompt: str
    label: str
    submit: str
    metadata: dict[str, str]
    multiline: bool = False


class ChatError(Exception):
    """The chat refused or could not be reached, after its own retries.
    `code` is the chat's error name (`user_not_found`, `ratelimited`…); `transient`
    says whether trying again later may work."""

    def __init__(self, code: str, *, transient: bool) -> None:
        super().__init__(code)
        self.code = code
        self.transient = transient


class Chat(Protocol):
    def post(self, where: Place, content: Content) -> Posted: ...

    def update(self, message: Posted, content: Content) -> None:
        """Edit in place; a message that is gone raises ChatError(`message_not_found`)."""

    def delete(self, message: Posted) -> None: ...

    def upload(self, where: Place, file: Attachment) -> None: ...

    def direct(self, user: str, content: Content) -> None:
        """A direct message to one person."""

    def open_room(self, name: str, invite: Sequence[str]) -> str:
        """A new channel for an incident; returns its id. A taken name raises
        ChatError(`name_taken`)."""

    def link(self, message: Posted) -> str:
        """A URL that opens the message."""

    def members(self, usergroup: str) -> set[str]:
        """The people in a user group."""

    def unknown_people(self, user_ids: Sequence[str], usergroup_ids: Sequence[str]) -> list[str]:
        """The given user and user-group ids the workspace does not know (or has
        deactivated), in the order given; ChatError when it cannot be asked."""
