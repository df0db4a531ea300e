"""/schema-cleanup against the real Schema Registry (Apicurio's Confluent API): the dry
run lists what goes and what stays because it is referenced, nothing changes before a
second person approves, and afterwards the registry lists the newest N and the
referenced versions only, the rest soft-deleted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.app.localbot import LocalBot, Transport
from bot.approvals import store
from bot.localslack.server import LocalSlack
from bot.slack.ids import Action
from tests.conftest import SCHEMA_REGISTRY, make_settings, start_bot
from tests.test_approvals import as_seen, card, card_sections, incident_thread, last_request

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


@pytest.fixture
def bot(tmp_path: Path, local_slack: LocalSlack, brokers: None, transport: Transport) -> Iterator[LocalBot]:
    running = start_bot(make_settings(tmp_path, approvals={"approvers": ["U0BOB"]}), local_slack, transport)
    yield running
    running.close()


def register(subject: str, schema: dict, references: list[dict] | None = None) -> int:  # type: ignore[type-arg]
    body = {"schema": json.dumps(schema), **({"references": references} if references else {})}
    answer = requests.post(f"{SCHEMA_REGISTRY}/subjects/{subject}/versions", json=body, headers=CT, timeout=10)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["id"])


def versions(subject: str, deleted: bool = False) -> list[int]:
    answer = requests.get(f"{SCHEMA_REGISTRY}/subjects/{subject}/versions",
                          params={"deleted": "true"} if deleted else None, timeout=10)
    assert answer.status_code == 200, answer.text
    return sorted(answer.json())


def invoice(n: int) -> dict:  # type: ignore[type-arg]
    """Version n of a record that gains one optional field per version (backward compatible)."""
    return {"type": "record", "name": "Invoice", "namespace": "acme",
            "fields": [{"name": f"f{i}", "type": ["null", "string"], "default": None} for i in range(1, n + 1)]}


def test_schema_cleanup_keeps_the_newest_and_the_referenced(bot: LocalBot, unique: str) -> None:
    subject, user = f"invoices-{unique}-value", f"billing-{unique}-value"
    for n in range(1, 6):
        register(subject, invoice(n))
    register(user, {"type": "record", "name": "Bill", "namespace": "acme",
                    "fields": [{"name": "invoice", "type": "acme.Invoice"}]},
             [{"name": "acme.Invoice", "subject": subject, "version": 2}])
    assert versions(subject) == [1, 2, 3, 4, 5]
    _, thread = incident_thread(bot, "Schema subjects with many old versions")
    bot.slash(f'/schema-cleanup {subject} --keep 2 --reason "quarterly cleanup"', thread=thread, user="U0ALICE")
    request_id = last_request(bot)
    shown = as_seen(card_sections(card(bot, request_id)))
    assert (f"Soft-delete 2 versions of subject {subject} in registry local; keep the newest 2 (v4, v5) and 1 "
            f"referenced.") in shown
    assert f"{subject} v2: Kept: referenced by {user} v1." in shown
    assert "soft-delete" in shown and "keep (referenced)" in shown and "*Reason*: quarterly cleanup" in shown
    assert versions(subject) == [1, 2, 3, 4, 5]  # the dry run deleted nothing

    bot.click(card(bot, request_id), Action.APPROVE, user="U0BOB")
    bot.ctx.work.wait_idle(60)
    request = store.get(bot.ctx.engine, request_id)
    assert request is not None and request.state == "executed", request and request.result
    assert versions(subject) == [2, 4, 5]
    assert versions(subject, deleted=True) == [1, 2, 3, 4, 5]  # soft: still there for whoever asks
    text = card_sections(card(bot, request_id))
    assert f"Soft-deleted 2 versions of {subject}: v1, v3." in as_seen(text)
    assert "Verified* :white_check_mark:" in text and f"{subject} now lists v2, v4, v5" in as_seen(text)


def test_schema_cleanup_with_nothing_to_delete_and_bad_words(bot: LocalBot, unique: str) -> None:
    subject = f"small-{unique}-value"
    register(subject, invoice(1))
    register(subject, invoice(2))
    _, thread = incident_thread(bot, "Schema cleanup refusals")
    bot.slash(f'/schema-cleanup {subject} --keep 3 --reason "quarterly cleanup"', thread=thread)
    assert bot.slack.state.response_url_posts()[-1]["text"].endswith("the dry run found nothing to do; the card "
                                                                     "says why.")
    bot.slash(f'/schema-cleanup {subject} --reason "quarterly cleanup"', thread=thread)
    assert "Say how many of the newest versions to keep with `--keep N`" in \
        bot.slack.state.response_url_posts()[-1]["text"]
    bot.slash(f'/schema-cleanup nope-{unique} --keep 1 --reason "quarterly cleanup"', thread=thread)
    assert f"Subject 'nope-{unique}' does not exist" in bot.slack.state.response_url_posts()[-1]["text"]
    assert versions(subject) == [1, 2]
