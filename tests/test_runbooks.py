"""Runbooks are data, validated when the bot starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runbooks import Check, RunbookError, load_all


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
