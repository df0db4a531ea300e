"""`/schema` against the real (Apicurio) Schema Registry: a subject, an inline
check, and the modal flow with Slack's view_submission."""

from __future__ import annotations

import json

import pytest
import requests

from bot.app.localbot import LocalBot
from bot.slack.ids import SCHEMA_BLOCK, SCHEMA_INPUT, Callback
from tests.conftest import SCHEMA_REGISTRY

V1 = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
V2 = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"},
                                                     {"name": "note", "type": "string", "default": ""}]}
BREAKING = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"},
                                                           {"name": "amount", "type": "long"}]}


def register(subject: str, schema: dict) -> None:  # type: ignore[type-arg]
    r = requests.post(f"{SCHEMA_REGISTRY}/subjects/{subject}/versions", json={"schema": json.dumps(schema)},
                      headers={"Content-Type": "application/vnd.schemaregistry.v1+json"}, timeout=10)
    assert r.status_code == 200, r.text


def test_subject_versions_and_changes(bot: LocalBot, unique: str) -> None:
    subject = f"orders-{unique}-value"
    register(subject, V1)
    register(subject, V2)
    bot.slash(f"/schema {subject}")
    text = bot.slack.state.response_url_posts()[-1]["text"]
    assert text.startswith(f"Schema {subject} (local): OK")
    assert "Compatibility BACKWARD (set globally)." in text
    assert "field 'note' (string) added with a default" in text
    rows = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows][:2] == ["2", "1"]


def test_inline_check_compatible_and_not(bot: LocalBot, unique: str) -> None:
    subject = f"pay-{unique}-value"
    register(subject, V1)
    bot.slash(f"/schema {subject} --check {json.dumps(V2)}")
    ok = bot.slack.state.response_url_posts()[-1]["text"]
    assert ok.startswith(f"Compatibility check: {subject} (local): OK: The candidate schema is compatible")
    bot.slash(f"/schema {subject} --check {json.dumps(BREAKING)}")
    bad = bot.slack.state.response_url_posts()[-1]["text"]
    assert bad.startswith(f"Compatibility check: {subject} (local): CRITICAL: The candidate schema is incompatible")
    assert "amount" in bad


def test_unknown_subject_and_bad_usage(bot: LocalBot, unique: str) -> None:
    register(f"inventory-{unique}-value", V1)
    bot.slash(f"/schema inventory-{unique}-valu")
    post = bot.slack.state.response_url_posts()[-1]
    assert post["response_type"] == "ephemeral" and f"inventory-{unique}-value" in post["text"]
    assert "`--check` needs the subject" in bot.slash("/schema --check {}").json()["text"]


@pytest.mark.both_transports
def test_modal_check_posts_into_the_channel(bot: LocalBot, unique: str) -> None:
    subject = f"modal-{unique}-value"
    register(subject, V1)
    bot.slash(f"/schema {subject} --check")
    views = bot.slack.state.views()
    assert len(views) == 1 and views[0].payload["callback_id"] == Callback.SCHEMA_CHECK
    view = views[0].payload
    payload = {
        "type": "view_submission", "team": {"id": "T0LOCAL"}, "user": {"id": "U0ALICE"}, "api_app_id": "A0LOCAL",
        "view": {**view, "id": views[0].id, "state": {"values": {SCHEMA_BLOCK: {SCHEMA_INPUT: {
            "type": "plain_text_input", "value": "{not json"}}}}},
    }
    refused = bot.interact(payload)
    assert refused.json()["response_action"] == "errors"
    assert refused.json()["errors"][SCHEMA_BLOCK].startswith("Not valid JSON")
    payload["view"]["state"]["values"][SCHEMA_BLOCK][SCHEMA_INPUT]["value"] = json.dumps(BREAKING)
    assert bot.interact(payload).status_code == 200
    bot.ctx.work.wait_idle(10)
    posted = bot.slack.state.messages("C0INCIDENTS")[-1]
    assert posted.text.startswith(f"Compatibility check: {subject} (local): CRITICAL")
