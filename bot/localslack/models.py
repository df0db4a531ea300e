"""Plain data records of the local Slack workspace and their Web API shapes.

The ``to_api`` methods render records the way Slack's Web API documents them,
so handlers can return them verbatim and the bot sees familiar payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

JsonDict = dict[str, Any]


class Record:
    """Lets query results be read as ``post.text`` or ``post["text"]`` alike."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and hasattr(self, key)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]


class SlackError(Exception):
    """A Slack API failure: rendered as ``{"ok": false, "error": ...}``.

    ``extra`` carries Slack's additional fields (``errors``, ``response_metadata``…).
    """

    def __init__(self, error: str, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra

    def body(self) -> JsonDict:
        return {"ok": False, "error": self.error, **self.extra}


@dataclass(frozen=True)
class BotIdentity:
    user_id: str = "U0BOT"
    bot_id: str = "B0BOT"
    app_id: str = "A0LOCAL"
    name: str = "incidentbot"

    def profile(self, team_id: str) -> JsonDict:
        return {"id": self.bot_id, "app_id": self.app_id, "name": self.name,
                "deleted": False, "team_id": team_id, "icons": {}}


@dataclass
class User(Record):
    id: str
    name: str
    real_name: str = ""
    is_bot: bool = False
    tz: str = "Europe/Berlin"
    email: str | None = None
    bot_id: str | None = None
    deleted: bool = False
    is_admin: bool = False

    def to_api(self, team_id: str) -> JsonDict:
        profile: JsonDict = {"real_name": self.real_name, "display_name": self.name,
                             "real_name_normalized": self.real_name,
                             "display_name_normalized": self.name, "team": team_id}
        if self.email:
            profile["email"] = self.email
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        return {"id": self.id, "team_id": team_id, "name": self.name, "deleted": self.deleted,
                "real_name": self.real_name, "tz": self.tz, "tz_label": self.tz, "tz_offset": 0,
                "profile": profile, "is_admin": self.is_admin, "is_owner": False,
                "is_bot": self.is_bot, "is_app_user": False, "updated": 0}


@dataclass
class UserGroup(Record):
    id: str
    handle: str
    name: str = ""
    users: list[str] = field(default_factory=list)
    description: str = ""
    disabled: bool = False

    def to_api(self, team_id: str, include_users: bool, include_count: bool) -> JsonDict:
        body: JsonDict = {"id": self.id, "team_id": team_id, "is_usergroup": True,
                          "name": self.name or self.handle, "description": self.description,
                          "handle": self.handle, "is_external": False, "date_create": 0,
                          "date_update": 0, "date_delete": 1 if self.disabled else 0,
                          "auto_type": None, "created_by": "USLACKBOT", "updated_by": "USLACKBOT",
                          "deleted_by": None, "prefs": {"channels": [], "groups": []}}
        if include_users:
            body["users"] = list(self.users)
        if include_count:
            body["user_count"] = len(self.users)
        return body


@dataclass
class Channel(Record):
    id: str
    name: str = ""
    is_private: bool = False
    members: list[str] = field(default_factory=list)
    created: int = 0
    creator: str = ""
    topic: str = ""
    purpose: str = ""
    is_im: bool = False
    is_mpim: bool = False
    im_user: str | None = None  # the human side of a DM
    is_general: bool = False
    is_archived: bool = False

    def to_api(self, viewer: str, num_members: bool = False) -> JsonDict:
        if self.is_im:
            return {"id": self.id, "created": self.created, "is_im": True, "is_org_shared": False,
                    "user": self.im_user, "is_user_deleted": False, "priority": 0, "is_open": True}
        body: JsonDict = {
            "id": self.id, "name": self.name, "name_normalized": self.name,
            "is_channel": not self.is_private and not self.is_mpim,
            "is_group": self.is_private and not self.is_mpim, "is_im": False,
            "is_mpim": self.is_mpim, "is_private": self.is_private or self.is_mpim,
            "created": self.created, "creator": self.creator, "is_archived": self.is_archived,
            "is_general": self.is_general, "unlinked": 0, "is_shared": False,
            "is_ext_shared": False, "is_org_shared": False, "pending_shared": [],
            "is_pending_ext_shared": False, "is_member": viewer in self.members,
            "topic": {"value": self.topic, "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
            "previous_names": [],
        }
        if num_members:
            body["num_members"] = len(self.members)
        return body


MessageSource = Literal["api", "response_url", "user", "ack"]


@dataclass
class Message(Record):
    channel: str
    ts: str
    text: str
    user: str
    bot_id: str | None = None
    blocks: list[JsonDict] | None = None
    attachments: list[JsonDict] | None = None
    # Set on replies (the parent's ts) and, once it has replies, on the parent itself.
    thread_ts: str | None = None
    reply_count: int = 0
    reply_users: list[str] = field(default_factory=list)
    latest_reply: str | None = None
    edited: bool = False
    edited_ts: str | None = None
    subtype: str | None = None
    files: list[JsonDict] | None = None
    metadata: JsonDict | None = None
    parent_user_id: str | None = None
    source: MessageSource = "api"

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, team_id: str, bot: BotIdentity) -> JsonDict:
        body: JsonDict = {"type": "message", "ts": self.ts, "text": self.text,
                          "user": self.user, "team": team_id}
        if self.bot_id:
            body.update(bot_id=self.bot_id, app_id=bot.app_id, bot_profile=bot.profile(team_id))
        optional: JsonDict = {"subtype": self.subtype, "blocks": self.blocks,
                              "attachments": self.attachments, "files": self.files,
                              "metadata": self.metadata, "thread_ts": self.thread_ts,
                              "parent_user_id": self.parent_user_id if self.is_reply else None}
        body.update({k: v for k, v in optional.items() if v is not None})
        if self.files:
            body["upload"] = True
        if self.edited:
            body["edited"] = {"user": self.user, "ts": self.edited_ts}
        if not self.is_reply and self.reply_count:
            body.update(reply_count=self.reply_count, reply_users=list(self.reply_users),
                        reply_users_count=len(self.reply_users), latest_reply=self.latest_reply)
        return body


@dataclass
class Ephemeral(Record):
    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[JsonDict] | None = None
    attachments: list[JsonDict] | None = None
    thread_ts: str | None = None
    deleted: bool = False
    source: MessageSource = "api"


@dataclass
class View(Record):
    id: str
    type: str
    user_id: str
    hash: str
    payload: JsonDict  # the view as the app sent it
    root_view_id: str | None = None
    previous_view_id: str | None = None
    trigger_id: str | None = None

    @property
    def external_id(self) -> str:
        return str(self.payload.get("external_id") or "")

    @property
    def blocks(self) -> list[JsonDict]:
        return list(self.payload.get("blocks") or [])

    def to_api(self, team_id: str, bot: BotIdentity) -> JsonDict:
        p = self.payload
        body: JsonDict = {
            "id": self.id, "team_id": team_id, "type": self.type,
            "blocks": p.get("blocks", []), "private_metadata": p.get("private_metadata", ""),
            "callback_id": p.get("callback_id", ""), "external_id": self.external_id,
            "state": {"values": {}}, "hash": self.hash,
            "clear_on_close": bool(p.get("clear_on_close", False)),
            "notify_on_close": bool(p.get("notify_on_close", False)),
            "root_view_id": self.root_view_id or self.id,
            "previous_view_id": self.previous_view_id, "app_id": bot.app_id,
            "app_installed_team_id": team_id, "bot_id": bot.bot_id,
        }
        for key in ("title", "submit", "close"):
            if key in p:
                body[key] = p[key]
        return body


@dataclass
class Trigger(Record):
    id: str
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class UploadedFile(Record):
    id: str
    filename: str
    length: int
    created: float
    user: str
    data: bytes | None = None  # None until the upload URL received the bytes
    title: str | None = None
    alt_txt: str | None = None
    snippet_type: str | None = None
    shares: list[tuple[str, str]] = field(default_factory=list)  # (channel, message ts)

    def to_api(self, domain: str) -> JsonDict:
        ext = self.filename.rsplit(".", 1)[-1].lower() if "." in self.filename else "binary"
        created = int(self.created)
        url = f"https://files.slack.com/files-pri/{self.id}/{self.filename}"
        return {"id": self.id, "created": created, "timestamp": created, "name": self.filename,
                "title": self.title or self.filename, "mimetype": "application/octet-stream",
                "filetype": ext, "pretty_type": ext.upper(), "user": self.user,
                "size": len(self.data) if self.data is not None else self.length,
                "mode": "hosted", "is_external": False, "is_public": True,
                "url_private": url, "url_private_download": url + "?download=1",
                "permalink": f"https://{domain}.slack.com/files/{self.user}/{self.id}/{self.filename}",
                "channels": sorted({c for c, _ in self.shares}), "groups": [], "ims": []}


@dataclass
class ResponseUrl(Record):
    id: str
    channel: str
    user: str
    issued_at: float
    message_ts: str | None = None  # the message an interaction came from, if any
    thread_ts: str | None = None
    uses: int = 0


@dataclass
class ResponseUrlPost(Record):
    url_id: str
    channel: str
    user: str
    payload: JsonDict
    response_type: str
    replace_original: bool
    delete_original: bool
    thread_ts: str | None
    time: float
    # ts of the channel message or ephemeral this post created/changed, if any
    result_ts: str | None = None

    @property
    def text(self) -> str:
        return str(self.payload.get("text") or "")

    @property
    def blocks(self) -> list[JsonDict] | None:
        return self.payload.get("blocks")


@dataclass
class ApiCall(Record):
    method: str
    params: JsonDict  # as received, minus the token
    response: JsonDict
    status: int
    time: float
