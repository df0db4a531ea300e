"""The Slack app manifest registers exactly the commands the bot answers."""

from __future__ import annotations

from pathlib import Path

import yaml

from commands.registry import REGISTRY, SLASH_COMMANDS

MANIFEST = Path(__file__).resolve().parent.parent / "slack-manifest.yml"


def test_manifest_matches_the_registry() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    registered = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert registered == ["/ops", *(f"/{name}" for name in SLASH_COMMANDS)]
    assert all(name in REGISTRY for name in SLASH_COMMANDS)
    urls = {c["url"] for c in manifest["features"]["slash_commands"]}
    assert urls == {manifest["settings"]["interactivity"]["request_url"]}
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]


def test_manifest_documents_both_transports() -> None:
    text = MANIFEST.read_text()
    manifest = yaml.safe_load(text)
    assert manifest["settings"]["socket_mode_enabled"] is False  # HTTP as shipped; one switch for Socket Mode
    assert manifest["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
    for needed in ("socket_mode_enabled", "connections:write", "INCIDENTBOT_SLACK__SOCKET_MODE",
                   "INCIDENTBOT_SLACK__APP_TOKEN"):
        assert needed in text
