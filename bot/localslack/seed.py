"""The default local workspace: who and what exists before anything is posted."""

from __future__ import annotations

from bot.localslack.models import BotIdentity, Channel, User, UserGroup

DEFAULT_TEAM_ID = "T0LOCAL"
DEFAULT_TEAM_NAME = "Local workspace"
DEFAULT_DOMAIN = "localworkspace"
DEFAULT_BOT = BotIdentity()

HUMANS = ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE")


def default_users() -> list[User]:
    return [
        User("U0ALICE", "alice", "Alice Andersen", tz="Europe/Berlin", email="alice@example.com"),
        User("U0BOB", "bob", "Bob Brown", tz="America/New_York", email="bob@example.com"),
        User("U0CAROL", "carol", "Carol Chen", tz="Asia/Singapore", email="carol@example.com"),
        User("U0DAVE", "dave", "Dave Diaz", tz="America/Los_Angeles", email="dave@example.com"),
    ]


def bot_user(bot: BotIdentity) -> User:
    return User(bot.user_id, bot.name, bot.name, is_bot=True, tz="UTC", bot_id=bot.bot_id)


def default_channels(bot: BotIdentity, created: int) -> list[Channel]:
    members = [bot.user_id, *HUMANS]
    return [
        Channel("C0INCIDENTS", "incidents", members=list(members), created=created,
                creator="U0ALICE", purpose="Kafka and RabbitMQ incidents"),
        Channel("C0GENERAL", "general", members=list(members), created=created,
                creator="U0ALICE", is_general=True),
        Channel("C0OPS", "ops", members=list(members), created=created,
                creator="U0ALICE", purpose="What the bot notices that is not an incident"),
    ]


def default_usergroups() -> list[UserGroup]:
    return [
        UserGroup("S0PLATFORM", "platform-oncall", "Platform on-call", ["U0ALICE", "U0BOB"]),
        UserGroup("S0APPROVERS", "approvers", "Change approvers", ["U0CAROL", "U0DAVE"]),
    ]
