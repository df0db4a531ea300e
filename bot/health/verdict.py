"""The verdict every health function returns."""

from __future__ import annotations

from enum import IntEnum

from pydantic import BaseModel, Field


class Level(IntEnum):
    """Ordered so that max() of several levels is the worst."""

    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def emoji(self) -> str:
        return {Level.OK: ":large_green_circle:", Level.WARNING: ":large_yellow_circle:",
                Level.CRITICAL: ":red_circle:"}[self]


class Verdict(BaseModel):
    level: Level = Level.OK
    reasons: list[str] = Field(default_factory=list)  # worst first, each a sentence a person can act on

    @property
    def headline(self) -> str:
        return f"{self.level.name}: {self.reasons[0]}" if self.reasons else self.level.name


def combine(*verdicts: Verdict) -> Verdict:
    """One verdict from several: the worst level, the reasons of the worst first."""
    ordered = sorted(verdicts, key=lambda v: v.level, reverse=True)
    level = ordered[0].level if ordered else Level.OK
    return Verdict(level=level, reasons=[r for v in ordered for r in v.reasons])


def verdict(reasons: list[tuple[Level, str]]) -> Verdict:
    """From (level, reason) pairs; OK reasons are kept only when nothing is wrong."""
    if not reasons:
        return Verdict()
    ordered = sorted(reasons, key=lambda pair: pair[0], reverse=True)
    worst = ordered[0][0]
    kept = [text for level, text in ordered if level > Level.OK or worst == Level.OK]
    return Verdict(level=worst, reasons=kept)
