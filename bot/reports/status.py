"""Typed results turned into Block Kit. Renderers never talk to brokers."""

from __future__ import annotations

from bot.app.readiness import Readiness
from bot.slack import blocks
from bot.slack.blocks import Block


def _check_line(name: str, ok: bool, detail: str | None, error: str | None, ms: float) -> str:
    mark = ":white_check_mark:" if ok else ":x:"
    said = detail if ok else error
    return f"{mark} *{blocks.escape(name)}*: {blocks.escape(said or '')} _({ms:.0f} ms)_"


def readiness_text(result: Readiness) -> str:
    verdict = "All connections are up." if result.ready else "Some connections are down."
    lines = [f"{'OK' if c.ok else 'DOWN'} {c.name}: {c.detail if c.ok else c.error}" for c in result.checks]
    return "\n".join([verdict, *lines])


def readiness_blocks(result: Readiness) -> list[Block]:
    verdict = "All connections are up." if result.ready else "Some connections are down."
    lines = [_check_line(c.name, c.ok, c.detail, c.error, c.latency_ms) for c in result.checks]
    return [blocks.section(f"*Bot status*: {verdict}"), *blocks.sections("\n".join(lines))]
