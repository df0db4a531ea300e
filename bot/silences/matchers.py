"""Label matchers as Alertmanager writes them, subject shorthands, and durations: what
`/silence` reads and what a silence holds. Pure functions.

Alertmanager's rules: `=` and `!=` compare exactly, `=~` and `!~` match a regular
expression against the whole value (anchored), and a label an alert does not carry
counts as the empty string. A silence must have one matcher that the empty string
does not satisfy, or it would silence every alert.

A subject shorthand (`group:orders-svc`, `topic:…`, `queue:…`, `cluster:…`,
`broker:1`) names what an alert is about under any of the label names exporters give
it (`consumergroup`, `group_id`… as bot.alerts.label_rules knows them); `group:~orders-.*`
takes a regular expression. A `cluster:` shorthand for the default cluster also matches
alerts that name no cluster, since their incidents check the default cluster.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel

from bot.alerts.label_rules import CLUSTER_LABELS, GROUP_LABELS, QUEUE_LABELS, TOPIC_LABELS
from bot.text import duration_text, parse_duration

Op = Literal["=", "!=", "=~", "!~"]
SUBJECT_LABELS: dict[str, tuple[str, ...]] = {
    "group": GROUP_LABELS, "topic": TOPIC_LABELS, "queue": QUEUE_LABELS, "cluster": CLUSTER_LABELS,
    "broker": ("broker", "broker_id"),
}
_LABEL = re.compile(r"^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)(.*)$", re.S)
_SUBJECT = re.compile(rf"^({'|'.join(SUBJECT_LABELS)}):(.+)$", re.S)
_PLAIN = re.compile(r"^[A-Za-z0-9_.:/@-]+$")
EXAMPLES = ("`alertname=KafkaConsumerLagHigh`, `consumergroup=~\"orders-.*\"`, `severity!=info`, "
            "`group:orders-svc`, `topic:…`, `queue:…`, `cluster:…`, `broker:1`")


class MatcherError(ValueError):
    """Bad matcher or duration text; the message is shown to the person as it is."""


class Matcher(BaseModel):
    """One label test. `subject` names a shorthand kind (group, topic, …) instead of a
    label; `absent_ok` lets a cluster shorthand match alerts that name no cluster."""

    name: str
    op: Op = "="
    value: str
    subject: bool = False
    absent_ok: bool = False

    @property
    def regex(self) -> bool:
        return self.op in ("=~", "!~")

    def value_of(self, labels: dict[str, str]) -> str | None:
        """The value this matcher tests: the label, or the first alias a subject uses."""
        names = SUBJECT_LABELS[self.name] if self.subject else (self.name,)
        return next((labels[n] for n in names if labels.get(n)), None)

    def test(self, value: str) -> bool:
        if self.regex:
            found = _compiled(self.value).fullmatch(value) is not None
            return found if self.op == "=~" else not found
        return (value == self.value) if self.op == "=" else (value != self.value)

    def matches(self, labels: dict[str, str]) -> bool:
        value = self.value_of(labels)
        if value is None and self.absent_ok:
            return True
        return self.test(value or "")

    def text(self) -> str:
        """As a person would type it."""
        if self.subject:
            return f"{self.name}:{'~' if self.regex else ''}{self.value}"
        shown = self.value if _PLAIN.match(self.value) and not self.regex else _quote(self.value)
        return f"{self.name}{self.op}{shown}"


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def match(matchers: Sequence[Matcher], labels: dict[str, str]) -> bool:
    """Every matcher holds (Alertmanager: a silence's matchers are ANDed)."""
    return all(m.matches(labels) for m in matchers)


def describe(matchers: Sequence[Matcher]) -> str:
    return " ".join(m.text() for m in matchers)


def parse_matcher(word: str, *, default_cluster: str | None = None) -> Matcher:
    """One word: `label<op>value` or `kind:value`. Surrounding braces, commas and
    quotes (Alertmanager's `{a="b", c=~"d"}`) are taken off."""
    word = word.strip().strip("{},").strip()
    found = _LABEL.match(word)
    if found:
        name, op, value = found.group(1), found.group(2), _unquote(found.group(3).strip())
        matcher = Matcher(name=name, op=op, value=value)  # type: ignore[arg-type]
    else:
        found = _SUBJECT.match(word)
        if not found:
            raise MatcherError(f"`{word}` is not a matcher. Write `label=value`, `label!=value`, `label=~regex`, "
                               f"`label!~regex`, or a subject such as `group:NAME`; for example {EXAMPLES}.")
        kind, value = found.group(1), _unquote(found.group(2).strip())
        regex = value.startswith("~")
        value = value[1:] if regex else value
        matcher = Matcher(name=kind, op="=~" if regex else "=", value=value, subject=True,
                          absent_ok=kind == "cluster" and not regex and value == default_cluster)
    if matcher.regex:
        try:
            _compiled(matcher.value)
        except re.error as exc:
            raise MatcherError(f"`{word}`: `{matcher.value}` is not a valid regular expression ({exc}).") from None
    if not matcher.value and matcher.subject:
        raise MatcherError(f"`{word}` names no {matcher.name}.")
    return matcher


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        # Only \" and \\ are escapes; a regular expression's \w or \. is kept as written.
        return re.sub(r'\\([\\"])', r"\1", inner) if value[0] == '"' else inner
    return value


def check(matchers: Sequence[Matcher]) -> None:
    """Alertmanager's rule: one matcher at least must fail on an alert without labels."""
    if not matchers:
        raise MatcherError(f"Say what to silence: one matcher at least, such as {EXAMPLES}.")
    if all(m.test("") for m in matchers):
        raise MatcherError(f"`{describe(matchers)}` would match every alert (each matcher accepts an empty value). "
                           "Add a matcher that names something, such as `alertname=…` or `group:…`.")


def looks_like_duration(word: str) -> bool:
    return bool(re.fullmatch(r"\d+[a-zA-Z]+|\d+", word))


def parse_silence(words: Sequence[str], *, max_seconds: float,
                  default_cluster: str | None = None) -> tuple[list[Matcher], float, str]:
    """`<matchers> <duration> <reason>` into matchers, seconds and the reason."""
    matchers: list[Matcher] = []
    seconds: float | None = None
    rest: list[str] = []
    for i, word in enumerate(words):
        if word.strip("{},") == "":
            continue
        seconds = parse_duration(word)
        if seconds is not None:
            rest = list(words[i + 1:])
            break
        if looks_like_duration(word):
            raise MatcherError(f"`{word}` is not a duration: write it as 30m, 2h, 1d or 1h30m.")
        if matchers and not _LABEL.match(word.strip("{},")) and not _SUBJECT.match(word.strip("{},")):
            raise MatcherError(f"`{word}` is neither a matcher nor a duration: after the matchers comes how long, "
                               "such as 30m, 2h or 1d, then the reason.")
        matchers.append(parse_matcher(word, default_cluster=default_cluster))
    check(matchers)
    if seconds is None:
        raise MatcherError("How long? Give a duration after the matchers, such as 30m, 2h or 1d.")
    check_duration(seconds, max_seconds)
    reason = " ".join(rest).strip()
    if not reason:
        raise MatcherError("Why? A silence needs a reason after its duration, for whoever wonders where "
                           "the alerts went.")
    return matchers, seconds, reason


def check_duration(seconds: float, max_seconds: float) -> None:
    if seconds <= 0:
        raise MatcherError("The duration must be longer than zero.")
    if seconds > max_seconds:
        raise MatcherError(f"{duration_text(seconds)} is longer than the longest allowed "
                           f"({duration_text(max_seconds)}, `silences.max_duration_hours`).")
