"""auth.test and the chat.* methods."""

from __future__ import annotations

from bot.localslack.api import (
    ApiContext,
    Handler,
    Params,
    content_from,
    ensure_can_post,
    find_channel,
    post_target,
)
from bot.localslack.models import Ephemeral, JsonDict, Message, SlackError


def auth_test(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    return {"url": f"https://{s.domain}.slack.com/", "team": s.team_name, "user": s.bot.name,
            "team_id": s.team_id, "user_id": s.bot.user_id, "bot_id": s.bot.bot_id,
            "is_enterprise_install": False}


def post_message(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    with s.transaction():
        channel = post_target(ctx, p.text("channel"))
        ensure_can_post(ctx, channel)
        content = content_from(p)
        thread_ts = p.text("thread_ts")
        parent = s.message(channel.id, thread_ts) if thread_ts else None
        if parent is not None and parent.is_reply:
            thread_ts = parent.thread_ts  # Slack threads a reply-to-a-reply under the parent
        broadcast = bool(thread_ts) and p.flag("reply_broadcast")
        msg = s.add_message(Message(
            channel.id, s.next_ts(), content.text or "", s.bot.user_id, bot_id=s.bot.bot_id,
            blocks=content.blocks, attachments=content.attachments, thread_ts=thread_ts,
            subtype="thread_broadcast" if broadcast else None,
            metadata=p.structured("metadata", error="invalid_metadata_format")))
    return {"channel": channel.id, "ts": msg.ts, "message": msg.to_api(s.team_id, s.bot)}


def _own_message(ctx: ApiContext, p: Params, forbidden: str) -> Message:
    s = ctx.state
    channel = find_channel(ctx, p.text("channel"))
    msg = s.message(channel.id, p.text("ts") or "")
    if msg is None:
        raise SlackError("message_not_found")
    if msg.user != s.bot.user_id:
        raise SlackError(forbidden)
    return msg


def update(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    with s.transaction():
        msg = _own_message(ctx, p, "cant_update_message")
        content = content_from(p, required=False)
        if content.empty and "blocks" not in p and "attachments" not in p:
            raise SlackError("no_text")
        changes: dict[str, object] = {}
        if "text" in p:
            changes["text"] = content.text or ""
        # Slack keeps the previous blocks/attachments unless the field is sent.
        if "blocks" in p:
            changes["blocks"] = content.blocks
        if "attachments" in p:
            changes["attachments"] = content.attachments
        updated = s.update_message(msg.channel, msg.ts, changes, mark_edited=True)
    return {"channel": updated.channel, "ts": updated.ts, "text": updated.text,
            "message": updated.to_api(s.team_id, s.bot)}


def delete(ctx: ApiContext, p: Params) -> JsonDict:
    with ctx.state.transaction():
        msg = _own_message(ctx, p, "cant_delete_message")
        ctx.state.delete_message(msg.channel, msg.ts)
    return {"channel": msg.channel, "ts": msg.ts}


def post_ephemeral(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    with s.transaction():
        channel = find_channel(ctx, p.text("channel"))
        ensure_can_post(ctx, channel)
        user = p.text("user")
        if user is None or user not in channel.members:
            raise SlackError("user_not_in_channel")
        content = content_from(p)
        eph = s.add_ephemeral(Ephemeral(
            channel.id, user, s.next_ts(), content.text or "", content.blocks,
            content.attachments, thread_ts=p.text("thread_ts")))
    return {"message_ts": eph.message_ts}


def get_permalink(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    channel = find_channel(ctx, p.text("channel"))
    msg = s.message(channel.id, p.text("message_ts") or "")
    if msg is None:
        raise SlackError("message_not_found")
    link = f"https://{s.domain}.slack.com/archives/{channel.id}/p{msg.ts.replace('.', '')}"
    if msg.is_reply:
        link += f"?thread_ts={msg.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


HANDLERS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.delete": delete,
    "chat.postEphemeral": post_ephemeral,
    "chat.getPermalink": get_permalink,
}
