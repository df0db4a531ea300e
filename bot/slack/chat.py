"""The core's chat protocol (bot.chat) spoken in Slack: each kind of content
rendered as Block Kit, each method one or two Web API calls, Slack's errors turned
into ChatError. The client underneath retries 429s, 5xx and dropped connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.approvals.views import ApprovalCard, ExecutionProgress
from bot.chat import Attachment, ChatError, Content, Place, Posted
from bot.incidents.views import Checklist, IncidentCard, IncidentList
from bot.reports.report import Page, Report
from bot.slack import render_approval, render_incident, report_blocks
from bot.slack.blocks import Block

Rendered = tuple[str, list[Block] | None]

# Errors that may go away if the call is made again later (after the client's own retries).
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
             "connection_error", "team_added_to_org"}

RENDERERS: dict[type, Callable[[Any], tuple[str, list[Block]]]] = {
    Report: report_blocks.message,
    IncidentCard: render_incident.card,
    Checklist: render_incident.checklist_message,
    IncidentList: render_incident.incident_list,
    ApprovalCard: render_approval.card_message,
    ExecutionProgress: render_approval.progress_message,
    Page: report_blocks.page_message,
}


def render(content: Content) -> Rendered:
    """The text (for notifications and screen readers) and blocks of a message."""
    if isinstance(content, str):
        return content, None
    renderer = RENDERERS.get(type(content))
    if renderer is None:
        raise TypeError(f"Slack cannot show a {type(content).__name__}")
    return renderer(content)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except SlackApiError as exc:
        code = str(exc.response.get("error") or "unknown_error")
        status = getattr(exc.response, "status_code", 200) or 200
        raise ChatError(code, transient=code in TRANSIENT or status >= 500) from exc
    except OSError as exc:
        raise ChatError("connection_error", transient=True) from exc


class SlackChat:
    def __init__(self, client: WebClient, *, membership_ttl: float = 60.0) -> None:
        self.client = client
        self._members: dict[str, tuple[float, set[str]]] = {}
        self._members_lock = threading.Lock()
        self._membership_ttl = membership_ttl

    def post(self, where: Place, content: Content) -> Posted:
        text, shown = render(content)
        with _translated():
            sent = self.client.chat_postMessage(channel=where.channel, thread_ts=where.thread, text=text,
                                                blocks=shown, unfurl_links=False)
        return Posted(str(sent["channel"]), str(sent["ts"]))

    def update(self, message: Posted, content: Content) -> None:
        text, shown = render(content)
        with _translated():
            self.client.chat_update(channel=message.channel, ts=message.ts, text=text, blocks=shown)

    def delete(self, message: Posted) -> None:
        with _translated():
            self.client.chat_delete(channel=message.channel, ts=message.ts)

    def upload(self, where: Place, file: Attachment) -> None:
        kind = "content" if isinstance(file.content, str) else "file"
        with _translated():
            self.client.files_upload_v2(channel=where.channel, thread_ts=where.thread, filename=file.filename,
                                        title=file.title, initial_comment=file.comment, **{kind: file.content})

    def direct(self, user: str, content: Content) -> None:
        with _translated():
            channel = self.client.conversations_open(users=user)["channel"]["id"]
        self.post(Place(channel), content)

    def open_room(self, name: str, invite: Sequence[str]) -> str:
        with _translated():
            channel = str(self.client.conversations_create(name=name)["channel"]["id"])
            if invite:
                self.client.conversations_invite(channel=channel, users=",".join(invite))
        return channel

    def link(self, message: Posted) -> str:
        with _translated():
            return str(self.client.chat_getPermalink(channel=message.channel, message_ts=message.ts)["permalink"])

    def members(self, usergroup: str) -> set[str]:
        # A minute-old membership is fresh enough, and approvals would otherwise
        # ask Slack at every button press.
        with self._members_lock:
            cached = self._members.get(usergroup)
        if cached is not None and time.monotonic() - cached[0] <= self._membership_ttl:
            return cached[1]
        with _translated():
            found = set(self.client.usergroups_users_list(usergroup=usergroup)["users"])
        with self._members_lock:
            self._members[usergroup] = (time.monotonic(), found)
        return found

    def unknown_people(self, user_ids: Sequence[str], usergroup_ids: Sequence[str]) -> list[str]:
        unknown: list[str] = []
        for user_id in dict.fromkeys(user_ids):
            try:
                with _translated():
                    found = self.client.users_info(user=user_id)["user"]
            except ChatError as exc:
                if exc.code != "user_not_found":
                    raise
                unknown.append(user_id)
                continue
            if found.get("deleted"):
                unknown.append(user_id)
        if usergroup_ids:
            with _translated():
                groups = self.client.usergroups_list(include_disabled=False)["usergroups"]
            known = {str(g["id"]) for g in groups}
            unknown += [g for g in dict.fromkeys(usergroup_ids) if g not in known]
        return unknown
