"""`/ops status` as a Report: can the bot reach each Kafka cluster, RabbitMQ, its
database and (in the timer owner) its escalation timers?"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from bot.health.verdict import Level, Verdict
from bot.reports.report import Report, Table

if TYPE_CHECKING:
    from bot.app.readiness import Readiness


def readiness_report(result: Readiness) -> Report:
    down = [c.name for c in result.checks if not c.ok]
    verdict = (Verdict(reasons=["All connections are up."]) if result.ready else
               Verdict(level=Level.CRITICAL, reasons=[f"Some connections are down: {', '.join(down)}."]))
    rows = [["OK" if c.ok else "DOWN", c.name, (c.detail if c.ok else c.error) or "", f"{c.latency_ms:.0f}"]
            for c in sorted(result.checks, key=lambda c: c.ok)]
    return Report(title="Bot status", verdict=verdict, taken_at=datetime.now(timezone.utc),
                  tables=[Table(headers=["STATE", "CHECK", "DETAIL", "MS"], rows=rows)])
