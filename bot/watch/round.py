"""A watch round from end to end: look, judge every key, store the states, then open,
raise and recover incidents exactly as alerts would (bot.incidents.flows.take_alerts:
same dedup, same runbook routing, same ladder), and tell the ops channel what changed."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bot import db, silences
from bot.health.verdict import Level
from bot.incidents import flows
from bot.incidents import store as incident_store
from bot.incidents.model import Incident, Status
from bot.watch import events, look, recoveries, store
from bot.watch.alert import SOURCE, batch
from bot.watch.judge import Act, Decision, Observation, State, step

if TYPE_CHECKING:
    from bot.app.context import BotContext

log = logging.getLogger(__name__)
__all__ = ["SOURCE", "Watcher", "batch", "judge_and_act"]


def _name(key: str) -> str:
    return key.split(":", 2)[-1]


def is_paused(key: str, labels: dict[str, str], targets: set[str]) -> bool:
    """A pause names a group, topic, queue or cluster, or a key's cluster:name."""
    cluster = labels.get("cluster", "")
    names = {_name(key), cluster, f"{cluster}:{_name(key)}", key}
    names |= {v for k, v in labels.items() if k in ("consumergroup", "topic", "queue")}
    return bool(names & targets)


@dataclass
class Figures:
    started_at: float = 0.0
    duration_ms: float = 0.0
    watched: int = 0
    breaching: list[State] = field(default_factory=list)
    opened: int = 0


