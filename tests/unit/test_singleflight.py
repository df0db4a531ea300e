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
    time.sleep(0.05)  # the others are waiting on the first (nothing to poll for: they block)
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert answers == [42] * 6 and len(runs) == 1


@pytest.mark.parametrize(("max_age", "runs_expected"), [(0.0, 2), (60.0, 1)])
def test_a_finished_answer_is_reused_only_within_max_age(max_age: float, runs_expected: int) -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    runs: list[int] = []
    for _ in range(2):
        flight.run("k", lambda: runs.append(1) or len(runs), max_age)
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
