"""Which runbook an alert follows, and what it is about, from its labels."""

from __future__ import annotations

import re

from bot.runbooks import Runbook
from bot.subject import Subject

TRIAGE = "generic-triage"
SUBJECT_LABELS = {
    "cluster": ("cluster", "kafka_cluster", "rabbitmq_cluster"),
    "group": ("consumergroup", "consumer_group", "group"),
    "topic": ("topic",),
    "queue": ("queue",),
}


def matches(matcher: dict[str, str], labels: dict[str, str]) -> bool:
    """Every label of the matcher must match: a plain value exactly, `~regex` fully."""
    for name, wanted in matcher.items():
        value = labels.get(name)
        if value is None:
            return False
        if wanted.startswith("~"):
            if not re.fullmatch(wanted[1:], value):
                return False
        elif value != wanted:
            return False
    return True


def pick(runbooks: dict[str, Runbook], labels: dict[str, str], asked: str | None = None) -> Runbook:
    """The runbook the sender asked for, else the first whose matchers fit, else triage."""
    if asked and asked in runbooks:
        return runbooks[asked]
    for book in runbooks.values():
        if book.id != TRIAGE and any(matches(m, labels) for m in book.match):
            return book
    return runbooks[TRIAGE]


def subject(labels: dict[str, str]) -> Subject:
    found = {field: next((labels[n] for n in names if labels.get(n)), None) for field, names in SUBJECT_LABELS.items()}
    return Subject(**found)
