"""files.* (the external upload flow) and views.* methods."""

from __future__ import annotations

import json
import secrets
from typing import Any

from bot.localslack.api import (
    ApiContext,
    Handler,
    Params,
    content_from,
    ensure_can_post,
    find_channel,
    invalid_arguments,
)
from bot.localslack.blockkit import view_errors
from bot.localslack.models import JsonDict, Message, SlackError, View

MAX_VIEW_BYTES = 250_000  # Slack: view_too_large above 250 kB


def get_upload_url(ctx: ApiContext, p: Params) -> JsonDict:
    filename = p.required("filename")
    length = p.number("length", 0)
    if length <= 0:
        raise invalid_arguments("length must be a positive integer")
    record = ctx.state.new_file(filename, length, alt_txt=p.text("alt_txt"),
                                snippet_type=p.text("snippet_type"))
    return {"upload_url": f"{ctx.host_url}upload/v1/{record.id}", "file_id": record.id}


def complete_upload(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    entries = p.structured("files")
    if not isinstance(entries, list) or not entries or \
            not all(isinstance(e, dict) and e.get("id") for e in entries):
        raise invalid_arguments("files must be a JSON array of objects with an id")
    channel_id = p.text("channel_id")
    refs = [channel_id] if channel_id else p.csv("channels")
    ids = [str(e["id"]) for e in entries]
    with s.transaction():
        if any((f := s.file(i)) is None or f.data is None for i in ids):
            raise SlackError("file_not_found")
        channels = [find_channel(ctx, ref) for ref in refs]
        for channel in channels:
            ensure_can_post(ctx, channel)
        comment = content_from({"text": p.text("initial_comment"), "blocks": p.raw.get("blocks")},
                               required=False)
        for entry in entries:
            title = entry.get("title")
            s.set_file_title(str(entry["id"]), str(title) if title else None)
        # Without a channel the files stay private to the uploader, as in Slack.
        for channel in channels:
            ts = s.next_ts()
            for i in ids:
                s.share_file(i, channel.id, ts)
            s.add_message(Message(channel.id, ts, comment.text or "", s.bot.user_id,
                                  bot_id=s.bot.bot_id, blocks=comment.blocks,
                                  files=[_file_body(ctx, i) for i in ids],
                                  thread_ts=p.text("thread_ts")))
        files = [_file_body(ctx, i) for i in ids]
    return {"files": files}


def _file_body(ctx: ApiContext, file_id: str) -> JsonDict:
    record = ctx.state.file(file_id)
    if record is None:
        raise SlackError("file_not_found")
    return record.to_api(ctx.state.domain)


def _view_payload(p: Params) -> dict[str, Any]:
    raw = p.raw.get("view")
    if raw is None or raw == "":
        raise invalid_arguments("missing required field: view")
    if isinstance(raw, str) and len(raw.encode()) > MAX_VIEW_BYTES:
        raise SlackError("view_too_large")
    view = p.structured("view")
    if not isinstance(view, dict):
        raise invalid_arguments("view must be a JSON object")
    if len(json.dumps(view).encode()) > MAX_VIEW_BYTES:
        raise SlackError("view_too_large")
    if errors := view_errors(view):
        raise invalid_arguments(*errors)
    return view


def _new_hash(ctx: ApiContext) -> str:
    return f"{int(ctx.state.now())}.{secrets.token_hex(4)}"


def _check_external_id(ctx: ApiContext, view: dict[str, Any], own_id: str | None) -> None:
    external_id = view.get("external_id")
    if external_id:
        other = ctx.state.view_by_external_id(str(external_id))
        if other is not None and other.id != own_id:
            raise SlackError("duplicate_external_id")


def views_open(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    trigger_id = p.text("trigger_id") or p.text("interactivity_pointer")
    if trigger_id is None:
        raise invalid_arguments("missing required field: trigger_id")
    payload = _view_payload(p)
    if payload.get("type") != "modal":
        raise invalid_arguments('view type must be "modal" [json-pointer:/view/type]')
    with s.transaction():
        _check_external_id(ctx, payload, None)
        trigger = s.consume_trigger(trigger_id)
        view = s.store_view(View(s.new_id("V"), "modal", trigger.user_id, _new_hash(ctx),
                                 payload, trigger_id=trigger_id))
    return {"view": view.to_api(s.team_id, s.bot)}


def views_update(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    view_id, external_id = p.text("view_id"), p.text("external_id")
    if not view_id and not external_id:
        raise invalid_arguments("must provide view_id or external_id")
    payload = _view_payload(p)
    with s.transaction():
        current = s.view(view_id) if view_id else s.view_by_external_id(external_id or "")
        if current is None:
            raise SlackError("not_found")
        expected = p.text("hash")
        if expected and expected != current.hash:
            raise SlackError("hash_conflict")
        _check_external_id(ctx, payload, current.id)
        view = s.store_view(View(current.id, str(payload.get("type")), current.user_id,
                                 _new_hash(ctx), payload, root_view_id=current.root_view_id,
                                 previous_view_id=current.previous_view_id,
                                 trigger_id=current.trigger_id))
    return {"view": view.to_api(s.team_id, s.bot)}


def views_publish(ctx: ApiContext, p: Params) -> JsonDict:
    s = ctx.state
    user_id = p.required("user_id")
    payload = _view_payload(p)
    if payload.get("type") != "home":
        raise invalid_arguments('view type must be "home" [json-pointer:/view/type]')
    with s.transaction():
        if s.user(user_id) is None:
            raise SlackError("user_not_found")
        current = s.home_view(user_id)
        expected = p.text("hash")
        if current is not None and expected and expected != current.hash:
            raise SlackError("hash_conflict")
        _check_external_id(ctx, payload, current.id if current else None)
        # A user's Home tab keeps its view id across publishes.
        view = s.store_view(View(current.id if current else s.new_id("V"), "home", user_id,
                                 _new_hash(ctx), payload))
    return {"view": view.to_api(s.team_id, s.bot)}


HANDLERS: dict[str, Handler] = {
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
    "views.open": views_open,
    "views.update": views_update,
    "views.publish": views_publish,
}
