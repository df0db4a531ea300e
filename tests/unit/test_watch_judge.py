"""The watch's breach rules, round by round: sustain, severity rise, hysteresis, recovery."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.health.verdict import Level
from bot.watch.judge import Act, Observation, State, step

W, C, OK = Level.WARNING, Level.CRITICAL, Level.OK


def obs(level: Level, recovered: bool = False) -> Observation:
    return Observation(key="group:local:orders", kind="lag", runbook="high-consumer-lag", level=level,
                       recovered=recovered, text=f"lag {level.name}", labels={"consumergroup": "orders"})


def run(rounds: list[Observation | None], *, sustain: int = 2, recover_s: float = 300, every: float = 60,
        paused: bool = False) -> list[str]:
    """Feeds rounds one minute apart; an OPEN gets incident 7 as the round would."""
    state: State | None = None
    acts = []
    for i, seen in enumerate(rounds):
        state, decision = step(state, seen, now=1000 + i * every, sustain=sustain, recover_s=recover_s,
                               paused=paused)
        if decision is None:
            acts.append("-")
            continue
        acts.append(f"{decision.act.value}:{decision.state.level.name}")
        if decision.act in (Act.OPEN, Act.RAISE) and state is not None:
            state = replace(state, incident_id=7, opened_level=state.level)
    return acts


CASES = [
    # name, rounds, expected decisions
    ("one breaching round opens nothing", [obs(W), obs(OK)], ["-", "-"]),
    ("two rounds in a row open", [obs(W), obs(W)], ["-", "open:WARNING"]),
    ("interrupted streak starts again", [obs(W), obs(OK), obs(W), obs(W)], ["-", "-", "-", "open:WARNING"]),
    ("warning then critical raises in place", [obs(W), obs(W), obs(C)], ["-", "open:WARNING", "raise:CRITICAL"]),
    ("critical from the start opens critical", [obs(C), obs(C), obs(C)], ["-", "open:CRITICAL", "-"]),
    ("a critical streak opens at its worst", [obs(W), obs(C)], ["-", "open:CRITICAL"]),
    ("OK for 5 minutes recovers once",
     [obs(W), obs(W)] + [obs(OK, True)] * 6 + [obs(OK, True)],
     ["-", "open:WARNING", "-", "-", "-", "-", "-", "recover:WARNING", "-"]),
    # Hysteresis: below the opening threshold but above the recovery mark is still a breach.
    ("hovering around the threshold stays one incident",
     [obs(W), obs(W), obs(OK, False), obs(W), obs(OK, False), obs(W), obs(OK, False)],
     ["-", "open:WARNING", "-", "-", "-", "-", "-"]),
    ("a breach coming back during recovery resets the clock",
     [obs(W), obs(W), obs(OK, True), obs(OK, True), obs(W), obs(OK, True), obs(OK, True), obs(OK, True),
      obs(OK, True), obs(OK, True), obs(OK, True)],
     ["-", "open:WARNING", "-", "-", "-", "-", "-", "-", "-", "-", "recover:WARNING"]),
    ("an unseen round changes nothing", [obs(W), None, obs(W)], ["-", "-", "open:WARNING"]),
    ("an unseen round does not count as OK", [obs(W), obs(W), obs(OK, True), None, None, None, None, None],
     ["-", "open:WARNING", "-", "-", "-", "-", "-", "-"]),
]


@pytest.mark.parametrize("name,rounds,expected", CASES, ids=[c[0] for c in CASES])
def test_rounds(name: str, rounds: list[Observation | None], expected: list[str]) -> None:
    assert run(rounds) == expected


def test_in_the_hysteresis_band_an_open_breach_never_recovers() -> None:
    rounds = [obs(W), obs(W)] + [obs(OK, False)] * 10
    assert run(rounds, recover_s=0) == ["-", "open:WARNING"] + ["-"] * 10
    assert run(rounds + [obs(OK, True)], recover_s=0)[-1] == "recover:WARNING"


def test_sustain_of_three_rounds() -> None:
    assert run([obs(W), obs(W), obs(W)], sustain=3) == ["-", "-", "open:WARNING"]


def test_recover_right_away_when_configured_zero() -> None:
    assert run([obs(W), obs(W), obs(OK, True)], recover_s=0) == ["-", "open:WARNING", "recover:WARNING"]


def test_paused_breach_is_tracked_but_not_opened() -> None:
    state = None
    for i in range(4):
        state, decision = step(state, obs(W), now=float(i), sustain=2, recover_s=300, paused=True)
        assert decision is None
    assert state is not None and state.streak == 4  # opens at the first round after the pause ends
    _, decision = step(state, obs(W), now=5.0, sustain=2, recover_s=300)
    assert decision is not None and decision.act is Act.OPEN
