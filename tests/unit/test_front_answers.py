"""Which of Slack's requests the HTTP front answers itself (an empty 200 is their
whole answer) and which it passes to the bot (their answer carries something)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app.front import answered_here

CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("slash command", {"command": "/lag", "text": "", "response_url": "https://hooks.slack.com/x"}, True),
    ("slash command without text", {"command": "/incident"}, True),
    ("button press", {"type": "block_actions", "actions": [{"action_id": "incident_acknowledge"}]}, True),
    ("modal submitted (errors go in the answer)", {"type": "view_submission", "view": {}}, False),
    ("modal closed", {"type": "view_closed", "view": {}}, False),
    ("options for a select (the answer is the list)", {"type": "block_suggestion"}, False),
    ("shortcut", {"type": "shortcut", "callback_id": "x"}, False),
    ("url_verification (the answer is the challenge)", {"type": "url_verification", "challenge": "c"}, False),
    ("event (Slack sends it again after 3 s without a 200)", {"type": "event_callback", "event": {}}, True),
    ("a payload type that names a command field too", {"type": "view_submission", "command": "/lag"}, False),
]


@pytest.mark.parametrize(("what", "parsed", "expected"), CASES, ids=[c[0] for c in CASES])
def test_answered_here(what: str, parsed: dict[str, Any], expected: bool) -> None:
    assert answered_here(parsed) is expected
