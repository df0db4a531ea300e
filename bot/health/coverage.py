"""A summary over several sources (Kafka and RabbitMQ, nodes and queues) that
could not see some of them: what it saw is judged as usual, and what it could not
see comes first and keeps it from being OK.

A partial picture under a green verdict reads as "all is well" to a person on
call, when the part not seen may be the part on fire."""

from __future__ import annotations

from bot.health.verdict import Level, Verdict


def partial(seen: Verdict, unseen: list[str], *, saw_anything: bool) -> Verdict:
    """``seen``: the verdict of what could be seen; ``unseen``: one sentence per part
    that could not be (what, where it was looked for, why). With something unseen the
    level is at least WARNING, and CRITICAL when nothing at all could be seen."""
    if not unseen:
        return seen
    level = max(seen.level, Level.WARNING) if saw_anything else Level.CRITICAL
    # What could be seen still counts only for its own reasons: "no dead-letter
    # queues found" is not a finding when nothing was looked at.
    kept = seen.reasons if saw_anything else []
    return Verdict(level=level, reasons=[*unseen, *kept])
