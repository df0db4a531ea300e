"""conversations.*, users.* and usergroups.* methods."""

from __future__ import annotations

import re

from bot.localslack.api import (
    ApiContext,
    Handler,
    Params,
    ensure_can_read,
    find_channel,
    invalid_arguments,
    paginate,
)
from bot.localslack.models import Channel, JsonDict, Message, SlackError

CHANNEL_NAME = re.compile(r"[a-z0-9_-]+")  # Slack: lowercase letters, digits, - and _
MAX_CHANNEL_NAME = 80


def _channel_body(ctx: ApiContext, channel: Channel, num_members: bool = False) -> JsonDict:
    return channel.to_api(ctx.state.bot.user_id, num_members)


def _visible(ctx: ApiContext, ref: str | None) -> Channel:
    channel = find_channel(ctx, ref)
    if (channel.is_private or channel.is_im) and ctx.state.bot.user_id not in channel.members:
        raise SlackError("channel_not_found")  # private conversations are invisible to outsiders
    return channel


def create(ctx: ApiContext, p: Params) -> JsonDict:
    name = p.text("name") or ""
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > MAX_CHANNEL_NAME:
        raise SlackError("invalid_name_maxlength")
    if not CHANNEL_NAME.fullmatch(name):
        raise SlackError("invalid_name_specials")
    if not name.strip("-_"):
        raise SlackError("invalid_name_punctuation")
    s = ctx.state
    with s.transaction():
        if any(c.name == name for c in s.channels() if not c.is_im):
            raise SlackError("name_taken")
        channel = s.add_channel(Channel(s.new_id("C"), name,
                                        is_private=p.flag("is_private"),
                                        members=[s.bot.user_id], created=int(s.now()),
                                        creator=s.bot.user_id))
    return {"channel": _channel_body(ctx, channel)}


