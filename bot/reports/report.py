"""The one shape of every summary the bot posts: the verdict and its reason first,
then the numbers as a monospace table (worst rows first, "+N more" instead of
breaking Block Kit's limits), the snapshot's time, and the CLI command that shows
the same thing by hand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from pydantic import BaseModel, Field

from bot.health.verdict import Verdict
from bot.reports.markup import SECTION_CHARS, clip, escape

# A code block inside one section, less the fences and a margin.
TABLE_CHARS = SECTION_CHARS - 100
# A report's plain text: its reasons and notes, each list cut short, and the whole of it
# (Slack refuses a message text over 40,000 characters).
TEXT_ITEMS = 50
TEXT_CHARS = 39_000


class Table(BaseModel):
    headers: list[str]
    rows: list[list[str]]  # already ordered worst first
    title: str | None = None
    total_rows: int | None = None  # when rows were cut before they got here


class Report(BaseModel):
    title: str
    verdict: Verdict
    tables: list[Table] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # sentences shown after the tables
    taken_at: datetime
    cli: list[str] = Field(default_factory=list)  # equivalent commands for people who check by hand


class Page(BaseModel):
    """Text with a title and no verdict (help, a timeline, a list), in markup."""

    title: str
    body: str
    footer: str | None = None
    text: str | None = None  # the plain fallback, when it should differ from the body


def format_table(table: Table, max_chars: int = TABLE_CHARS) -> str:
    """Columns padded to their widest cell; rows that do not fit become "+N more"."""
    cells = [table.headers, *table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.rjust(w) if _numeric(cell) else cell.ljust(w) for cell, w in zip(row, widths)).rstrip()

    out = [line(table.headers)]
    total = table.total_rows if table.total_rows is not None else len(table.rows)
    # Counted as the chat will show them, escaped: a `<n>` of an error pattern takes
    # four characters more, and a table that overflows its section loses its end.
    used = len(escape(out[0])) + 1
    shown = 0
    for row in table.rows:
        text = line(row)
        if used + len(escape(text)) + 1 > max_chars - 20:
            break
        out.append(text)
        used += len(escape(text)) + 1
        shown += 1
    if total > shown:
        out.append(f"+{total - shown} more")
    return "\n".join(out)


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "").replace("-", "").replace("%", "").replace("+", "").isdigit()


def when(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def to_text(report: Report) -> str:
    """The plain text of a report: the chat's fallback in notifications and for
    screen readers, the timeline's record, the console's lines."""
    parts = [f"{report.title}: {report.verdict.headline}"]
    parts += _at_most([f"- {r}" for r in report.verdict.reasons[1:]], TEXT_ITEMS)
    for table in report.tables:
        parts += ([table.title] if table.title else []) + [format_table(table)]
    parts += _at_most([clip(n, SECTION_CHARS) for n in report.notes], TEXT_ITEMS)
    parts.append(f"Snapshot {when(report.taken_at)}")
    parts += [f"By hand: {c}" for c in report.cli]
    # A cluster of a thousand topics must not make a message the chat refuses.
    return clip("\n".join(parts), TEXT_CHARS)


def _at_most(lines: list[str], limit: int) -> list[str]:
    return lines if len(lines) <= limit else lines[:limit] + [f"+{len(lines) - limit} more"]


def page_text(page: Page) -> str:
    return page.text if page.text is not None else f"{page.title}\n\n{page.body}"
