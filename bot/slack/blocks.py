"""Small Block Kit builders that respect Slack's limits, so no renderer has to
remember them (3000 characters a section, 150 a header, 50 blocks a message)."""

from __future__ import annotations

from typing import Any

from bot.reports.markup import SECTION_CHARS, clip, escape

__all__ = ["Block", "clip", "context", "divider", "escape", "header", "limit_blocks", "section", "sections"]

Block = dict[str, Any]

SECTION_LIMIT = SECTION_CHARS
HEADER_LIMIT = 150
MAX_BLOCKS = 50


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_LIMIT), "emoji": True}}


def section(markdown: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(markdown, SECTION_LIMIT)}}


def sections(markdown: str) -> list[Block]:
    """Long text as several sections, cut at line ends so no line is split."""
    blocks: list[Block] = []
    chunk = ""
    for line in markdown.splitlines(keepends=True):
        if chunk and len(chunk) + len(line) > SECTION_LIMIT:
            blocks.append(section(chunk.rstrip("\n")))
            chunk = ""
        chunk += line
    if chunk.strip():
        blocks.append(section(chunk.rstrip("\n")))
    return blocks


def context(*markdown: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(m, SECTION_LIMIT)} for m in markdown[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def limit_blocks(blocks: list[Block], note: str = "…more was cut to fit one Slack message") -> list[Block]:
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return blocks[: MAX_BLOCKS - 1] + [context(note)]
