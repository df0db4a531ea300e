"""Runbooks are data, validated when the bot starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app.localbot import LocalBot
from bot.incidents import service
from bot.runbooks import Check, RunbookError, load_all
from tests.alert_payloads import alertmanager, am_alert
from tests.conftest import send


def test_shipped_runbooks_cover_the_operations_guide() -> None:
    books = load_all()
    assert set(books) == {
        "high-consumer-lag", "consumer-group-stuck", "dlq-filling", "schema-incompatibility",
        "rebalancing", "broker-health", "generic-triage",
    }
    assert books["high-consumer-lag"].diagnosis[0].check is Check.KAFKA_LAG
    assert {"alertname": "KafkaConsumerLagHigh"} in books["high-consumer-lag"].match
    assert any(r.action == "purge-dlq" for r in books["dlq-filling"].remediation)


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


GOOD = "id: {id}\ntitle: T\nsummary: S\ndiagnosis:\n  - id: a\n    title: look\n"


@pytest.mark.parametrize(("name", "text", "message"), [
    ("x.yaml", "id: x\ntitle: T\nsummary: S\ndiagnosis: []\n", "x.yaml: diagnosis: List should have at least 1 item"),
    ("x.yaml", GOOD.format(id="x") + "    check: kafka.magic\n", "x.yaml: diagnosis.0.check: Input should be"),
    ("x.yaml", GOOD.format(id="y"), "x.yaml: the file name must be the runbook id (y.yaml)"),
    ("x.yaml", "id: [", "x.yaml: not valid YAML"),
    ("x.yaml", GOOD.format(id="x") + "match:\n  - {}\n", "an empty matcher would match every alert"),
])
def test_bad_runbook_is_named(tmp_path: Path, name: str, text: str, message: str) -> None:
    _write(tmp_path, name, text)
    with pytest.raises(RunbookError) as info:
        load_all(tmp_path)
    assert message in str(info.value)


def test_adding_a_runbook_is_adding_a_file(tmp_path: Path) -> None:
    _write(tmp_path, "kafka-disk-full.yaml", GOOD.format(id="kafka-disk-full"))
    _write(tmp_path, "dlq-filling.yaml", GOOD.format(id="dlq-filling"))
    books = load_all(extra=tmp_path)
    assert "kafka-disk-full" in books and len(books) == 8
    assert books["dlq-filling"].title == "T"  # a file with a shipped id replaces it


def test_check_config_names_a_broken_runbook(tmp_path: Path) -> None:
    import subprocess
    import sys

    _write(tmp_path, "broken.yaml", "id: broken\ntitle: T\nsummary: S\ndiagnosis:\n  - id: a\n    title: look\n"
                                    "    check: kafka.magic\n")
    result = subprocess.run([sys.executable, "-m", "bot.cli", "check-config"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "INCIDENTBOT_RUNBOOKS_DIR": str(tmp_path)}, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("incidentbot: runbook error: broken.yaml: diagnosis.0.check: Input should be")


def test_regex_matchers(tmp_path: Path) -> None:
    from bot.alerts.routing import matches

    assert matches({"alertname": "~Kafka.*Lag"}, {"alertname": "KafkaConsumerLag"})
    assert not matches({"alertname": "~Kafka"}, {"alertname": "KafkaConsumerLag"})  # the whole value
    _write(tmp_path, "x.yaml", GOOD.format(id="x") + "match:\n  - alertname: '~(unclosed'\n")
    with pytest.raises(RunbookError, match="is not a valid regular expression"):
        load_all(tmp_path)


# ---------------------------------------------------------------- the checklist a person reads

def checklist_commands(bot: LocalBot, ref: str) -> list[str]:
    """Every command line on the incident's checklist, as shown (`code`, with its label if any)."""
    parent = next(m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts))
    checklist = next(m for m in bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)
                     if m.text.startswith("Runbook: "))
    text = "\n".join(b["text"]["text"] for b in checklist.blocks if b["type"] == "section" and "text" in b)
    return re.findall(r"^(?:\w+: )?`[^`\n]+`$", text, flags=re.MULTILINE)


def checklist_steps(bot: LocalBot, ref: str) -> list[str]:
    """The steps' titles on the incident's checklist, in order."""
    parent = next(m for m in bot.slack.state.messages("C0INCIDENTS") if ref in m.text and m.thread_ts in (None, m.ts))
    checklist = next(m for m in bot.slack.state.messages("C0INCIDENTS", thread_ts=parent.ts)
                     if m.text.startswith("Runbook: "))
    return [re.sub(r"^:\w+: \*\d+\. (.*?)\*.*", r"\1", b["text"]["text"], flags=re.S)
            for b in checklist.blocks if str(b.get("block_id", "")).startswith("step-")]


def open_dlq_incident(bot: LocalBot, unique: str, labels: dict[str, str]) -> str:
    alert = am_alert(f"dlq-{unique}", {"severity": "warning", **labels})
    ref = str(send(bot, alertmanager(f"dlq-{unique}", [alert])).json()["incident"])
    incident = service.get(bot.ctx.engine, ref)
    assert incident is not None and incident.runbook_id == "dlq-filling"
    return ref


def test_rabbitmq_dlq_checklist_shows_rabbitmq_commands_only(alerting_bot: LocalBot, unique: str) -> None:
    queue = f"orders-{unique}.dlq"
    ref = open_dlq_incident(alerting_bot, unique, {"alertname": "RabbitMQDeadLetterQueueDepth", "queue": queue})
    assert checklist_commands(alerting_bot, ref) == [
        "`rabbitmqctl list_queues name messages consumers`",
        f"`rabbitmqadmin get queue={queue} ackmode=ack_requeue_true count=10`",
    ]
    # A Kafka DLQ's steps have nothing to say about a RabbitMQ queue: they are not on its checklist.
    assert checklist_steps(alerting_bot, ref) == [
        "Measure the RabbitMQ dead-letter queue's depth and its consumers",
        "Sample the RabbitMQ dead letters and read why they died (x-death)",
        "Match the errors in the consumers' logs to the DLQ's error patterns",
        "Decide whether the failure is transient or systematic",
    ]


def test_kafka_dlq_checklist_shows_kafka_commands_only(alerting_bot: LocalBot, unique: str) -> None:
    topic = f"orders-{unique}"
    ref = open_dlq_incident(alerting_bot, unique, {"alertname": "KafkaDLQGrowing", "topic": topic})
    bootstrap = alerting_bot.ctx.settings.kafka["local"].bootstrap_servers
    assert checklist_commands(alerting_bot, ref) == [
        f"`kafka-get-offsets.sh --bootstrap-server {bootstrap} --topic {topic}.dlq`",
        f"`kafka-console-consumer.sh --bootstrap-server {bootstrap} --topic {topic}.dlq --from-beginning "
        "--max-messages 10 --property print.headers=true`",
    ]


def test_a_subject_on_no_broker_shows_every_command_with_its_broker(alerting_bot: LocalBot, unique: str) -> None:
    ref = open_dlq_incident(alerting_bot, unique, {"alertname": "DLQDepthHigh"})
    assert [line.split("`")[0] for line in checklist_commands(alerting_bot, ref)] == [
        "Kafka: ", "Kafka: ", "RabbitMQ: ", "RabbitMQ: "]
