"""bot.singleflight: questions asked together share one answer; errors are not kept."""

from __future__ import annotations

import threading
import time

import pytest

from bot.singleflight import SingleFlight


def test_callers_together_share_one_run() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    runs, started, release = [], threading.Event(), threading.Event()

    def work() -> int:
        runs.append(1)
        started.set()
        release.wait(5)
        return 42

    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(flight.run("k", work, 0)))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=lambda: answers.append(flight.run("k", work, 0))) for _ in range(5)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 5
    while flight._flying["k"].waiters < 5 and time.monotonic() < deadline:  # all have joined
        time.sleep(0.01)
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert answers == [42] * 6 and len(runs) == 1


def test_asked_alone_twice_in_a_row_runs_twice() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    runs: list[int] = []
    for _ in range(2):
        assert not flight.fresh("k", 60)  # nothing kept for a lone asker
        flight.run("k", lambda: runs.append(1) or len(runs), 60)
    assert len(runs) == 2


@pytest.mark.parametrize(("max_age", "runs_expected"), [(0.0, 2), (60.0, 1)])
def test_after_a_burst_the_answer_is_reused_within_max_age(max_age: float, runs_expected: int) -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    runs, started, release = [], threading.Event(), threading.Event()

    def work() -> int:
        runs.append(1)
        started.set()
        release.wait(5)
        return len(runs)

    first = threading.Thread(target=lambda: flight.run("k", work, max_age))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: flight.run("k", work, max_age))  # joins the flight: a burst
    second.start()
    deadline = time.monotonic() + 5
    while flight._flying["k"].waiters < 1 and time.monotonic() < deadline:  # it has joined
        time.sleep(0.01)
    release.set()
    first.join(5)
    second.join(5)
    assert flight.fresh("k", max_age) is (runs_expected == 1)  # what the next asker would get at once
    flight.run("k", work, max_age)
    assert len(runs) == runs_expected


def test_an_error_reaches_the_caller_and_is_not_kept() -> None:
    flight: SingleFlight[str, int] = SingleFlight()

    def broken() -> int:
        raise RuntimeError("broker down")

    with pytest.raises(RuntimeError, match="broker down"):
        flight.run("k", broken, 60)
    assert flight.run("k", lambda: 7, 60) == 7


def test_different_questions_do_not_share() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    assert [flight.run(k, lambda k=k: k.upper(), 60) for k in ("a", "b")] == ["A", "B"]
