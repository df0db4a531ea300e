"""Shared plumbing for the Web API method handlers: parameters, lookups, checks.

A handler takes the request context and its parameters and returns the body of
a successful answer (without ``ok``); any Slack-level failure is raised as a
``SlackError`` and rendered by the server as ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.localslack.blockkit import Surface, block_errors, message_text_error
from bot.localslack.models import Channel, JsonDict, SlackError
from bot.localslack.state import WorkspaceState

T = TypeVar("T")
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class ApiContext:
    state: WorkspaceState
    host_url: str  # "http://127.0.0.1:PORT/" as the client reached us, for upload URLs


Handler = Callable[[ApiContext, "Params"], JsonDict]


def invalid_arguments(*problems: str) -> SlackError:
    return SlackError("invalid_arguments",
                      response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})


class Params:
    """Request parameters as received: form values are strings, JSON values typed."""

    def __init__(self, raw: JsonDict) -> None:
        self.raw = raw

    def __contains__(self, name: str) -> bool:
        return name in self.raw

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    def required(self, name: str, error: str | None = None) -> str:
        value = self.text(name)
        if value is None:
            raise SlackError(error) if error else invalid_arguments(
                f"missing required field: {name}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in TRUE_VALUES

    def number(self, name: str, default: int) -> int:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise invalid_arguments(f"{name} must be an integer") from None

    def structured(self, name: str, error: str = "invalid_arguments") -> Any:
        """A structured field; form bodies carry these as JSON strings."""
        value = self.raw.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) if error != "invalid_arguments" else invalid_arguments(
                f"{name} must be valid JSON") from None

    def csv(self, name: str) -> list[str]:
        value = self.raw.get(name)
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return [part.strip() for part in (self.text(name) or "").split(",") if part.strip()]


# -- conversations -------------------------------------------------------------------

def find_channel(ctx: ApiContext, ref: str | None) -> Channel:
    """A conversation by id or ``#name``; private ones the bot is not in stay invisible."""
    channel = ctx.state.channel(ref) if ref else None
    if channel is None:
        raise SlackError("channel_not_found")
    return channel


def post_target(ctx: ApiContext, ref: str | None) -> Channel:
    """Where chat.postMessage goes: a channel, or a user id meaning the bot's DM with them."""
    if ref and ref[0] in "UW" and ctx.state.user(ref) is not None:
        channel, _ = ctx.state.open_dm(ref)
        return channel
    return find_channel(ctx, ref)


def ensure_can_post(ctx: ApiContext, channel: Channel) -> None:
    # Public channels accept bot posts without membership (chat:write.public).
    if channel.is_archived:
        raise SlackError("is_archived")
    if (channel.is_private or channel.is_im or channel.is_mpim) \
            and ctx.state.bot.user_id not in channel.members:
        raise SlackError("not_in_channel")


def ensure_can_read(ctx: ApiContext, channel: Channel) -> None:
    if ctx.state.bot.user_id not in channel.members:
        raise SlackError("not_in_channel")


# -- message content -----------------------------------------------------------------

def invalid_blocks(errors: Sequence[str]) -> SlackError:
    return SlackError("invalid_blocks", errors=list(errors),
                      response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})


@dataclass(frozen=True)
class Content:
    text: str | None
    blocks: list[JsonDict] | None
    attachments: list[JsonDict] | None

    @property
    def empty(self) -> bool:
        return not self.text and not self.blocks and not self.attachments


def content_from(values: JsonDict | Params, *, surface: Surface = "message",
                 required: bool = True) -> Content:
    """Text, blocks and attachments of a message, checked against Slack's limits."""
    p = values if isinstance(values, Params) else Params(values)
    text = p.raw.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text)
    blocks = p.structured("blocks", error="invalid_blocks_format")
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    attachments = p.structured("attachments", error="invalid_attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    if error := message_text_error(text):
        raise SlackError(error)
    if blocks and (errors := block_errors(blocks, surface)):
        raise invalid_blocks(errors)
    content = Content(text, blocks or None, attachments or None)
    if required and content.empty:
        raise SlackError("no_text")
    return content


# -- pagination ----------------------------------------------------------------------

def paginate(items: Sequence[T], p: Params, default_limit: int,
             max_limit: int = 1000) -> tuple[list[T], str]:
    """One page of ``items`` and Slack's ``next_cursor`` ("" on the last page)."""
    limit = p.number("limit", default_limit)
    if limit <= 0:
        limit = max_limit
    limit = min(limit, max_limit)
    offset = 0
    cursor = p.text("cursor")
    if cursor:
        try:
            kind, _, number = base64.b64decode(cursor, validate=True).decode().partition(":")
            offset = int(number)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise SlackError("invalid_cursor") from None
        if kind != "next" or offset < 0:
            raise SlackError("invalid_cursor")
    page = list(items[offset:offset + limit])
    more = offset + limit < len(items)
    next_cursor = base64.b64encode(f"next:{offset + limit}".encode()).decode() if more else ""
    return page, next_cursor
