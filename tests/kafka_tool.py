"""Kafka's own consumer-groups command, run from the jars scripts/services fetched,
and its --describe output parsed into rows: the reference the bot must match."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
CONSUMER_GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


class CliRow(BaseModel):
    group: str
    topic: str
    partition: int | None
    current: int | None
    log_end: int | None
    lag: int | None
    consumer_id: str | None
    host: str | None
    client_id: str | None


def _value(cell: str) -> str | None:
    return None if cell == "-" else cell


def _int(cell: str) -> int | None:
    return None if cell == "-" else int(cell)


def describe(bootstrap: str, *groups: str) -> tuple[list[CliRow], str]:
    """Rows of `kafka-consumer-groups --describe` (all groups when none is named)."""
    target = [arg for g in groups for arg in ("--group", g)] or ["--all-groups"]
    result = subprocess.run(
        [str(ROOT / "scripts" / "services"), "kafka-class", CONSUMER_GROUPS,
         "--bootstrap-server", bootstrap, "--describe", *target],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"kafka-consumer-groups failed: {result.stderr.strip()[-500:]}")
    rows = []
    for line in result.stdout.splitlines():
        cells = line.split()
        if len(cells) != 9 or cells[0] == "GROUP":
            continue
        rows.append(CliRow(
            group=cells[0], topic=cells[1], partition=_int(cells[2]), current=_int(cells[3]),
            log_end=_int(cells[4]), lag=_int(cells[5]), consumer_id=_value(cells[6]),
            host=_value(cells[7]), client_id=_value(cells[8]),
        ))
    return rows, result.stdout
