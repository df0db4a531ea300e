"""From one round's observations to decisions: open, raise, recover. Pure functions;
the round (bot.watch.round) stores the states and carries the decisions out.

A breach opens an incident only after `sustain` rounds in a row; an open one needs
`recover_s` of OK before it is called recovered, and "OK" for an open breach means
below its recovery threshold (hysteresis), so a value hovering around a threshold
opens one incident, not one per crossing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from bot.health.verdict import Level


@dataclass(frozen=True)
class Observation:
    """What one round saw of one watched thing."""

    key: str  # kind:cluster:name, one per problem subject
    kind: str  # lag, stuck, rebalancing, dlq, kafka-cluster, rabbit-nodes, schema, unreachable
    runbook: str
    level: Level  # judged against the opening thresholds
    recovered: bool  # below the recovery threshold (what an open breach must reach)
    text: str  # one sentence with the numbers
    labels: dict[str, str] = field(default_factory=dict)
    value: str | None = None  # the figure in brief ("12,400"), shown where the incident lists its subjects


@dataclass(frozen=True)
class State:
    """What the watch remembers of one key between rounds (stored in watch_breaches)."""

    key: str
    kind: str
    runbook: str
    labels: dict[str, str]
    streak: int = 0  # breaching rounds in a row
    level: Level = Level.OK  # worst level of the current breach
    first_at: float = 0.0
    last_text: str = ""
    incident_id: int | None = None  # opened: the incident it feeds
    opened_level: Level = Level.OK  # the severity the incident last heard
    ok_since: float | None = None  # open and recovered since


class Act(StrEnum):
    OPEN = "open"
    RAISE = "raise"
    RECOVER = "recover"


@dataclass(frozen=True)
class Decision:
    act: Act
    state: State
    observation: Observation | None


def step(previous: State | None, seen: Observation | None, *, now: float, sustain: int, recover_s: float,
         paused: bool = False) -> tuple[State | None, Decision | None]:
    """The next state of one key and what to do about it. `seen` None: this round
    could not look (its cluster was unreachable), so nothing changes."""
    if seen is None:
        return previous, None
    opened = previous is not None and previous.incident_id is not None
    # An open breach lasts until it reaches its recovery mark, below the opening threshold.
    breaching = not seen.recovered if opened else seen.level > Level.OK
    if not breaching:
        if not opened:
            return None, None  # a breach that never opened is forgotten at its first OK round
        assert previous is not None
        ok_since = previous.ok_since if previous.ok_since is not None else now
        state = replace(previous, streak=0, ok_since=ok_since, last_text=seen.text)
        if now - ok_since >= recover_s:
            return None, Decision(Act.RECOVER, state, seen)
        return state, None
    base = previous or State(key=seen.key, kind=seen.kind, runbook=seen.runbook, labels=seen.labels, first_at=now)
    level = max(seen.level, base.level) if base.streak else seen.level
    state = replace(base, streak=base.streak + 1, level=level, last_text=seen.text, ok_since=None)
    if state.incident_id is None:  # until it opens, the latest diagnosis names the problem and its runbook
        state = replace(state, kind=seen.kind, runbook=seen.runbook, labels=seen.labels)
    if paused:
        return state, None
    if state.incident_id is None:
        if state.streak >= sustain:
            return state, Decision(Act.OPEN, state, seen)
        return state, None
    if seen.level > state.opened_level:
        return state, Decision(Act.RAISE, state, seen)
    return state, None