def invite(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    with s.transaction():
        channel = _visible(ctx, p.text("channel"))
        if channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackError("is_archived")
        if s.bot.user_id not in channel.members:
            raise SlackError("not_in_channel")
        users = p.csv("users")
        if not users:
            raise SlackError("no_user")
        errors: list[JsonDict] = []
        valid: list[str] = []
        for user in users:
            error = ("cant_invite_self" if user == s.bot.user_id
                     else "user_not_found" if s.user(user) is None
                     else "already_in_channel" if user in channel.members else None)
            if error:
                errors.append({"user": user, "ok": False, "error": error})
            else:
                valid.append(user)
        # Without force Slack invites nobody when any user fails.
        if errors and not p.flag("force"):
            raise SlackError(errors[0]["error"], errors=errors)
        channel = s.add_members(channel.id, valid)
    body: JsonDict = {"channel": _channel_body(ctx, channel)}
    if errors:
        body["errors"] = errors
    return body


def join(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    with s.transaction():
        channel = _visible(ctx, p.text("channel"))
        if channel.is_im or channel.is_mpim or channel.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackError("is_archived")
        already = s.bot.user_id in channel.members
        channel = s.add_members(channel.id, [s.bot.user_id])
    body: JsonDict = {"channel": _channel_body(ctx, channel)}
    if already:
        body.update(warning="already_in_channel",
                    response_metadata={"warnings": ["already_in_channel"]})
    return body


def open_(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    users = [u for u in p.csv("users") if u != s.bot.user_id]
    if p.text("channel"):
        channel, existed = _visible(ctx, p.text("channel")), True
    elif not users:
        raise SlackError("users_list_not_supplied")
    elif len(users) > 8:
        raise SlackError("too_many_users")
    else:
        if any(s.user(u) is None for u in users):
            raise SlackError("user_not_found")
        if len(users) == 1:
            channel, existed = s.open_dm(users[0])
        else:
            channel, existed = _open_mpim(ctx, users)
    body: JsonDict = {"channel": _channel_body(ctx, channel) if p.flag("return_im")
                      else {"id": channel.id}}
    if existed:
        body.update(no_op=True, already_open=True)
    return body


def _open_mpim(ctx: ApiContext, users: list[str]) -> tuple[Channel, bool]:
    s = ctx.state
    members = sorted({s.bot.user_id, *users})
    with s.transaction():
        for channel in s.channels():
            if channel.is_mpim and sorted(channel.members) == members:
                return channel, True
        names = [user.name for user in map(s.user, members) if user is not None]
        channel = s.add_channel(Channel(s.new_id("G"), "mpdm-" + "--".join(names) + "-1",
                                        is_private=True, members=members, is_mpim=True,
                                        created=int(s.now()), creator=s.bot.user_id))
    return channel, False


def info(ctx: ApiContext, p: Params) -> JsonDict:
    channel = _visible(ctx, p.text("channel"))
    return {"channel": _channel_body(ctx, channel, p.flag("include_num_members"))}


def _time_window(p: Params, messages: list[Message]) -> list[Message]:
    oldest = float(p.text("oldest") or 0)
    latest = float(p.text("latest") or "inf")
    inclusive = p.flag("inclusive")

    def inside(m: Message) -> bool:
        ts = float(m.ts)
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest
    return [m for m in messages if inside(m)]


def history(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    channel = _visible(ctx, p.text("channel"))
    ensure_can_read(ctx, channel)
    try:
        shown = [m for m in s.messages(channel.id)
                 if not m.is_reply or m.subtype == "thread_broadcast"]
        shown = _time_window(p, shown)
    except ValueError:
        raise invalid_arguments("oldest and latest must be timestamps") from None
    page, cursor = paginate(list(reversed(shown)), p, default_limit=100, max_limit=999)
    return {"messages": [m.to_api(s.team_id, s.bot) for m in page], "has_more": bool(cursor),
            "pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0,
            "response_metadata": {"next_cursor": cursor}}


def replies(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    channel = _visible(ctx, p.text("channel"))
    ensure_can_read(ctx, channel)
    msg = s.message(channel.id, p.required("ts"))
    if msg is None:
        raise SlackError("thread_not_found")
    thread = [msg] if msg.is_reply else s.thread(channel.id, msg.ts)
    try:
        # The parent always leads, whatever the time window.
        thread = thread[:1] + _time_window(p, thread[1:])
    except ValueError:
        raise invalid_arguments("oldest and latest must be timestamps") from None
    page, cursor = paginate(thread, p, default_limit=1000)
    return {"messages": [m.to_api(s.team_id, s.bot) for m in page], "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor}}


def members(ctx: ApiContext, p: Params) -> JsonDict:
    channel = _visible(ctx, p.text("channel"))
    page, cursor = paginate(channel.members, p, default_limit=100)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


def list_(ctx: ApiContext, p: Params) -> JsonDict:
    types = set(p.csv("types") or ["public_channel"])
    bot = ctx.state.bot.user_id

    def kind(c: Channel) -> str:
        return ("im" if c.is_im else "mpim" if c.is_mpim
                else "private_channel" if c.is_private else "public_channel")
    found = [c for c in ctx.state.channels()
             if kind(c) in types and (kind(c) == "public_channel" or bot in c.members)
             and not (p.flag("exclude_archived") and c.is_archived)]
    page, cursor = paginate(found, p, default_limit=100)
    return {"channels": [_channel_body(ctx, c) for c in page],
            "response_metadata": {"next_cursor": cursor}}


def users_info(ctx: ApiContext, p: Params) -> JsonDict:
    user = ctx.state.user(p.text("user") or "")
    if user is None:
        raise SlackError("user_not_found")
    return {"user": user.to_api(ctx.state.team_id)}


def users_list(ctx: ApiContext, p: Params) -> JsonDict:
    page, cursor = paginate(ctx.state.users(), p, default_limit=0)
    return {"members": [u.to_api(ctx.state.team_id) for u in page], "cache_ts": int(ctx.state.now()),
            "response_metadata": {"next_cursor": cursor}}


def usergroups_list(ctx: ApiContext, p: Params) -> JsonDict:
    groups = [g for g in ctx.state.usergroups()
              if p.flag("include_disabled") or not g.disabled]
    return {"usergroups": [g.to_api(ctx.state.team_id, p.flag("include_users"),
                                    p.flag("include_count")) for g in groups]}


def usergroups_users_list(ctx: ApiContext, p: Params) -> JsonDict:
    group = ctx.state.usergroup(p.text("usergroup") or "")
    if group is None or (group.disabled and not p.flag("include_disabled")):
        raise SlackError("no_such_subteam")
    return {"users": list(group.users)}


HANDLERS: dict[str, Handler] = {
    "conversations.create": create,
    "conversations.invite": invite,
    "conversations.join": join,
    "conversations.open": open_,
    "conversations.info": info,
    "conversations.history": history,
    "conversations.replies": replies,
    "conversations.members": members,
    "conversations.list": list_,
    "users.info": users_info,
    "users.list": users_list,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users_list,
}
