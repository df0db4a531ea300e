"""The two-person rule as Teleport tests its access requests: table-driven
sequences of reviews on a controllable clock, the state checked after each step."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import db
from bot.actions.base import Plan
from bot.approvals import rules, store
from bot.approvals.rules import State
from tests.conftest import postgres_database

T0 = 1_800_000_000.0
TTL = 15 * 60
APPROVERS = {"U0BOB", "U0CAROL"}


def plan() -> Plan:
    return Plan(kind="purge_dlq", cluster="local", target="orders.dlq", summary="Purge orders.dlq: 12 messages.")


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    e = db.create(f"sqlite:///{tmp_path / 'a.db'}")
    db.migrate(e)
    yield e
    e.dispose()


def act(engine, request_id: str, step: tuple[str, str, float]) -> str:  # type: ignore[no-untyped-def]
    """One review: ('approve'|'deny'|'expire', actor, seconds after T0) -> what the actor is told."""
    verb, actor, at = step
    now = T0 + at
    request = store.get(engine, request_id)
    assert request is not None
    if verb == "expire":
        if request.state == "requested" and request.expires_at <= now:
            store.move(engine, request, frm="requested", to="expired", actor="bot", now=now)
        return "expired?"
    check = rules.may_approve if verb == "approve" else rules.may_deny
    refusal = check(request, actor, now, is_approver=actor in APPROVERS, approvers="@approvers")
    if refusal:
        return refusal
    to = "approved" if verb == "approve" else "denied"
    return "ok" if store.move(engine, request, frm="requested", to=to, actor=actor, now=now, decided_by=actor) \
        else "lost the race"


CASES = [
    ("self-approval refused", [("approve", "U0ALICE", 10)], ["You cannot approve your own request"], "requested"),
    ("non-approver refused", [("approve", "U0DAVE", 10)], ["Only @approvers may approve"], "requested"),
    ("approver approves", [("approve", "U0BOB", 10)], ["ok"], "approved"),
    ("deny wins over a later approval", [("deny", "U0CAROL", 10), ("approve", "U0BOB", 20)],
     ["ok", "already denied by <@U0CAROL>"], "denied"),
    ("requester may withdraw", [("deny", "U0ALICE", 5)], ["ok"], "denied"),
    ("outsider may not deny", [("deny", "U0DAVE", 5)], ["Only @approvers (or whoever asked) may deny"], "requested"),
    ("approval after expiry refused", [("approve", "U0BOB", TTL + 1)], ["This request expired at"], "requested"),
    ("expired stays expired", [("expire", "bot", TTL + 1), ("approve", "U0BOB", TTL + 2)],
     ["expired?", "already expired"], "expired"),
    ("second approval refused", [("approve", "U0BOB", 10), ("approve", "U0CAROL", 11)],
     ["ok", "already approved by <@U0BOB>"], "approved"),
    ("approval just before expiry", [("approve", "U0BOB", TTL - 1)], ["ok"], "approved"),
]


@pytest.mark.parametrize(("name", "steps", "told", "final"), CASES, ids=[c[0] for c in CASES])
def test_review_sequences(engine, name: str, steps: list[tuple[str, str, float]], told: list[str],  # type: ignore[no-untyped-def]
                          final: str) -> None:
    request = store.create(engine, plan=plan(), requester="U0ALICE", incident_id=None, now=T0, ttl_seconds=TTL)
    for step, expected in zip(steps, told):
        assert expected in act(engine, request.id, step), (name, step)
    found = store.get(engine, request.id)
    assert found is not None and found.state == final
    trail = [t[2] for t in store.trail(engine, request.id)]
    assert trail[0] == "requested" and trail[-1] == (final if final != "requested" else "requested")


def test_concurrent_approvals_one_wins(engine) -> None:  # type: ignore[no-untyped-def]
    request = store.create(engine, plan=plan(), requester="U0ALICE", incident_id=None, now=T0, ttl_seconds=TTL)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def press(i: int) -> None:
        barrier.wait()
        fresh = store.get(engine, request.id)
        assert fresh is not None
        results.append(store.move(engine, fresh, frm="requested", to="approved", actor=f"U0X{i}", now=T0 + 1,
                                  decided_by=f"U0X{i}"))

    threads = [threading.Thread(target=press, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    assert [t[2] for t in store.trail(engine, request.id)].count("approved") == 1


def test_states_are_stored_as_their_words_and_only_the_rules_moves_happen(engine) -> None:  # type: ignore[no-untyped-def]
    request = store.create(engine, plan=plan(), requester="U0ALICE", incident_id=None, now=T0, ttl_seconds=TTL)
    with pytest.raises(ValueError, match="cannot go from requested to executed"):
        store.move(engine, request, frm=State.REQUESTED, to=State.EXECUTED, actor="bot", now=T0 + 1)
    assert store.move(engine, request, frm=State.REQUESTED, to=State.APPROVED, actor="U0BOB", now=T0 + 2,
                      decided_by="U0BOB")
    with engine.connect() as conn:  # the rows hold the same words as before the enum: no migration
        assert conn.execute(select(store.requests_table.c.state)).scalar_one() == "approved"
    found = store.get(engine, request.id)
    assert found is not None and found.state is State.APPROVED
    assert rules.may_approve(found, "U0CAROL", T0 + 3, is_approver=True, approvers="@approvers") == \
        "This request is already approved by <@U0BOB>; it cannot be acted on any more."
    assert [t[2] for t in store.trail(engine, request.id)] == ["requested", "approved"]


VOTES: list[tuple[str, int, list[str], list[int | None], list[str]]] = [
    ("one of two, then the second", 2, ["U0BOB", "U0CAROL"], [1, 2], ["requested", "approval"]),
    ("the same person twice counts once", 2, ["U0BOB", "U0BOB"], [1, None], ["requested", "approval"]),
    ("one needed: no partial row in the trail", 1, ["U0BOB"], [1], ["requested"]),
    ("three needed", 3, ["U0BOB", "U0CAROL", "U0DAVE"], [1, 2, 3], ["requested", "approval", "approval"]),
]


@pytest.mark.parametrize(("needed", "voters", "counts", "trail"), [v[1:] for v in VOTES], ids=[v[0] for v in VOTES])
def test_votes_are_counted_once_per_person(engine, needed: int, voters: list[str], counts: list[int | None],  # type: ignore[no-untyped-def]
                                           trail: list[str]) -> None:
    request = store.create(engine, plan=plan(), requester="U0ALICE", incident_id=None, now=T0, ttl_seconds=TTL,
                           why="poison pills", needed=needed)
    got = [store.vote(engine, request, voter, T0 + i) for i, voter in enumerate(voters, 1)]
    assert got == counts
    found = store.get(engine, request.id)
    assert found is not None and found.votes == tuple(dict.fromkeys(voters)) and found.needed == needed
    assert found.why == "poison pills"
    assert [t[2] for t in store.trail(engine, request.id)] == trail


def test_no_vote_on_a_request_that_no_longer_waits(engine) -> None:  # type: ignore[no-untyped-def]
    request = store.create(engine, plan=plan(), requester="U0ALICE", incident_id=None, now=T0, ttl_seconds=TTL,
                           needed=2)
    assert store.vote(engine, request, "U0BOB", T0 + 1) == 1
    assert store.move(engine, request, frm="requested", to="expired", actor="bot", now=T0 + TTL)
    assert store.vote(engine, request, "U0CAROL", T0 + TTL + 1) is None
    assert store.get(engine, request.id).votes == ("U0BOB",)  # type: ignore[union-attr]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The votes' lock on both databases: SQLite's writer lock, PostgreSQL's row lock."""
    if request.param == "sqlite":
        e = db.create(f"sqlite:///{tmp_path / 'v.db'}")
        db.migrate(e)
        yield e
        db.dispose(e)
        return
    with postgres_database() as url:
        e = db.create(url)
        db.migrate(e)
        yield e
        db.dispose(e)


def test_concurrent_presses_of_one_person_count_once(any_engine) -> None:  # type: ignore[no-untyped-def]
    engine = any_engine
    request = store.create(engine, plan=plan(), requester="U0ALICE", incident_id=None, now=T0, ttl_seconds=TTL,
                           needed=2)
    results: list[int | None] = []
    barrier = threading.Barrier(6)

    def press(i: int) -> None:
        barrier.wait()
        results.append(store.vote(engine, request, "U0BOB" if i % 2 else "U0CAROL", T0 + 1))

    threads = [threading.Thread(target=press, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r for r in results if r is not None) == [1, 2]
    assert sorted(store.get(engine, request.id).votes) == ["U0BOB", "U0CAROL"]  # type: ignore[union-attr]
