"""Reports and pages as Block Kit. A Report: the verdict and its reasons, the tables as monospace
code blocks, the notes, and a footer with the snapshot time and the CLI commands."""

from __future__ import annotations

from bot.reports.report import Page, Report, format_table, page_text, to_text, when
from bot.slack import blocks
from bot.slack.blocks import Block


def to_blocks(report: Report) -> list[Block]:
    level = report.verdict.level
    reasons = report.verdict.reasons or ["nothing to report"]
    out: list[Block] = [
        blocks.header(report.title),
        blocks.section(f"{level.emoji} *{level.name}*: {blocks.escape(reasons[0])}"
                       + "".join(f"\n• {blocks.escape(r)}" for r in reasons[1:6])
                       + (f"\n• +{len(reasons) - 6} more" if len(reasons) > 6 else "")),
    ]
    for table in report.tables:
        title = f"*{blocks.escape(table.title)}*\n" if table.title else ""
        out.append(blocks.section(f"{title}```{blocks.escape(format_table(table))}```"))
    for note in report.notes:
        out.append(blocks.section(blocks.escape(note)))
    footer = [f"Snapshot {when(report.taken_at)}"]
    if report.cli:
        footer.append("By hand: " + "  ·  ".join(f"`{blocks.escape(c)}`" for c in report.cli))
    out.append(blocks.context(*footer))
    return blocks.limit_blocks(out)


def message(report: Report) -> tuple[str, list[Block]]:
    # The plain text is the message's `text`, which Slack reads as mrkdwn in notifications:
    # broker data in it (a DLQ payload saying <!channel>) is escaped like in the blocks.
    return blocks.escape(to_text(report)), to_blocks(report)


def page_message(page: Page) -> tuple[str, list[Block]]:
    out = [blocks.header(page.title), *blocks.sections(page.body)]
    if page.footer:
        out.append(blocks.context(page.footer))
    return page_text(page), blocks.limit_blocks(out)
