"""What a person sees of a slash command's acknowledgement.

Slack treats the body of the bot's HTTP answer to a slash command and the payload
of its Socket Mode ack alike: nothing, when empty; otherwise a message with its
text and blocks, seen only by the person who typed the command unless
``response_type`` is ``in_channel``. A command the bot never acknowledged shows
the person Slack's error instead. Interactions (buttons, modals) show nothing of
their acknowledgement: a modal's ``response_action`` is the bot's answer to Slack.

No event is emitted for these: whoever typed the command (the console, a test's
LocalBot) is handed the acknowledgement as the answer and shows it from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.localslack.api import content_from
from bot.localslack.models import Ephemeral, Message, SlackError
from bot.localslack.state import WorkspaceState


def show_command_ack(state: WorkspaceState, command: Mapping[str, Any], ack: object) -> Message | Ephemeral | None:
    """Show ``ack`` (the answer to the slash command ``command``, a payload as
    Slack sends it) as Slack would; content Slack refuses shows its error instead."""
    if not isinstance(ack, dict) or not ack:
        return None
    try:
        content = content_from(ack, required=False)
    except SlackError as exc:
        return show_command_failure(state, command, exc.error)
    if content.empty:
        return None
    channel, user = str(command.get("channel_id", "")), str(command.get("user_id", ""))
    thread_ts = str(command.get("thread_ts") or "") or None
    if ack.get("response_type") == "in_channel":
        return state.add_message(Message(
            channel, state.next_ts(), content.text or "", state.bot.user_id, bot_id=state.bot.bot_id,
            blocks=content.blocks, attachments=content.attachments, thread_ts=thread_ts, source="ack"), emit=False)
    return state.add_ephemeral(Ephemeral(
        channel, user, state.next_ts(), content.text or "", content.blocks, content.attachments,
        thread_ts=thread_ts, source="ack"), emit=False)


def show_command_failure(state: WorkspaceState, command: Mapping[str, Any], error: str) -> Ephemeral:
    """Slack's notice when the bot did not answer a slash command (``operation_timeout``)
    or could not be reached (``dispatch_failed``)."""
    return state.add_ephemeral(Ephemeral(
        str(command.get("channel_id", "")), str(command.get("user_id", "")), state.next_ts(),
        f'{command.get("command", "")} failed with the error "{error}"',
        thread_ts=str(command.get("thread_ts") or "") or None, source="ack"), emit=False)
