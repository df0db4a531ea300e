"""Runbooks are data: every shipped one loads, and a broken file stops the bot with
one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runbooks import Broker, Check, RunbookError, load_all, load_file, shipped

GOOD = "id: {id}\ntitle: T\nsummary: S\ndiagnosis:\n  - id: a\n    title: look\n"
X = GOOD.format(id="x")


def test_every_shipped_runbook_loads_and_names_its_file() -> None:
    books = load_all()
    assert sorted(books) == ["broker-health", "consumer-group-stuck", "dlq-filling", "generic-triage",
                             "high-consumer-lag", "rebalancing", "schema-incompatibility"]
    assert sorted(p.stem for p in shipped().glob("*.yaml")) == sorted(books)
    assert books["high-consumer-lag"].diagnosis[0].check is Check.KAFKA_LAG
    assert books["generic-triage"].match == []


BROKEN: list[tuple[str, str, str]] = [
    ("no title", "id: x\nsummary: S\ndiagnosis:\n  - id: a\n    title: look\n", "x.yaml: title: Field required"),
    ("id with capitals", X.replace("id: x", "id: X_Y"), "x.yaml: id: String should match pattern '^[a-z0-9-]+$'"),
    ("unknown severity", X + "severity: high\n",
     "x.yaml: severity: String should match pattern '^(critical|warning|info)$'"),
    ("no diagnosis step", "id: x\ntitle: T\nsummary: S\ndiagnosis: []\n",
     "x.yaml: diagnosis: List should have at least 1 item after validation, not 0"),
    ("step id with a space", X.replace("- id: a", "- id: A b"),
     "x.yaml: diagnosis.0.id: String should match pattern '^[a-z0-9-]+$'"),
    ("step title too short", X.replace("title: look", "title: ab"),
     "x.yaml: diagnosis.0.title: String should have at least 3 characters"),
    ("unknown check", X + "    check: kafka.magic\n",
     "x.yaml: diagnosis.0.check: Input should be 'kafka.lag', 'kafka.group', 'kafka.dlq', 'kafka.brokers', "
     "'rabbitmq.queue', 'rabbitmq.nodes', 'schema.subject' or 'manual'"),
    ("repeated step ids", X + "  - id: a\n    title: again\n", "x.yaml: step ids repeat in x: ['a']"),
    ("empty matcher", X + "match:\n  - {}\n", "x.yaml: match: an empty matcher would match every alert"),
    ("matcher value not text", X + "match:\n  - alertname: [a]\n", "x.yaml: match.0.alertname: Input should be a "
                                                                  "valid string"),
    ("bad regular expression", X + "match:\n  - alertname: '~(unclosed'\n",
     "x.yaml: match: alertname: '~(unclosed' is not a valid regular expression (missing ), unterminated subpattern "
     "at position 0)"),
    ("unknown escalation step", X + "escalation:\n  - minute: 5\n    kind: pager\n",
     "x.yaml: escalation.0.kind: Input should be 'lag_dlq', 'consumer_health', 'brokers', 'platform' or 'lead'"),
    ("escalation at minute 0", X + "escalation:\n  - minute: 0\n    kind: lead\n",
     "x.yaml: escalation.0.minute: Input should be greater than 0"),
    ("a list, not a runbook", "- a\n", "x.yaml: Input should be a valid dictionary or instance of Runbook"),
    ("command for an unknown broker", X + "    commands: {activemq: amq-stat}\n",
     "x.yaml: diagnosis.0.commands.activemq.[key]: Input should be 'kafka' or 'rabbitmq'"),
    ("command for the other broker", X + "    check: kafka.lag\n    commands: {rabbitmq: rabbitmqctl list_queues}\n",
     "x.yaml: diagnosis.0: step a runs kafka.lag but has a RabbitMQ command: its Run button and its command would "
     "look at different brokers"),
    ("the broker's command twice", X + "    check: kafka.lag\n    command: kafka-a\n    commands: {kafka: kafka-b}\n",
     "x.yaml: diagnosis.0: step a: command and commands.kafka both give its Kafka command"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_a_broken_runbook_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "x.yaml").write_text(text)
    with pytest.raises(RunbookError) as refused:
        load_file(tmp_path / "x.yaml")
    assert str(refused.value) == message


def test_not_yaml(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("id: [")
    with pytest.raises(RunbookError, match=r"^x\.yaml: not valid YAML \(while parsing a flow node"):
        load_file(tmp_path / "x.yaml")


FOLDERS: list[tuple[str, dict[str, str], str]] = [
    ("file name is not the id",
     {"x.yaml": GOOD.format(id="y"), "generic-triage.yaml": GOOD.format(id="generic-triage")},
     "x.yaml: the file name must be the runbook id (y.yaml)"),
    ("no generic-triage", {"x.yaml": X}, "the generic-triage runbook is missing: unmatched alerts need it"),
]


@pytest.mark.parametrize(("files", "message"), [c[1:] for c in FOLDERS], ids=[c[0] for c in FOLDERS])
def test_a_broken_folder_is_named(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(RunbookError) as refused:
        load_all(tmp_path)
    assert str(refused.value) == message


def test_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(RunbookError) as refused:
        load_all(tmp_path)
    assert str(refused.value) == f"no runbooks found in {tmp_path}"


def test_runbooks_dir_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(RunbookError) as refused:
        load_all(extra=tmp_path / "nope")
    assert str(refused.value) == f"runbooks_dir {tmp_path / 'nope'} is not a folder"


def test_own_runbooks_add_and_replace(tmp_path: Path) -> None:
    (tmp_path / "kafka-disk-full.yaml").write_text(GOOD.format(id="kafka-disk-full"))
    (tmp_path / "dlq-filling.yaml").write_text(GOOD.format(id="dlq-filling"))
    books = load_all(extra=tmp_path)
    assert len(books) == 8 and books["kafka-disk-full"].title == "T"
    assert books["dlq-filling"].title == "T"  # a file with a shipped id replaces it


def test_a_plain_command_on_a_broker_check_is_that_brokers(tmp_path: Path) -> None:
    """Runbooks written before `commands` keep working, and still show only where they fit."""
    (tmp_path / "x.yaml").write_text(X + "    check: rabbitmq.queue\n    command: rabbitmqctl list_queues\n"
                                         "  - id: b\n    title: pods\n    command: kubectl get pods\n")
    queue_step, manual = load_file(tmp_path / "x.yaml").diagnosis
    assert queue_step.command is None and queue_step.commands == {Broker.RABBITMQ: "rabbitmqctl list_queues"}
    assert queue_step.commands_for(Broker.KAFKA) == []
    assert queue_step.commands_for(None) == [(Broker.RABBITMQ, "rabbitmqctl list_queues")]
    assert manual.commands_for(Broker.KAFKA) == manual.commands_for(Broker.RABBITMQ) == [(None, "kubectl get pods")]
