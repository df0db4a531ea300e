"""The light markup the core writes its messages in: `*bold*`, `` `code` ``,
mentions and links. Its syntax is Slack's mrkdwn, the first chat the bot speaks;
keeping every piece of it here lets another chat translate it in one place."""

from __future__ import annotations

# The most text one message section holds (Slack's limit for a section's text).
SECTION_CHARS = 3000


def escape(text: str) -> str:
    """Text from outside (broker data, user input) shown verbatim: the three
    control characters escaped, so nothing in it can mention anyone or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def user(user_id: str) -> str:
    """A person, mentioned; actors that are not people ("bot", "alertmanager") stay words."""
    return f"<@{user_id}>" if user_id[:1] in ("U", "W") else user_id


def users(user_ids: list[str], usergroup: str | None = None, sep: str = " ") -> str:
    """People and a user group, mentioned."""
    found = [f"<!subteam^{usergroup}>"] if usergroup else []
    return sep.join(found + [f"<@{u}>" for u in user_ids])


def channel(channel_id: str) -> str:
    return f"<#{channel_id}>"


def link(url: str, label: str) -> str:
    return f"<{url}|{escape(label)}>"
