"""Which runbook an alert follows, why, and what it is about, from its labels.

In this order: the runbook the sender asked for (a `runbook` label or field),
then the runbooks' matchers (a name or a regular expression per label), then
what the labels say (bot.alerts.label_rules: a DLQ, a consumer group, a queue, a
broker), then generic-triage. The answer is a Route, which says in one sentence
which rule decided and on which labels, for the incident's timeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from bot.alerts import label_rules
from bot.config import DlqSettings
from bot.reports.markup import escape
from bot.runbooks import Runbook
from bot.subject import Subject

TRIAGE = "generic-triage"
SUBJECT_LABELS = {
    "cluster": label_rules.CLUSTER_LABELS,
    "group": label_rules.GROUP_LABELS,
    "topic": label_rules.TOPIC_LABELS,
    "queue": label_rules.QUEUE_LABELS,
}


@dataclass(frozen=True)
class Route:
    """The runbook picked, by which kind of rule (`asked`, `matcher`, `labels`,
    `triage`), the labels that decided it, and the words for the timeline."""

    runbook_id: str
    rule: Literal["asked", "matcher", "labels", "triage"]
    labels: dict[str, str] = field(default_factory=dict)
    why: str = ""

    @property
    def sentence(self) -> str:
        return f"Routed to {self.runbook_id} {self.why}."


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


def route(runbooks: dict[str, Runbook], labels: dict[str, str], asked: str | None = None,
          dlq: DlqSettings | None = None) -> Route:
    """The route an alert with these labels takes (see the module's docstring).
    `dlq` is how Kafka DLQ topics are named (the configured `dlq` settings)."""
    if asked and asked in runbooks:
        named = {"runbook": asked}
        return Route(asked, "asked", named, f"because the alert asked for it ({_pairs(named)})")
    for book in runbooks.values():
        if book.id == TRIAGE:
            continue
        for matcher in book.match:
            if matches(matcher, labels):
                seen = {name: labels[name] for name in matcher}
                shown = ", ".join(f"{n}={v}" for n, v in matcher.items())
                why = f"by matcher `{_safe(shown)}`" + ("" if _exact(matcher) else f" ({_pairs(seen)})")
                return Route(book.id, "matcher", seen, why)
    decided = label_rules.decide(labels, dlq or DlqSettings(), runbooks)
    if decided is not None:
        word = "label" if len(decided.labels) == 1 else "labels"
        return Route(decided.runbook_id, "labels", decided.labels,
                     f"by {word} {_pairs(decided.labels)} ({decided.why})")
    return Route(TRIAGE, "triage", label_rules.considered(labels), f"because {_nothing_fits(labels)}")


def pick(runbooks: dict[str, Runbook], labels: dict[str, str], asked: str | None = None,
         dlq: DlqSettings | None = None) -> Runbook:
    """The runbook of `route`."""
    return runbooks[route(runbooks, labels, asked, dlq).runbook_id]


def subject(labels: dict[str, str]) -> Subject:
    found = {name: (label_rules.first(labels, names) or (None, None))[1] for name, names in SUBJECT_LABELS.items()}
    return Subject(**found)


def triage_note(labels: dict[str, str]) -> str:
    """What the thread of a generic-triage incident says about its labels: all of
    them, and which ones routing considered."""
    seen = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    why = _nothing_fits(labels)
    return (f"No runbook matched this alert, so it follows generic triage. Labels seen: {_safe(seen) or 'none'}. "
            f"{why[0].upper()}{why[1:]}.")


def _nothing_fits(labels: dict[str, str]) -> str:
    name = {"alertname": labels["alertname"]} if labels.get("alertname") else {}
    looked = {k: v for k, v in label_rules.considered(labels).items() if k != "alertname"}
    matchers = f"no runbook's matcher fits {_pairs(name)}" if name else "no runbook's matcher fits its labels"
    if not looked:
        return (f"{matchers}, and no label names a DLQ, consumer group, queue or broker "
                f"(such as consumergroup, group_id, topic, queue, instance or pod)")
    verb = "names" if len(looked) == 1 else "name"
    return f"{matchers}, and {_pairs(looked)} {verb} no DLQ, consumer group, queue or Kafka or RabbitMQ broker"


def _exact(matcher: dict[str, str]) -> bool:
    return not any(v.startswith("~") for v in matcher.values())


def _pairs(labels: dict[str, str]) -> str:
    return ", ".join(f"`{_safe(f'{k}={v}')}`" for k, v in labels.items())


def _safe(text: str) -> str:
    # Label values come from outside: escaped so nothing in them can mention anyone
    # or fake a link, and no backtick, which would end the code span early.
    return escape(text).replace("`", "'")
