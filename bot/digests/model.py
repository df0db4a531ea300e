"""A digest as the chat shows it: a summary message (one line per section), each
section as a report in its thread, and charts uploaded beside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from bot.chat import Attachment, Chat, Place, Posted
from bot.health.verdict import Level, Verdict, combine
from bot.reports.report import Report, Table

TITLES = {"daily": "Daily digest", "weekly": "Weekly digest", "monthly": "Monthly digest",
          "quarterly": "Quarterly digest"}


@dataclass
class Digest:
    kind: str
    taken_at: datetime
    sections: list[Report] = field(default_factory=list)
    charts: list[Attachment] = field(default_factory=list)

    def summary(self) -> Report:
        """The parent message: each section's verdict in one row, the details in the thread."""
        rows = [[s.title, s.verdict.level.name, s.verdict.reasons[0] if s.verdict.reasons else ""]
                for s in self.sections]
        overall = combine(*(s.verdict for s in self.sections))
        worst = [s.title for s in self.sections if s.verdict.level == overall.level and overall.level > Level.OK]
        reason = (f"needs a look: {', '.join(worst)}" if worst else f"{len(self.sections)} sections, nothing above "
                  "the thresholds")
        day = self.taken_at.astimezone(timezone.utc).strftime("%Y-%m-%d")
        return Report(title=f"{TITLES[self.kind]} {day}", verdict=Verdict(level=overall.level, reasons=[reason]),
                      tables=[Table(headers=["section", "status", "in short"], rows=rows)],
                      notes=["Details of each section, and the charts, are in the thread."],
                      taken_at=self.taken_at)


def post(chat: Chat, where: Place, digest: Digest) -> Posted:
    parent = chat.post(where, digest.summary())
    thread = where if where.thread else parent.thread()  # asked inside a thread: everything stays in it
    for section in digest.sections:
        # A table with no rows says nothing the verdict does not ("0 opened, 0 resolved").
        chat.post(thread, section.model_copy(update={"tables": [t for t in section.tables if t.rows]}))
    for chart in digest.charts:
        chat.upload(thread, chart)
    return parent


def missing(level: Level = Level.WARNING, *reasons: str) -> Verdict:
    """A section whose data is missing says so, and is never OK."""
    return Verdict(level=max(level, Level.WARNING), reasons=list(reasons))
