"""Forms (bot.chat.Form) as Slack modals, and their answers read back: the one
place that knows a modal's shape, its callback ids and where the typed text sits."""

from __future__ import annotations

import json
from typing import Any

from bot.chat import Form
from bot.slack.blocks import Block, clip
from bot.slack.ids import CONFIRM_BLOCK, CONFIRM_INPUT, REASON_BLOCK, REASON_INPUT, SCHEMA_BLOCK, SCHEMA_INPUT, Callback

# Form kind -> the modal's callback id, and the block and action ids of its one field.
KINDS: dict[str, tuple[Callback, str, str]] = {
    "schema_check": (Callback.SCHEMA_CHECK, SCHEMA_BLOCK, SCHEMA_INPUT),
    "deny_reason": (Callback.DENY_REASON, REASON_BLOCK, REASON_INPUT),
    "confirm_purge": (Callback.CONFIRM_PURGE, CONFIRM_BLOCK, CONFIRM_INPUT),
}
TITLE_LIMIT = 24  # Slack's limit for a modal's title, submit and close texts


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": clip(text, TITLE_LIMIT)}


def build(form: Form) -> Block:
    callback, block, action = KINDS[form.kind]
    return {
        "type": "modal", "callback_id": callback, "private_metadata": json.dumps(form.metadata),
        "title": _plain(form.title), "submit": _plain(form.submit), "close": _plain("Cancel"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": form.prompt}},
                   {"type": "input", "block_id": block, "label": {"type": "plain_text", "text": form.label},
                    "element": {"type": "plain_text_input", "action_id": action, "multiline": form.multiline}}],
    }


def answer(kind: str, view: dict[str, Any]) -> str:
    """What the person typed into the form's field, stripped."""
    _, block, action = KINDS[kind]
    return str(view.get("state", {}).get("values", {}).get(block, {}).get(action, {}).get("value") or "").strip()


def metadata(view: dict[str, Any]) -> dict[str, str]:
    try:
        found = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def errors(kind: str, message: str) -> dict[str, Any]:
    """The acknowledgement that shows `message` under the form's field."""
    _, block, _ = KINDS[kind]
    return {"response_action": "errors", "errors": {block: message}}
