"""One incident per problem: where a new problem goes, decided from what is open.

A new alert batch that would open an incident does one of three things:

- JOIN an open incident of the same runbook and the same subject (cluster and
  group/topic/queue; for a cluster-level runbook the cluster alone), whichever
  source reported either: Alertmanager, Grafana, the generic webhook, the watch;
- ATTACH to a cluster-level incident (a broker down, the cluster unreachable) open
  on its cluster and opened within the window, when it is a problem such an
  outage causes (lag, a stuck group, a filling DLQ, rebalancing): it is listed on
  that incident as an affected subject and gets no ladder of its own;
- OPEN its own incident.

Pure: what is open is read by bot.incidents.linking, which also writes the answer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bot.reports.markup import escape
from bot.subject import Subject

# How a runbook's problem reads in a sentence ("lag on group `orders`").
WORDS = {"high-consumer-lag": "lag", "consumer-group-stuck": "stuck consumers", "dlq-filling": "DLQ filling",
         "rebalancing": "rebalancing", "broker-health": "broker health", "generic-triage": "an alert"}
SUBJECT_FIELDS = ("group", "topic", "queue")


@dataclass(frozen=True)
class Problem:
    """What a new alert batch is about: its runbook (and that runbook's scope) and subject."""

    runbook_id: str
    subject: Subject
    cluster_scope: bool = False  # the runbook is about a whole cluster
    attaches: bool = False  # the runbook's problems attach to an open cluster-level incident
    broker: str | None = None  # "kafka", "rabbitmq", None: not known (see broker_of)


@dataclass(frozen=True)
class Root:
    """An open cluster-level incident."""

    incident_id: int
    ref: str
    cluster: str | None
    created_at: float
    broker: str | None = None


_RABBIT = re.compile(r"rabbit", re.IGNORECASE)
_KAFKA = re.compile(r"kafka|partition|replica|\bisr|controller|zookeeper|strimzi|broker", re.IGNORECASE)


def broker_of(subject: Subject, labels: dict[str, str]) -> str | None:
    """Which broker a problem is on: its subject's (a group or topic is Kafka's, a queue
    RabbitMQ's), else what its alert's name and labels say; None when they do not.
    Kafka and RabbitMQ clusters may share a name (both are `local` by default): a
    RabbitMQ alarm is no cause of Kafka lag."""
    if subject.broker is not None:
        return subject.broker.value
    said = " ".join([labels.get("alertname", ""), *labels])
    if _RABBIT.search(said):
        return "rabbitmq"
    if _KAFKA.search(said):
        return "kafka"
    return None


@dataclass(frozen=True)
class Decision:
    kind: Literal["join", "attach", "open"]
    incident_id: int | None = None


def claim_key(problem: Problem) -> str | None:
    """The key under which an open incident holds its problem, so that the same problem
    reported again lands in it: the runbook, the cluster and the group (else the topic
    or queue). None when the subject is too vague to tell two problems apart (no group,
    topic or queue, and not a cluster-level runbook)."""
    s = problem.subject
    if problem.cluster_scope:
        parts = [problem.runbook_id, s.cluster or "", "", "", "", problem.broker or ""]
    elif s.group:
        # A consumer group's problem is the group's, whichever topic an alert names:
        # kafka_exporter labels lag per topic, the watch per group.
        parts = [problem.runbook_id, s.cluster or "", s.group, "", ""]
    elif s.topic or s.queue:
        parts = [problem.runbook_id, s.cluster or "", "", s.topic or "", s.queue or ""]
    else:
        return None
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def decide(problem: Problem, claimed_by: int | None, roots: Iterable[Root], now: float, window_s: float) -> Decision:
    """`claimed_by`: the open incident holding the problem's claim key, if any;
    `roots`: open cluster-level incidents (any cluster); `window_s` 0 disables attaching."""
    if claimed_by is not None:
        return Decision("join", claimed_by)
    if problem.attaches and not problem.cluster_scope and window_s > 0:
        fits = [r for r in roots if r.cluster == problem.subject.cluster and 0 <= now - r.created_at <= window_s
                and (r.broker is None or problem.broker is None or r.broker == problem.broker)]
        if fits:
            return Decision("attach", min(fits, key=lambda r: (r.created_at, r.incident_id)).incident_id)
    return Decision("open")


# ---------------------------------------------------------------- in words

def what(subject: Subject) -> str:
    """The subject without its cluster (the incident it is listed on names that)."""
    parts = [f"{name} `{escape(value)}`" for name, value in (("group", subject.group), ("topic", subject.topic),
                                                              ("queue", subject.queue)) if value]
    if not parts:
        return f"cluster `{escape(subject.cluster)}`" if subject.cluster else "no subject named"
    return parts[0] + (f" ({', '.join(parts[1:])})" if parts[1:] else "")


def word(runbook_id: str) -> str:
    return WORDS.get(runbook_id, runbook_id)


def value_of(labels: dict[str, str], annotations: dict[str, str]) -> str | None:
    """The number an alert reports, when it says one (an annotation or label `value`)."""
    raw = (annotations.get("value") or labels.get("value") or "").strip()
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        return raw[:40]
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


@dataclass(frozen=True)
class Affected:
    """A subject an incident stands for besides its own, as its card lists it."""

    kind: Literal["attached", "merged"]
    runbook_id: str
    subject: Subject
    detail: str | None = None
    from_ref: str | None = None
    title: str = ""
    firing: int = 0
    resolved: int = 0

    @property
    def state(self) -> str:
        if self.firing:
            return ":rotating_light: firing"
        if self.resolved:
            return ":white_check_mark: resolved"
        return "no alert"

    def line(self) -> str:
        """In the core's markup: "lag on group `orders` (12,400): firing"."""
        head = f"{word(self.runbook_id)} on {what(self.subject)}"
        if self.detail:
            head += f" ({escape(self.detail)})"
        if self.kind == "merged":
            head = f"{self.from_ref or 'an incident'} merged ({escape(self.title)}): {head}"
        return f"{head}: {self.state}"


def attached_sentence(runbook_id: str, subject: Subject, detail: str | None) -> str:
    value = f" ({escape(detail)})" if detail else ""
    return f":link: Attached: {word(runbook_id)} on {what(subject)}{value} — likely the same cause."


# ---------------------------------------------------------------- naming a subject (/incident split)

_NAMED = re.compile(r"^(group|topic|queue):(.+)$", re.IGNORECASE)


def parse_subject(text: str) -> tuple[str | None, str]:
    """`group:orders` → ("group", "orders"); a plain name → (None, name)."""
    text = text.strip()
    found = _NAMED.match(text)
    if found:
        return found.group(1).lower(), found.group(2).strip()
    return None, text


def matching(subjects: Iterable[tuple[int, Subject]], field: str | None, name: str) -> list[int]:
    """The ids of the subjects `field:name` (or a plain name: any field) names."""
    fields = [field] if field else list(SUBJECT_FIELDS)
    return [sid for sid, s in subjects if any(getattr(s, f) == name for f in fields)]
