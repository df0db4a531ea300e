"""In-memory state of the local Slack workspace: who exists, what was posted.

Query helpers return copies, so tests and the console can read them freely;
locking, events, ids, fault injection and the call log live in ``core``.
"""

from __future__ import annotations

import copy
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping

from bot.localslack import seed
from bot.localslack.core import StateCore
from bot.localslack.models import (
    BotIdentity,
    Channel,
    Ephemeral,
    JsonDict,
    Message,
    ResponseUrl,
    ResponseUrlPost,
    SlackError,
    Trigger,
    UploadedFile,
    User,
    UserGroup,
    View,
)

log = logging.getLogger(__name__)

TRIGGER_TTL_SECONDS = 3.0  # Slack: trigger_ids expire three seconds after issue
RESPONSE_URL_TTL_SECONDS = 30 * 60.0
RESPONSE_URL_MAX_USES = 5


class WorkspaceState(StateCore):
    def __init__(
        self,
        *,
        team_id: str = seed.DEFAULT_TEAM_ID,
        team_name: str = seed.DEFAULT_TEAM_NAME,
        domain: str = seed.DEFAULT_DOMAIN,
        bot: BotIdentity = seed.DEFAULT_BOT,
        users: Iterable[User] | None = None,
        channels: Iterable[Channel] | None = None,
        usergroups: Iterable[UserGroup] | None = None,
        clock: Callable[[], float] = time.time,
        trigger_ttl: float = TRIGGER_TTL_SECONDS,
        response_url_ttl: float = RESPONSE_URL_TTL_SECONDS,
        response_url_max_uses: int = RESPONSE_URL_MAX_USES,
        rate_limits: dict[str, tuple[int, float]] | None = None,
    ) -> None:
        self.team_id = team_id
        self.team_name = team_name
        self.domain = domain
        self.bot = bot
        self.trigger_ttl = trigger_ttl
        self.response_url_ttl = response_url_ttl
        self.response_url_max_uses = response_url_max_uses
        super().__init__(clock, rate_limits)

        self._users: dict[str, User] = {}
        for user in [seed.bot_user(bot), *(seed.default_users() if users is None else users)]:
            self._users[user.id] = copy.deepcopy(user)
        created = int(clock())
        self._channels: dict[str, Channel] = {
            c.id: copy.deepcopy(c)
            for c in (seed.default_channels(bot, created) if channels is None else channels)}
        self._usergroups: dict[str, UserGroup] = {
            g.id: copy.deepcopy(g)
            for g in (seed.default_usergroups() if usergroups is None else usergroups)}
        self._messages: dict[tuple[str, str], Message] = {}
        self._ephemerals: list[Ephemeral] = []
        self._dms: dict[str, str] = {}  # user id -> D channel id
        self._triggers: dict[str, Trigger] = {}
        self._views: dict[str, View] = {}
        self._home_views: dict[str, str] = {}  # user id -> view id
        self._files: dict[str, UploadedFile] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._response_posts: list[ResponseUrlPost] = []

    # -- directory: users, groups, channels -------------------------------------------

    def user(self, user_id: str) -> User | None:
        with self._lock:
            user = self._users.get(user_id)
            return copy.deepcopy(user) if user else None

    def users(self) -> list[User]:
        with self._lock:
            return copy.deepcopy(list(self._users.values()))

    def add_user(self, user: User) -> None:
        with self.transaction():
            self._users[user.id] = copy.deepcopy(user)

    def usergroup(self, group_id: str) -> UserGroup | None:
        with self._lock:
            group = self._usergroups.get(group_id)
            return copy.deepcopy(group) if group else None

    def usergroups(self) -> list[UserGroup]:
        with self._lock:
            return copy.deepcopy(list(self._usergroups.values()))

    def channel(self, ref: str) -> Channel | None:
        """A channel by id, ``#name`` or name (copy)."""
        with self._lock:
            channel = self._find_channel(ref)
            return copy.deepcopy(channel) if channel else None

    def channels(self) -> list[Channel]:
        with self._lock:
            return copy.deepcopy(list(self._channels.values()))

    def channel_label(self, channel_id: str) -> str:
        """How a person would name a conversation: ``#incidents``, ``DM with alice``."""
        with self._lock:
            channel = self._channels.get(channel_id)
            if channel is None:
                return channel_id
            if channel.is_im:
                user = self._users.get(channel.im_user or "")
                return f"DM with {user.name if user else channel.im_user}"
            return f"#{channel.name}"

    def _find_channel(self, ref: str) -> Channel | None:
        if ref in self._channels:
            return self._channels[ref]
        name = ref.removeprefix("#")
        return next((c for c in self._channels.values() if c.name == name and not c.is_im), None)

    def add_channel(self, channel: Channel) -> Channel:
        with self.transaction():
            stored = copy.deepcopy(channel)
            stored.created = stored.created or int(self.now())
            self._channels[stored.id] = stored
            return copy.deepcopy(stored)

    def add_members(self, channel_id: str, user_ids: Iterable[str]) -> Channel:
        with self.transaction():
            channel = self._channels[channel_id]
            for user_id in user_ids:
                if user_id not in channel.members:
                    channel.members.append(user_id)
            return copy.deepcopy(channel)

    def open_dm(self, user_id: str) -> tuple[Channel, bool]:
        """The bot's DM with ``user_id`` and whether it already existed."""
        with self.transaction():
            existing = self._dms.get(user_id)
            if existing:
                return copy.deepcopy(self._channels[existing]), True
            channel = Channel(self.new_id("D"), members=[self.bot.user_id, user_id],
                              created=int(self.now()), is_im=True, im_user=user_id)
            self._channels[channel.id] = channel
            self._dms[user_id] = channel.id
            return copy.deepcopy(channel), False

    # -- messages ---------------------------------------------------------------------

    def message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            msg = self._messages.get((channel, ts))
            return copy.deepcopy(msg) if msg else None

    def messages(self, channel: str | None = None, thread_ts: str | None = None) -> list[Message]:
        """Messages in ts order; with ``thread_ts`` only that thread's replies."""
        with self._lock:
            found = [m for m in self._messages.values()
                     if (channel is None or m.channel == channel)
                     and (thread_ts is None or (m.is_reply and m.thread_ts == thread_ts))]
            return copy.deepcopy(sorted(found, key=lambda m: float(m.ts)))

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The parent message followed by its replies, oldest first."""
        with self._lock:
            parent = self._messages.get((channel, ts))
            return ([copy.deepcopy(parent)] if parent else []) + self.messages(channel, ts)

    def add_message(self, msg: Message, *, emit: bool = True) -> Message:
        """Store a new message (``ts`` already assigned) and bump its thread parent."""
        with self.transaction():
            stored = copy.deepcopy(msg)
            self._messages[(stored.channel, stored.ts)] = stored
            if stored.is_reply:
                parent = self._messages.get((stored.channel, stored.thread_ts or ""))
                if parent is None:
                    log.warning("reply %s in %s has no parent %s", stored.ts, stored.channel,
                                stored.thread_ts)
                else:
                    parent.thread_ts = parent.ts
                    parent.reply_count += 1
                    parent.latest_reply = stored.ts
                    if stored.user not in parent.reply_users:
                        parent.reply_users.append(stored.user)
                    stored.parent_user_id = parent.user
            if emit:
                self._emit("reply" if stored.is_reply else "message", stored)
            return copy.deepcopy(stored)

    def post_user_message(self, channel: str, user: str, text: str, thread_ts: str | None = None,
                          blocks: list[JsonDict] | None = None) -> Message:
        """Simulate a human posting (console, tests); no Block Kit or membership checks."""
        with self.transaction():
            target = self._find_channel(channel)
            if target is None:
                raise KeyError(f"no channel {channel!r}")
            return self.add_message(Message(target.id, self.next_ts(), text, user,
                                             blocks=blocks, thread_ts=thread_ts, source="user"))

    def update_message(self, channel: str, ts: str, changes: Mapping[str, object], *,
                       mark_edited: bool, emit: bool = True) -> Message:
        """Set the given Message fields, e.g. ``{"text": ..., "blocks": ...}``."""
        with self.transaction():
            msg = self._messages[(channel, ts)]
            for name, value in changes.items():
                if not hasattr(msg, name):
                    raise AttributeError(f"Message has no field {name!r}")
                setattr(msg, name, copy.deepcopy(value))
            if mark_edited:
                msg.edited, msg.edited_ts = True, self.next_ts()
            if emit:
                self._emit("update", msg)
            return copy.deepcopy(msg)

    def delete_message(self, channel: str, ts: str, *, emit: bool = True) -> Message:
        with self.transaction():
            msg = self._messages.pop((channel, ts))
            parent = self._messages.get((channel, msg.thread_ts or "")) if msg.is_reply else None
            if parent is not None:
                parent.reply_count = max(0, parent.reply_count - 1)
            if emit:
                self._emit("delete", msg)
            return copy.deepcopy(msg)

    def add_ephemeral(self, ephemeral: Ephemeral, *, emit: bool = True) -> Ephemeral:
        with self.transaction():
            stored = copy.deepcopy(ephemeral)
            self._ephemerals.append(stored)
            if emit:
                self._emit("ephemeral", stored)
            return copy.deepcopy(stored)

    def replace_ephemeral(self, user: str, message_ts: str, *, text: str | None,
                          blocks: list[JsonDict] | None, delete: bool,
                          emit: bool = True) -> Ephemeral | None:
        """Change or hide an ephemeral a response_url was issued for."""
        with self.transaction():
            for eph in self._ephemerals:
                if eph.user == user and eph.message_ts == message_ts and not eph.deleted:
                    if delete:
                        eph.deleted = True
                    else:
                        eph.text, eph.blocks = text or "", copy.deepcopy(blocks)
                    if emit:
                        self._emit("ephemeral", eph)
                    return copy.deepcopy(eph)
            return None

    def ephemerals(self, channel: str | None = None, user: str | None = None,
                   thread_ts: str | None = None, include_deleted: bool = False) -> list[Ephemeral]:
        with self._lock:
            return copy.deepcopy([e for e in self._ephemerals
                                  if (channel is None or e.channel == channel)
                                  and (user is None or e.user == user)
                                  and (thread_ts is None or e.thread_ts == thread_ts)
                                  and (include_deleted or not e.deleted)])

    # -- triggers and views -----------------------------------------------------------

    def issue_trigger_id(self, user_id: str = "U0ALICE") -> str:
        """A trigger_id as an interaction would carry; valid for ``trigger_ttl`` seconds."""
        with self.transaction():
            trigger_id = f"{next(self._ids)}.{int(self.now())}.{secrets.token_hex(16)}"
            self._triggers[trigger_id] = Trigger(trigger_id, user_id, self.now())
            return trigger_id

    def consume_trigger(self, trigger_id: str) -> Trigger:
        with self.transaction():
            trigger = self._triggers.get(trigger_id)
            if trigger is None:
                raise SlackError("invalid_trigger_id")
            if trigger.used:
                raise SlackError("exchanged_trigger_id")
            if self.now() - trigger.issued_at > self.trigger_ttl:
                raise SlackError("expired_trigger_id")
            trigger.used = True
            return copy.deepcopy(trigger)

    def store_view(self, view: View) -> View:
        """Store an opened, updated or published view (home views replace the user's tab)."""
        with self.transaction():
            self._views[view.id] = copy.deepcopy(view)
            if view.type == "home":
                self._home_views[view.user_id] = view.id
            self._emit("home" if view.type == "home" else "view", view)
            return copy.deepcopy(view)

    def view(self, view_id: str) -> View | None:
        with self._lock:
            view = self._views.get(view_id)
            return copy.deepcopy(view) if view else None

    def view_by_external_id(self, external_id: str) -> View | None:
        with self._lock:
            found = next((v for v in self._views.values() if v.external_id == external_id), None)
            return copy.deepcopy(found) if found else None

    def views(self, user_id: str | None = None, type: str | None = None) -> list[View]:
        with self._lock:
            return copy.deepcopy([v for v in self._views.values()
                                  if (user_id is None or v.user_id == user_id)
                                  and (type is None or v.type == type)])

    def home_view(self, user_id: str) -> View | None:
        with self._lock:
            view_id = self._home_views.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    # -- files ------------------------------------------------------------------------

    def new_file(self, filename: str, length: int, alt_txt: str | None = None,
                 snippet_type: str | None = None) -> UploadedFile:
        with self.transaction():
            record = UploadedFile(self.new_id("F"), filename, length, self.now(),
                                  self.bot.user_id, alt_txt=alt_txt, snippet_type=snippet_type)
            self._files[record.id] = record
            return copy.deepcopy(record)

    def store_file_bytes(self, file_id: str, data: bytes) -> bool:
        with self.transaction():
            record = self._files.get(file_id)
            if record is None:
                return False
            record.data = bytes(data)
            return True

    def set_file_title(self, file_id: str, title: str | None) -> None:
        with self.transaction():
            if title:
                self._files[file_id].title = title

    def share_file(self, file_id: str, channel: str, ts: str) -> None:
        """Note that the message ``ts`` in ``channel`` carries the file."""
        with self.transaction():
            self._files[file_id].shares.append((channel, ts))

    def file(self, file_id: str) -> UploadedFile | None:
        with self._lock:
            record = self._files.get(file_id)
            return copy.deepcopy(record) if record else None

    def files(self) -> list[UploadedFile]:
        with self._lock:
            return copy.deepcopy(list(self._files.values()))

    # -- response URLs ----------------------------------------------------------------

    def issue_response_url(self, channel: str, user: str, message_ts: str | None = None,
                           thread_ts: str | None = None) -> str:
        """Register a response_url; returns its id (the server turns it into a URL)."""
        with self.transaction():
            url_id = secrets.token_urlsafe(18)
            self._response_urls[url_id] = ResponseUrl(url_id, channel, user, self.now(),
                                                      message_ts, thread_ts)
            return url_id

    def use_response_url(self, url_id: str) -> ResponseUrl:
        """Count one use; Slack allows five within thirty minutes."""
        with self.transaction():
            record = self._response_urls.get(url_id)
            if record is None:
                raise SlackError("invalid_url", status=404)
            if self.now() - record.issued_at > self.response_url_ttl:
                raise SlackError("expired_url", status=404)
            if record.uses >= self.response_url_max_uses:
                raise SlackError("used_url", status=404)
            record.uses += 1
            return copy.deepcopy(record)

    def record_response_post(self, post: ResponseUrlPost) -> None:
        with self.transaction():
            self._response_posts.append(copy.deepcopy(post))
            self._emit("response_url", post)

    def response_url_posts(self, channel: str | None = None,
                           user: str | None = None) -> list[ResponseUrlPost]:
        with self._lock:
            return copy.deepcopy([p for p in self._response_posts
                                  if (channel is None or p.channel == channel)
                                  and (user is None or p.user == user)])
