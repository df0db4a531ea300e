"""The one flag parser (commands.args) as tables: each shape of option, quoting, and
the sentence a person gets for each mistake. No broker, no database."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field, model_validator

from commands import args
from commands.base import UsageError

USAGE = "/demo [group] [topic] [--cluster NAME] [--chart] [--sample N] [--tag T]..."


class Demo(BaseModel):
    group: str | None = None
    topic: str | None = None
    cluster: str | None = None
    chart: bool = False
    sample: int | None = Field(None, ge=1, le=100)
    tag: list[str] = Field(default_factory=list)


def demo(text: str) -> Demo:
    return args.parse(text, Demo, positional=["group", "topic"], usage=USAGE)


PARSED: list[tuple[str, dict[str, Any]]] = [
    ("", {}),
    ("billing", {"group": "billing"}),
    ("billing orders", {"group": "billing", "topic": "orders"}),
    ("--group billing", {"group": "billing"}),  # a positional may be named, as Kafka's tools allow
    ("billing --chart", {"group": "billing", "chart": True}),
    ("--chart billing", {"group": "billing", "chart": True}),  # a switch does not swallow the next word
    ("--cluster prod billing", {"group": "billing", "cluster": "prod"}),
    ("--cluster=prod", {"cluster": "prod"}),
    ("--cluster=", {"cluster": ""}),
    ("--cluster a --cluster b", {"cluster": "b"}),  # one value: the last one wins
    ("--sample 5", {"sample": 5}),
    ("--tag a --tag=b --tag a", {"tag": ["a", "b", "a"]}),  # repeated: every value, in order
    ("'two words' \"and more\"", {"group": "two words", "topic": "and more"}),
    ("--cluster 'my cluster'", {"cluster": "my cluster"}),
    ("--cluster -5", {"cluster": "-5"}),  # a value may start with a dash
]


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[t or "(empty)" for t, _ in PARSED])
def test_each_shape_of_option(text: str, expected: dict[str, Any]) -> None:
    assert demo(text).model_dump(exclude_defaults=True) == expected


ERRORS = [
    ("a b c", "Too many arguments: `c`. Usage: `{usage}`"),
    ("--nope 1", "Unknown option `--nope`. Options: --group, --topic, --cluster, --chart, --sample, --tag. "
                 "Usage: `{usage}`"),
    ("--cluster", "`--cluster` needs a value. Usage: `{usage}`"),
    ("billing --tag", "`--tag` needs a value. Usage: `{usage}`"),
    ("--chart=yes", "`--chart` is a switch: it takes no value. Usage: `{usage}`"),
    ("--sample 0", "`--sample`: Input should be greater than or equal to 1. Usage: `{usage}`"),
    ("--sample many", "`--sample`: Input should be a valid integer, unable to parse string as an integer. "
                      "Usage: `{usage}`"),
    ("'unclosed", "I could not read that: No closing quotation. Close your quotes and try again."),
]


@pytest.mark.parametrize(("text", "told"), ERRORS, ids=[t for t, _ in ERRORS])
def test_mistakes_are_sentences_with_the_usage(text: str, told: str) -> None:
    with pytest.raises(UsageError) as caught:
        demo(text)
    assert str(caught.value) == told.format(usage=USAGE)


class Open(BaseModel):
    title: str = Field(min_length=3)
    severity: str = "warning"


@pytest.mark.parametrize(("text", "title", "severity"), [
    ("Orders are late", "Orders are late", "warning"),
    ("Orders --severity critical are late", "Orders are late", "critical"),
])
def test_rest_takes_the_words_left_over(text: str, title: str, severity: str) -> None:
    a = args.parse(text, Open, rest="title", usage="/incident open <title>")
    assert (a.title, a.severity) == (title, severity)


def test_rest_is_no_option_and_is_validated() -> None:
    with pytest.raises(UsageError, match=r"^Unknown option `--title`. Options: --severity\."):
        args.parse("x --title y", Open, rest="title", usage="u")
    with pytest.raises(UsageError, match=r"^`title`: String should have at least 3 characters. Usage: `u`$"):
        args.parse("ab", Open, rest="title", usage="u")


class Pair(BaseModel):
    low: int = 0
    high: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> Pair:
        if self.low > self.high:
            raise ValueError("--low must not be above --high")
        return self


def test_a_check_of_the_whole_model_reads_as_a_sentence() -> None:
    with pytest.raises(UsageError) as caught:
        args.parse("--low 3 --high 1", Pair, usage="u")
    assert str(caught.value) == "--low must not be above --high. Usage: `u`"


class Common(BaseModel):
    cluster: str | None = None
    incident: str | None = None
    words: str = ""


@pytest.mark.parametrize(("text", "cluster", "incident", "words"), [
    ("g --topic t --cluster prod --to-earliest", "prod", None, ["g", "--topic", "t", "--to-earliest"]),
    ("x --pattern 'Timeout upstream' --incident INC-2026-0001", None, "INC-2026-0001",
     ["x", "--pattern", "Timeout upstream"]),
    ("--cluster=prod", "prod", None, []),
    ("x --pattern \"it's \\\"quoted\\\"\"", None, None, ["x", "--pattern", "it's \"quoted\""]),
])
def test_others_hands_the_unknown_words_on_intact(text: str, cluster: str | None, incident: str | None,
                                                  words: list[str]) -> None:
    a = args.parse(text, Common, others="words", usage="u")
    assert (a.cluster, a.incident) == (cluster, incident)
    assert args.split(a.words) == words  # the action's own parser reads exactly what was typed


def test_others_cannot_be_combined_with_positional_words() -> None:
    with pytest.raises(ValueError):
        args.parse("x", Common, others="words", positional=["cluster"], usage="u")


def test_not_found_suggests_close_names() -> None:
    assert str(args.not_found("runbook", "dlq-fill", ["dlq-filling", "high-consumer-lag"])) == \
        "No runbook named `dlq-fill`. Did you mean `dlq-filling`?"
    assert str(args.not_found("runbook", "zzz", ["dlq-filling"])) == "No runbook named `zzz`."