class Watcher:
    """Runs rounds one at a time in a thread of its own: the timer owner's duty only
    starts one when the previous has finished (a slow round is skipped over, never
    overlapped) and the escalation tick is never held up by a probe."""

    def __init__(self) -> None:
        self.memory = look.Memory()
        self.events = events.Seen()
        self._busy = threading.Lock()
        self.skipped = 0  # rounds not started because the previous one was still running
        self.last = Figures()
        self._last_start = -float("inf")
        self._warm_since: float | None = None
        self._thread: threading.Thread | None = None
        self.durations: deque[tuple[float, float]] = deque(maxlen=1000)  # (monotonic start, ms) per round

    def tick(self, ctx: BotContext) -> bool:
        """The timer owner's duty, every tick: a round when one is due and none runs."""
        w = ctx.settings.watch
        if not w.enabled or time.monotonic() - self._last_start < w.interval_s or self._warming(ctx):
            return False
        if self.start(ctx):
            return True
        # A round overran: this one is skipped (counted once), the next comes an interval later.
        self._last_start = time.monotonic()
        return False

    def _warming(self, ctx: BotContext) -> bool:
        """Before the first round: the followers of the watched clusters' committed
        offsets read their topic's history (seconds on a big cluster). The first round
        waits for them, at most an interval (10 s at most), so that it does not ask
        thousands of groups one by one at once."""
        if self._last_start != -float("inf"):
            return False
        now = time.monotonic()
        if self._warm_since is None:
            self._warm_since = now
        if now - self._warm_since >= min(ctx.settings.watch.interval_s, 10.0):
            return False
        followers = [ctx.clients.offsets_log(cluster) for cluster in look.kafka_targets(ctx)]
        return any(f is not None and not f.ready for f in followers)

    def start(self, ctx: BotContext) -> bool:
        if not self._busy.acquire(blocking=False):
            self.skipped += 1
            return False

        def run() -> None:
            try:
                self.run(ctx)
            except Exception:
                log.exception("watch round failed; the next one runs at its time")
            finally:
                self._busy.release()

        self._last_start = time.monotonic()
        self._thread = threading.Thread(target=run, name="watch-round", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Lets a running round finish (its probes are bounded by their timeouts)
        before the database and the work pool it uses go away."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def run(self, ctx: BotContext) -> Figures:
        started, t0 = time.time(), time.monotonic()
        looked = look.look(ctx, self.memory)
        figures = judge_and_act(ctx, looked, started)
        store.record_rounds(ctx.engine, looked.rounds)
        events.announce(ctx, self.events, looked)
        figures.started_at, figures.duration_ms = started, (time.monotonic() - t0) * 1000
        self.durations.append((t0, figures.duration_ms))
        self.last = figures
        return figures


def judge_and_act(ctx: BotContext, looked: look.Looked, now: float) -> Figures:
    w = ctx.settings.watch
    recoveries.take_over(ctx)  # decided by a process that stopped before posting them
    previous = _reconcile(ctx, store.states(ctx.engine))
    paused = {p.target for p in store.pauses(ctx.engine, now)}
    seen = {o.key: o for o in looked.observations}
    for key in previous:  # gone since (a deleted group or DLQ) while its probe answered: OK now
        if key not in seen and any(key.startswith(prefix) for prefix in looked.answered):
            old = previous[key]
            seen[key] = Observation(key=key, kind=old.kind, runbook=old.runbook, level=Level.OK, recovered=True,
                                    text=f"{_name(key)} is no longer there", labels=old.labels)
    kept: dict[str, State] = {}
    dropped: set[str] = set()
    decisions: list[Decision] = []
    for key in set(previous) | set(seen):
        obs = seen.get(key)
        labels = obs.labels if obs else previous[key].labels
        state, decision = step(previous.get(key), obs, now=now, sustain=w.sustain_rounds,
                               recover_s=w.recover_minutes * 60, paused=is_paused(key, labels, paused))
        if state is None:
            dropped.add(key)
        else:
            kept[key] = state
        if decision:
            decisions.append(decision)
    figures = Figures(watched=len(seen), breaching=[s for s in kept.values() if s.streak])
    in_force = silences.active(ctx.engine, now) if decisions else []
    recovered: list[Decision] = []
    for decision in decisions:
        if decision.act is Act.RECOVER:
            recovered.append(decision)
            kept.pop(decision.state.key, None)
            dropped.add(decision.state.key)
            continue
        if decision.act is Act.OPEN and held_back(ctx, decision.state, in_force, now):
            continue  # recorded on the silence; the breach opens at the first round after it ends
        try:
            after = carry_out(ctx, decision)
        except Exception:  # the next round decides again: nothing is marked done that was not
            log.exception("watch: could not %s %s", decision.act.value, decision.state.key)
            continue
        kept[decision.state.key] = after
        figures.opened += decision.act is Act.OPEN
    # The states and the recoveries decided in one write: a process killed after it
    # posts nothing twice (a recovery is a claimed row), one killed before it decides
    # again from the same states (an open breach's incident is found by its alert group).
    with db.write(ctx.engine) as conn:
        store.save_in(conn, kept, dropped - set(kept))
        decided = [(recoveries.record(conn, d.state, d.observation,
                                      recoveries.text(d.observation, d.state, w.recover_minutes), now), d.state)
                   for d in recovered]
    for rid, state in decided:
        recoveries.submit(ctx, rid, state.key, state.incident_id)
    return figures


def _incidents(ctx: BotContext, pks: set[int | None]) -> dict[int, Incident]:
    with ctx.engine.connect() as conn:
        return incident_store.get_many(conn, {pk for pk in pks if pk is not None})


def _reconcile(ctx: BotContext, states: dict[str, State]) -> dict[str, State]:
    """Each breach with the incident its alert group belongs to now. One whose incident
    a person resolved while it still stands opens anew after the sustain rounds (the
    resolution said "done", the brokers say otherwise); one that opened an incident
    just before its process died (the state not yet saved) feeds that incident; one
    split off or merged follows its alerts."""
    with ctx.engine.connect() as conn:
        now_in = recoveries.all_now_in(conn, list(states))
    found = _incidents(ctx, {s.incident_id for s in states.values()} | set(now_in.values()))
    out = {}
    for key, s in states.items():
        current = now_in.get(key)
        if current is not None and current in found and current != s.incident_id:
            s = replace(s, incident_id=current, opened_level=s.opened_level if s.incident_id else s.level)
        incident = found.get(s.incident_id) if s.incident_id is not None else None
        if s.incident_id is not None and (incident is None or incident.status is Status.RESOLVED):
            s = replace(s, incident_id=None, opened_level=Level.OK, streak=0, ok_since=None)
        out[key] = s
    return out


def match_labels(state: State) -> dict[str, str]:
    """A breach's labels as silences see them: its own, plus the names alerts use
    (`group`, `severity`) and the runbook its incident would follow."""
    labels = dict(state.labels)
    if "consumergroup" in labels:
        labels["group"] = labels["consumergroup"]
    return {**labels, "severity": state.level.name.lower(), "runbook": state.runbook}


def held_back(ctx: BotContext, state: State, in_force: list[silences.Silence], now: float) -> bool:
    labels = match_labels(state)
    silence = silences.first_match(in_force, labels)
    if silence is None:
        return False
    silences.record_suppressed(ctx.engine, silence.id, state.key, labels, now)
    return True


def carry_out(ctx: BotContext, d: Decision) -> State:
    """Open or raise: the state to keep, with the incident it feeds."""
    state = d.state
    outcome = flows.take_alerts(ctx, batch(state, d.observation, firing=True))
    if outcome.incident is None:
        return state
    return replace(state, incident_id=outcome.incident.id, opened_level=state.level)
