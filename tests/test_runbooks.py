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
    assert list(load_all(tmp_path)) == ["kafka-disk-full"]
