"""What a post to a slash command's or interaction's ``response_url`` does.

Slack's rules: ``response_type`` is ``ephemeral`` (the default, only the invoking
user sees it) or ``in_channel``; ``replace_original``/``delete_original`` act on
the message the interaction came from; a URL works five times within thirty
minutes.  Subscribers get exactly one ``response_url`` event per post.
"""

from __future__ import annotations

from typing import Any

from bot.localslack.api import Content, content_from
from bot.localslack.models import Ephemeral, Message, ResponseUrl, ResponseUrlPost, SlackError
from bot.localslack.state import WorkspaceState


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def handle_post(state: WorkspaceState, url_id: str, payload: object) -> ResponseUrlPost:
    """Apply one post; raises ``SlackError`` with status 404 (URL) or 400 (payload)."""
    if not isinstance(payload, dict):
        raise SlackError("invalid_payload", status=400)
    response_type = str(payload.get("response_type") or "ephemeral")
    if response_type not in ("ephemeral", "in_channel"):
        raise SlackError("invalid_response_type", status=400)
    delete = _flag(payload.get("delete_original"))
    replace = _flag(payload.get("replace_original"))
    try:
        content = content_from(payload, required=not delete)
    except SlackError as exc:
        raise SlackError(exc.error, status=400, **exc.extra) from None

    with state.transaction():
        record = state.use_response_url(url_id)
        thread_ts = str(payload.get("thread_ts") or record.thread_ts or "") or None
        if delete:
            result_ts = _delete_original(state, record)
        elif replace and record.message_ts and _replace_original(state, record, content):
            result_ts = record.message_ts
        elif response_type == "in_channel":
            result_ts = state.add_message(Message(
                record.channel, state.next_ts(), content.text or "", state.bot.user_id,
                bot_id=state.bot.bot_id, blocks=content.blocks, attachments=content.attachments,
                thread_ts=thread_ts, source="response_url"), emit=False).ts
        else:
            result_ts = state.add_ephemeral(Ephemeral(
                record.channel, record.user, state.next_ts(), content.text or "", content.blocks,
                content.attachments, thread_ts=thread_ts, source="response_url"),
                emit=False).message_ts
        post = ResponseUrlPost(url_id, record.channel, record.user, dict(payload), response_type,
                               replace, delete, thread_ts, state.now(), result_ts)
        state.record_response_post(post)
    return post


def _delete_original(state: WorkspaceState, record: ResponseUrl) -> str | None:
    if not record.message_ts:
        return None
    if state.message(record.channel, record.message_ts) is not None:
        state.delete_message(record.channel, record.message_ts, emit=False)
    else:
        state.replace_ephemeral(record.user, record.message_ts, text=None, blocks=None,
                                delete=True, emit=False)
    return record.message_ts


def _replace_original(state: WorkspaceState, record: ResponseUrl, content: Content) -> bool:
    ts = record.message_ts or ""
    if state.message(record.channel, ts) is not None:
        state.update_message(record.channel, ts, {"text": content.text or "",
                                                  "blocks": content.blocks,
                                                  "attachments": content.attachments},
                             mark_edited=False, emit=False)
        return True
    return state.replace_ephemeral(record.user, ts, text=content.text, blocks=content.blocks,
                                   delete=False, emit=False) is not None
