"""The verdict of a summary that could not see all it covers: never OK."""

from __future__ import annotations

import pytest

from bot.health.coverage import partial
from bot.health.verdict import Level, Verdict

KAFKA_UNSEEN = "Kafka `local` could not be seen (tried 127.0.0.1:1, timeout 2 s): no answer in time."
RABBIT_UNSEEN = "RabbitMQ `local` could not be seen (management API http://127.0.0.1:1): refused."
FINE = Verdict(reasons=["2 dead-letter queues, all empty"])
WARN = Verdict(level=Level.WARNING, reasons=["orders.dlq holds 150 messages"])
BAD = Verdict(level=Level.CRITICAL, reasons=["orders.dlq grows by 500/min"])

CASES = [
    # (what was seen, what was not, anything seen?) -> level, reasons in order
    ("all seen, fine", FINE, [], True, Level.OK, FINE.reasons),
    ("all seen, a warning", WARN, [], True, Level.WARNING, WARN.reasons),
    ("kafka unseen, rest fine", FINE, [KAFKA_UNSEEN], True, Level.WARNING, [KAFKA_UNSEEN, *FINE.reasons]),
    ("kafka unseen, rest warns", WARN, [KAFKA_UNSEEN], True, Level.WARNING, [KAFKA_UNSEEN, *WARN.reasons]),
    ("kafka unseen, rest critical", BAD, [KAFKA_UNSEEN], True, Level.CRITICAL, [KAFKA_UNSEEN, *BAD.reasons]),
    ("rabbit unseen, rest fine", FINE, [RABBIT_UNSEEN], True, Level.WARNING, [RABBIT_UNSEEN, *FINE.reasons]),
    ("nothing seen", Verdict(reasons=["no dead-letter queues found"]), [KAFKA_UNSEEN, RABBIT_UNSEEN], False,
     Level.CRITICAL, [KAFKA_UNSEEN, RABBIT_UNSEEN]),
]


@pytest.mark.parametrize(("seen", "unseen", "saw_anything", "level", "reasons"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_partial_picture_verdict(seen: Verdict, unseen: list[str], saw_anything: bool, level: Level,
                                 reasons: list[str]) -> None:
    got = partial(seen, unseen, saw_anything=saw_anything)
    assert got.level == level
    assert got.reasons == reasons
    if unseen:
        assert got.headline.startswith(f"{level.name}: {unseen[0]}")  # what was not seen comes first
