"""The stand-in's workspace kept on disk beside the console's database, so that a
second run of the console sees the messages of the first: the database remembers
the incidents, and their parent messages and approval cards must still be there to
be edited, as they would be in Slack.

Kept: people, user groups, channels (with direct messages) and messages. Not kept:
what lives minutes at most in Slack too (trigger ids, response URLs, ephemerals,
open modals) and uploaded files' bytes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

from bot.localslack.core import Event
from bot.localslack.models import Channel, Message, User, UserGroup
from bot.localslack.state import WorkspaceState

log = logging.getLogger(__name__)

FORMAT = 1
_ID = re.compile(r"[A-Z]([0-9A-F]{8})")


def snapshot(state: WorkspaceState) -> dict[str, Any]:
    with state.transaction():  # one consistent picture, even while the bot posts
        return {
            "format": FORMAT,
            "users": [dataclasses.asdict(u) for u in state.users() if u.id != state.bot.user_id],
            "usergroups": [dataclasses.asdict(g) for g in state.usergroups()],
            "channels": [dataclasses.asdict(c) for c in state.channels()],
            "messages": [dataclasses.asdict(m) for m in state.messages()],
        }


def save(state: WorkspaceState, path: Path) -> None:
    """Write atomically: a console stopped mid-write keeps the previous file."""
    data = json.dumps(snapshot(state), separators=(",", ":"))
    partial = path.with_name(path.name + ".partial")
    partial.write_text(data)
    os.replace(partial, path)


def load(path: Path) -> WorkspaceState:
    """The workspace saved at `path`, or the default one when there is none yet
    (or it cannot be read, which is said once: the bot re-posts what it misses)."""
    if not path.exists():
        return WorkspaceState()
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        state = WorkspaceState(users=[User(**u) for u in data["users"]],
                               usergroups=[UserGroup(**g) for g in data["usergroups"]],
                               channels=[Channel(**c) for c in data["channels"]])
        messages = [Message(**m) for m in data["messages"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("the console's Slack state in %s cannot be read (%s); starting with an empty workspace",
                    path, exc)
        return WorkspaceState()
    _restore(state, messages)
    return state


def _restore(state: WorkspaceState, messages: list[Message]) -> None:
    # The stand-in's own bookkeeping, which its public methods never need to set:
    # messages come back as they were (no events, no reply counts bumped twice), and
    # new ids and timestamps must not collide with the restored ones.
    with state.transaction():
        state._messages = {(m.channel, m.ts): m for m in messages}
        state._dms = {c.im_user: c.id for c in state.channels() if c.is_im and c.im_user}
        used = [int(found.group(1), 16) for c in state.channels() if (found := _ID.fullmatch(c.id))]
        state._ids = itertools.count(max([0x1000, *(n + 1 for n in used)]))
        if messages:
            newest = max(messages, key=lambda m: float(m.ts)).ts
            seconds, _, micros = newest.partition(".")
            state._last_ts_us = int(seconds) * 1_000_000 + int(micros or 0)


class Autosave:
    """Writes the workspace after every change the bot or a person makes, and once
    more at the end; a failed write is logged and the console goes on."""

    def __init__(self, state: WorkspaceState, path: Path) -> None:
        self.state, self.path = state, path
        self._lock = threading.Lock()
        self._unsubscribe = state.subscribe(self._changed)

    def _changed(self, event: Event) -> None:
        self.flush()

    def flush(self) -> None:
        with self._lock:
            try:
                save(self.state, self.path)
            except OSError as exc:
                log.warning("could not save the console's Slack state to %s (%s)", self.path, exc)

    def close(self) -> None:
        self._unsubscribe()
        self.flush()


def path_beside(database_url: str) -> Path | None:
    """`<database file>.slack.json` for a SQLite file; None for a database with no
    file of its own (in memory, or a server), where nothing is kept."""
    found = re.fullmatch(r"sqlite(\+\w+)?:///(.+)", database_url)
    if found is None or found.group(2) in (":memory:", ""):
        return None
    return Path(found.group(2)).with_name(Path(found.group(2)).name + ".slack.json")
