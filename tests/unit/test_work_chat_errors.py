"""A chat error that ends background work is logged as one line with its code (the
person who asked is still told, by reference); any other error keeps its traceback."""

from __future__ import annotations

import logging

import pytest

from bot.app.work import WorkPool
from bot.chat import ChatError


def run(fn, caplog: pytest.LogCaptureFixture) -> list[str]:  # type: ignore[no-untyped-def]
    told: list[str] = []
    pool = WorkPool(workers=1)
    with caplog.at_level(logging.WARNING, logger="bot.app.work"):
        pool.submit(fn, on_error=told.append)
        assert pool.wait_idle(10)
    pool.shutdown()
    return told


def test_a_chat_error_is_one_line_with_its_code(caplog: pytest.LogCaptureFixture) -> None:
    def refused() -> None:
        raise ChatError("channel_not_found", transient=False)

    told = run(refused, caplog)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == f"background work stopped (ref {told[0]}): the chat answered channel_not_found"


def test_any_other_error_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise KeyError("oops")

    told = run(broken, caplog)
    [record] = caplog.records
    assert record.exc_info is not None and told[0] in record.getMessage()
